package investigator

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"testimony/store"
)

// BenchmarkBundleDownload: a bundle of 1,000 items of 4 KiB, downloaded
// through the investigator site on loopback (ours), against streaming the
// same items straight from the store to io.Discard (baseline). Target:
// ours at least half the baseline's rate.
func BenchmarkBundleDownload(b *testing.B) {
	e := newInvEnv(b, Config{})
	alice := e.addInvestigator("alice")
	const n, size = 1000, 4 << 10
	ids := make([]string, n)
	buf := make([]byte, size)
	for i := range ids {
		rand.Read(buf)
		w := e.db.NewItem()
		w.Write(buf)
		it, err := w.Commit(store.Item{Kind: "submission", Day: "2026-11-28", Source: src1, Recipients: "0"})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = it.ID
	}
	total := int64(n * size)

	b.Run("baseline", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			for _, id := range ids {
				_, r, err := e.db.Open(id)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
			}
		}
	})

	c := e.client()
	c.loginReady(alice)
	cookie := c.cookie
	form := url.Values{"scope": {"all"}}.Encode()
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			req, _ := http.NewRequest("POST", e.ts.URL+"/bundle", strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(cookie)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			got, err := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != http.StatusOK || got < total {
				b.Fatalf("bundle: %d, %d bytes, %v", res.StatusCode, got, err)
			}
		}
	})
}

// TestTailHolder: what passes through is the input, in pieces of at least
// hold bytes, and the last hold bytes wait for Release.
func TestTailHolder(t *testing.T) {
	var out writesRecorder
	th := &tailHolder{w: &out, hold: 1000}
	var in []byte
	for i := range 300 {
		p := make([]byte, (i*37)%700)
		rand.Read(p)
		th.Write(p)
		in = append(in, p...)
		if got := out.n(); got > 0 && len(in)-got < th.hold {
			t.Fatalf("after %d bytes, %d went out: less than %d held back", len(in), got, th.hold)
		}
	}
	for _, w := range out.writes {
		if len(w) < th.hold {
			t.Fatalf("a piece of %d bytes", len(w))
		}
	}
	th.Release()
	if !bytes.Equal(out.all(), in) {
		t.Fatal("output differs from input")
	}
}

type writesRecorder struct{ writes [][]byte }

func (w *writesRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func (w *writesRecorder) n() int { return len(w.all()) }

func (w *writesRecorder) all() []byte { return bytes.Join(w.writes, nil) }
