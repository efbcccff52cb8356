package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"testimony/crypto"
)

// The load figures of BENCHMARKS.md (issue 8): the real testimonyd,
// built with go build, serving on loopback, driven by a Go load generator
// in this process.
//
//   - BenchmarkLoad/rate=N: 4 KiB witness testimonies (to three hybrid
//     recipients: an enrolled investigator and two escrow keys) offered at
//     a fixed rate, open loop — each request is launched at its scheduled
//     time whatever the earlier ones are doing, and its latency counts from
//     that scheduled time, so a server that falls behind shows it in the
//     tail instead of slowing the generator down. Reports the achieved
//     rate, p50 and p99 latency and the errors.
//   - BenchmarkUploadRSS: one 1 GiB attachment streamed from a generator
//     (no file) as a chunked multipart body; reports the server's peak
//     resident memory (VmHWM) and the upload's throughput.
//
// Each runs once whatever b.N (a fixed-length load test, not a loop), so
// ns/op is the wall time per request, not a figure to compare.

// loadDuration is how long each rate is offered: 10 s, or
// TESTIMONY_LOAD_SECONDS for a quick look.
var loadDuration = func() time.Duration {
	if v, err := strconv.Atoi(os.Getenv("TESTIMONY_LOAD_SECONDS")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 10 * time.Second
}()

// startLoadServer initialises a data directory, enrols an investigator
// with a hybrid key, and serves it with two more hybrid escrow keys and
// the given extra flags, at the log level a deployment has.
func startLoadServer(b *testing.B, extra ...string) *daemon {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "data")
	if r := runBin(b, "init", "--data", dir); r.code != 0 {
		b.Fatalf("init: %s", r.stderr)
	}
	var keys []string
	for range 3 {
		id, err := crypto.GenerateIdentity(false)
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, id.Recipient)
	}
	r := runBin(b, "investigator", "add", "bench", "--recipient", keys[0], "--json", "--data", dir)
	if r.code != 0 {
		b.Fatalf("investigator add: %s", r.stderr)
	}
	var enrol struct{ Recipient string }
	if err := json.Unmarshal([]byte(r.stdout), &enrol); err != nil || enrol.Recipient != keys[0] {
		b.Fatalf("investigator add --json: %v %q", err, r.stdout)
	}
	return startServe(b, dir, nil, append([]string{"--log-level", "info", "--escrow-recipients", keys[1] + "," + keys[2]}, extra...)...)
}

// procStatus returns a field of /proc/PID/status in KiB (VmHWM, VmRSS).
func procStatus(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// testimony4KiB is a valid submission of the default questionnaire whose
// free-text account makes the multipart body exactly 4 KiB.
func testimony4KiB() (string, []byte) {
	text := strings.Repeat("We were held in a hangar for nine days, then put on a charter flight in restraints. ", 60)
	build := func(n int) (string, []byte) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.SetBoundary("testimony-load-boundary")
		for _, kv := range [][2]string{
			{"lang", "en"}, {"role", "self"}, {"facility", "A county detention centre"},
			{"detention_from", "2025-03"}, {"detention_to", "2025-08-20"}, {"conditions", "overcrowding"},
			{"deport_date", "2025-08-27"}, {"depart_airport", "Alexandria"}, {"transit_country", "Egypt"},
			{"arrival_airport", "Moscow"}, {"flight_treatment", "shackled"}, {"arrival_questioned", "unsure"},
			{"account", text[:n]}, {"consent_use", "statistics_only"}, {"contact", "codename_only"},
		} {
			mw.WriteField(kv[0], kv[1])
		}
		mw.Close()
		return mw.FormDataContentType(), b.Bytes()
	}
	_, probe := build(0)
	return build(4096 - len(probe))
}

// percentile returns the p-th percentile (0–100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

// BenchmarkLoad offers 4 KiB submissions at 100/s and 500/s for
// loadDuration each, open loop, to one running server.
func BenchmarkLoad(b *testing.B) {
	s := startLoadServer(b)
	ct, body := testimony4KiB()
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, IdleConnTimeout: time.Minute},
		Timeout:   time.Minute,
	}
	post := func() error {
		req, _ := http.NewRequest("POST", s.witness+"/submit", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`id="codename"`)) {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	}
	// Warm up: the first page parses templates, connections open.
	for range 20 {
		if err := post(); err != nil {
			b.Fatalf("a submission was refused: %v\n%s", err, s.Out.String())
		}
	}
	for _, rate := range []int{100, 500} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			n := int(float64(rate) * loadDuration.Seconds())
			interval := time.Second / time.Duration(rate)
			lat := make([]time.Duration, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := time.Now()
			for i := range n {
				at := start.Add(time.Duration(i) * interval)
				time.Sleep(time.Until(at))
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = post()
					lat[i] = time.Since(at) // from the scheduled time: no coordinated omission
				}()
			}
			launched := time.Since(start)
			wg.Wait()
			elapsed := time.Since(start)
			var ok []time.Duration
			nerr := 0
			var firstErr error
			for i := range n {
				if errs[i] != nil {
					nerr++
					firstErr = cmpErr(firstErr, errs[i])
					continue
				}
				ok = append(ok, lat[i])
			}
			slices.Sort(ok)
			if nerr > 0 {
				b.Logf("%d of %d submissions failed, the first: %v", nerr, n, firstErr)
			}
			b.ReportMetric(float64(rate), "offered-rps")
			b.ReportMetric(float64(len(ok))/elapsed.Seconds(), "achieved-rps")
			b.ReportMetric(float64(n)/launched.Seconds(), "launched-rps")
			b.ReportMetric(float64(percentile(ok, 50))/1e6, "p50-ms")
			b.ReportMetric(float64(percentile(ok, 99))/1e6, "p99-ms")
			b.ReportMetric(float64(nerr), "errors")
			b.ReportMetric(float64(elapsed)/float64(n), "ns/op")
		})
	}
	if vm, err := procStatus(s.Pid(), "VmHWM"); err == nil {
		b.Logf("server peak RSS after the load runs: %d MiB", vm>>10)
	}
}

func cmpErr(first, e error) error {
	if first != nil {
		return first
	}
	return e
}

// uploadSize is the attachment of BenchmarkUploadRSS.
const uploadSize = 1 << 30

// multipartStream writes a submission with one file of size bytes, made
// on the fly from a 1 MiB random block, to w, and closes it.
func multipartStream(w *io.PipeWriter, mw *multipart.Writer, size int64) {
	for _, kv := range [][2]string{{"lang", "en"}, {"role", "self"}, {"account", "A video of the boarding, from the tarmac."}, {"consent_use", "statistics_only"}} {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			w.CloseWithError(err)
			return
		}
	}
	fw, err := mw.CreateFormFile("files", "boarding.mp4")
	if err != nil {
		w.CloseWithError(err)
		return
	}
	block := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{8})
	rng.Read(block)
	for left := size; left > 0; {
		n := min(left, int64(len(block)))
		if _, err := fw.Write(block[:n]); err != nil {
			w.CloseWithError(err)
			return
		}
		block[0]++ // no two blocks alike
		left -= n
	}
	w.CloseWithError(mw.Close())
}

// BenchmarkUploadRSS streams one 1 GiB attachment to a fresh server and
// reports its peak resident memory.
func BenchmarkUploadRSS(b *testing.B) {
	s := startLoadServer(b, "--max-upload-mb", "1100", "--max-file-mb", "1100")
	pid := s.Pid()
	idle, err := procStatus(pid, "VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	// VmHWM counts the pages of the database file that bbolt's read-only
	// mmap has touched (RssFile: page cache, shared and reclaimable) as
	// well as the process's own memory (RssAnon: heap, stacks). Both are
	// sampled as the upload runs, to tell them apart.
	stop := make(chan struct{})
	var maxRSS, maxAnon, maxFile int64
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := procStatus(pid, "VmRSS"); err == nil {
				maxRSS = max(maxRSS, v)
			}
			if v, err := procStatus(pid, "RssAnon"); err == nil {
				maxAnon = max(maxAnon, v)
			}
			if v, err := procStatus(pid, "RssFile"); err == nil {
				maxFile = max(maxFile, v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go multipartStream(pw, mw, uploadSize)
	req, _ := http.NewRequest("POST", s.witness+"/submit", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	start := time.Now()
	res, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		b.Fatalf("upload: %v\n%s", err, s.Out.String())
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	elapsed := time.Since(start)
	close(stop)
	sampler.Wait()
	if res.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`id="codename"`)) {
		b.Fatalf("upload: status %d\n%.2000s", res.StatusCode, page)
	}
	peak, err := procStatus(pid, "VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
	b.ReportMetric(float64(idle)/1024, "idle-RSS-MiB")
	b.ReportMetric(float64(maxRSS)/1024, "sampled-RSS-MiB")
	b.ReportMetric(float64(maxAnon)/1024, "sampled-anon-MiB")
	b.ReportMetric(float64(maxFile)/1024, "sampled-file-MiB")
	b.ReportMetric(float64(uploadSize)/1e6/elapsed.Seconds(), "MB/s")
	b.ReportMetric(float64(elapsed), "ns/op")
}
