package witness

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"testimony/crypto"
)

// benchParallelism makes RunParallel run 32 goroutines on this machine's
// cores, as 32 concurrent witnesses.
func benchParallelism(b *testing.B) {
	b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
}

// BenchmarkSubmit4KiB compares a whole submission of a 4 KiB text
// testimony (multipart POST over loopback, streaming, envelope to three
// hybrid recipients, source record and item committed with fsync, receipt
// page) with a bare age.Encrypt of the same 4 KiB to the same recipients,
// both at 32 concurrent goroutines.
func BenchmarkSubmit4KiB(b *testing.B) {
	text := submitText()
	b.Run("baseline", func(b *testing.B) { benchBareEncrypt(b, text) })
	b.Run("ours", func(b *testing.B) {
		e := newWitEnv(b, Config{})
		benchPost(b, e.ts.URL+"/submit", text)
		b.StopTimer()
		if n := len(e.items(crypto.KindSubmission)); n != b.N {
			b.Fatalf("%d items for %d submissions", n, b.N)
		}
	})
}

// BenchmarkSubmitBareHTTP is the ceiling of BenchmarkSubmit4KiB on this
// machine: the same client and body, posted to a bare net/http handler
// that streams the multipart body into age.Encrypt to io.Discard (no
// questionnaire, store, codename or page), against the same bare
// age.Encrypt. The client runs on the same cores as the server, and the
// baseline has no client, so even this handler stays well under 1.
func BenchmarkSubmitBareHTTP(b *testing.B) {
	text := submitText()
	rcpts := benchRecipients(b)
	b.Run("baseline", func(b *testing.B) { benchBareEncrypt(b, text) })
	b.Run("ours", func(b *testing.B) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			aw, err := age.Encrypt(io.Discard, rcpts...)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			if err := copyParts(r, aw); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			if err := aw.Close(); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			io.WriteString(w, "ok")
		}))
		defer ts.Close()
		benchPost(b, ts.URL, text)
	})
}

// copyParts streams every part of a multipart request body into dst: the
// bare handlers of the baselines.
func copyParts(r *http.Request, dst io.Writer) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return err
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := io.Copy(dst, p); err != nil {
			return err
		}
	}
}

// submitText is a 4 KiB account in Russian, a whole number of runes.
func submitText() string {
	return strings.ToValidUTF8(strings.Repeat("Они надели на нас кандалы. ", 200)[:4096], "")
}

// benchRecipients are three new hybrid recipients.
func benchRecipients(b *testing.B) []age.Recipient {
	var rcpts []age.Recipient
	for range 3 {
		id, _ := crypto.GenerateIdentity(false)
		r, err := age.ParseHybridRecipient(id.Recipient)
		if err != nil {
			b.Fatal(err)
		}
		rcpts = append(rcpts, r)
	}
	return rcpts
}

// benchBareEncrypt is the baseline of the submit benchmarks: age.Encrypt
// of text to three hybrid recipients, from 32 goroutines.
func benchBareEncrypt(b *testing.B, text string) {
	rcpts := benchRecipients(b)
	b.SetBytes(4096)
	benchParallelism(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var buf bytes.Buffer
		for pb.Next() {
			buf.Reset()
			w, err := age.Encrypt(&buf, rcpts...)
			if err != nil {
				b.Fatal(err)
			}
			io.WriteString(w, text)
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchPost posts the form of a 4 KiB account to url from 32 goroutines,
// each over its own kept-alive connection.
func benchPost(b *testing.B, url, text string) {
	ct, body := multipartBody(b, part{name: "lang", body: "ru"}, part{name: "role", body: "self"}, part{name: "account", body: text})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	b.SetBytes(4096)
	benchParallelism(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Post(url, ct, bytes.NewReader(body))
			drainOK(b, res, err)
		}
	})
}

// drainOK reads and closes a response, which must be a 200.
func drainOK(b *testing.B, res *http.Response, err error) {
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		b.Fatalf("status %d", res.StatusCode)
	}
}

// upload1GiB posts a generated multipart body with one 1 GiB file.
func upload1GiB(b *testing.B, url string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("account", "one GiB")
		w, _ := mw.CreateFormFile("files", "video.mp4")
		if _, err := io.Copy(w, patternReader(2, 1<<30)); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(mw.Close())
	}()
	res, err := http.Post(url, mw.FormDataContentType(), pr)
	drainOK(b, res, err)
}

// heapPeak samples the live heap, and the anonymous resident memory of
// the process (heap, stacks, runtime), until stopped.
type heapPeak struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
	anon int64
}

func startHeapPeak() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	h.wg.Go(func() {
		for {
			metrics.Read(s)
			h.peak = max(h.peak, s[0].Value.Uint64())
			if v, err := procStatus(os.Getpid(), "RssAnon"); err == nil {
				h.anon = max(h.anon, v)
			}
			select {
			case <-h.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return h
}

// report stops sampling and reports the peaks in MiB.
func (h *heapPeak) report(b *testing.B) {
	close(h.stop)
	h.wg.Wait()
	b.ReportMetric(float64(h.peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(h.anon)/(1<<20), "peak-anon-RSS-MiB")
}

// BenchmarkUpload1GiB compares the witness submit path with a bare Go
// handler that streams the same multipart body to io.Discard, and reports
// the peak live heap and anonymous RSS of the process (server and client
// together) while it runs.
func BenchmarkUpload1GiB(b *testing.B) {
	b.Run("baseline", func(b *testing.B) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := copyParts(r, io.Discard); err != nil {
				http.Error(w, err.Error(), 400)
			}
		}))
		defer ts.Close()
		b.SetBytes(1 << 30)
		runtime.GC()
		hp := startHeapPeak()
		b.ResetTimer()
		for range b.N {
			upload1GiB(b, ts.URL)
		}
		b.StopTimer()
		hp.report(b)
	})
	b.Run("ours", func(b *testing.B) {
		e := newWitEnv(b, Config{MaxUpload: 2 << 30})
		b.SetBytes(1 << 30)
		runtime.GC()
		hp := startHeapPeak()
		b.ResetTimer()
		for range b.N {
			upload1GiB(b, e.ts.URL+"/submit")
		}
		b.StopTimer()
		hp.report(b)
		if n := len(e.items(crypto.KindSubmission)); n != b.N {
			b.Fatalf("%d items for %d uploads", n, b.N)
		}
	})
}

// BenchmarkCodenameLogin measures the work of the thread page for a right
// codename (with no reply, and with one) and a wrong one, without the
// time floor (lim.threadFloor) that hides their difference from a client.
func BenchmarkCodenameLogin(b *testing.B) {
	e := newWitEnv(b, Config{})
	e.s.lim.threadFloor = 0
	var codenames []string
	for range 2 {
		_, page := e.submit(fullTestimony("bench")...)
		codenames = append(codenames, codenameOf(b, page))
	}
	e.plantReply(codenames[1], "a reply")
	wrong, _ := crypto.NewCodename()
	for _, c := range []struct{ name, codename string }{
		{"right-no-reply", codenames[0]},
		{"right-one-reply", codenames[1]},
		{"wrong", wrong},
	} {
		body := "codename=" + strings.ReplaceAll(c.codename, " ", "+")
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				res, err := e.ts.Client().Post(e.ts.URL+"/thread", "application/x-www-form-urlencoded", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatal(res.StatusCode)
				}
			}
		})
	}
}
