package jsstore

import (
	"io"
	"testing"

	"testimony/internal/testutil"
	"testimony/store"
)

// benchmarks on three local servers, R3, every write synced: the store's
// figures against bbolt's (store.BenchmarkStoreWrite4KiB).

func BenchmarkCommit4KiB(b *testing.B) {
	s := openTB(b, testutil.NATSCluster(b, 3), Options{})
	data := make([]byte, 4<<10)
	b.SetParallelism(8) // 8 × GOMAXPROCS writers
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := s.NewItem()
			w.Write(data)
			if _, err := w.Commit(store.Item{Kind: "submission"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkUpload64MiB(b *testing.B) {
	s := openTB(b, testutil.NATSCluster(b, 3), Options{})
	data := make([]byte, 1<<20)
	b.SetBytes(64 << 20)
	b.ResetTimer()
	for b.Loop() {
		w := s.NewItem()
		for range 64 {
			if _, err := w.Write(data); err != nil {
				b.Fatal(err)
			}
		}
		it, err := w.Commit(store.Item{Kind: "submission"})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Delete(it.ID)
		b.StartTimer()
	}
}

// BenchmarkRead20KiB reads a small item back, one at a time: a record and
// a chunk, each a request to the stream's leader.
func BenchmarkRead20KiB(b *testing.B) {
	s := openTB(b, testutil.NATSCluster(b, 3), Options{})
	w := s.NewItem()
	w.Write(make([]byte, 20<<10))
	it, err := w.Commit(store.Item{Kind: "submission"})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(it.Size)
	for b.Loop() {
		_, r, err := s.Open(it.ID)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
