package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkStoreWrite4KiB compares, in one run, one writer doing a plain
// bbolt Update per 4 KiB item (its record and its chunk, where the store
// keeps them), and 32 concurrent writers going through NewItem, Write and
// Commit, whose transactions Batch coalesces.
// One op is one item.
func BenchmarkStoreWrite4KiB(b *testing.B) {
	data := pattern(7, 4<<10)
	b.Run("baseline-1writer-update", func(b *testing.B) {
		db := openTemp(b, Options{})
		rec := Item{Kind: "submission", Day: "2026-08-27", Size: int64(len(data)), Chunks: 1, Recipients: "fp", Source: "src"}
		b.SetBytes(int64(len(data)))
		b.ResetTimer()
		for b.Loop() {
			id := newID()
			r := rec
			r.ID = fmt.Sprintf("%x", id)
			js, _ := json.Marshal(r)
			err := db.bolt.Update(func(tx *bolt.Tx) error {
				b := chunksBucket(tx, db.fill) // as the store fills it
				if err := b.Put(chunkKey(id, 0), data); err != nil {
					return err
				}
				return b.Put(id, js)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	})
	b.Run("ours-32writers", func(b *testing.B) {
		db := openTemp(b, Options{})
		b.SetBytes(int64(len(data)))
		// RunParallel starts parallelism × GOMAXPROCS goroutines.
		b.SetParallelism(max(1, 32/testingProcs()))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w := db.NewItem()
				if _, err := w.Write(data); err != nil {
					b.Error(err)
					return
				}
				if _, err := w.Commit(Item{Kind: "submission", Day: "2026-08-27", Recipients: "fp", Source: "src"}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
		b.ReportMetric(float64(testingProcs()*max(1, 32/testingProcs())), "writers")
	})
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }

// BenchmarkStoreWriteLarge writes one 256 MiB item, against a baseline of
// the same bytes written to a plain file with one fsync at the end: what
// the disk gives at best.
func BenchmarkStoreWriteLarge(b *testing.B) {
	const size = 256 << 20
	block := pattern(8, 64<<10)
	b.Run("baseline-file-fsync", func(b *testing.B) {
		dir := b.TempDir()
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
			if err != nil {
				b.Fatal(err)
			}
			for n := 0; n < size; n += len(block) {
				if _, err := f.Write(block); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("ours-item", func(b *testing.B) {
		db := openTemp(b, Options{})
		b.SetBytes(size)
		var commit time.Duration
		for b.Loop() {
			w := db.NewItem()
			for n := 0; n < size; n += len(block) {
				if _, err := w.Write(block); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			if _, err := w.Commit(Item{Kind: "submission"}); err != nil {
				b.Fatal(err)
			}
			commit += time.Since(start)
		}
		b.ReportMetric(float64(commit.Microseconds())/float64(b.N)/1000, "commit-ms")
	})
}
