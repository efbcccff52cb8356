package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/internal/testutil"
)

// BenchmarkOpenBundle compares opening a bundle of 64 items of 1 MiB with
// our code (into a fresh folder, every check included) to the stock age
// CLI decrypting the same items, one process per item as a user would.
// Target (issue 2): ours at least 70% of the baseline's throughput.
// TESTIMONY_BENCH_ITEMS=1024 makes it the 1 GiB bundle of issue 7; the
// peak heap during "ours" is reported, to show memory stays flat.
func BenchmarkOpenBundle(b *testing.B) {
	const size = 1 << 20
	items := 64
	if n, err := strconv.Atoi(os.Getenv("TESTIMONY_BENCH_ITEMS")); err == nil && n > 0 {
		items = n
	}
	dir := b.TempDir()
	ageBin := testutil.Age(b)
	id, err := crypto.GenerateIdentity(false)
	if err != nil {
		b.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.txt")
	f, err := os.Create(keyFile)
	if err != nil {
		b.Fatal(err)
	}
	crypto.WriteIdentityFile(f, id, "2026-11-28T00:00:00Z")
	f.Close()
	rs, err := crypto.NewRecipients("bench", id.Recipient)
	if err != nil {
		b.Fatal(err)
	}
	var specs []*itemSpec
	for i := range items {
		data := make([]byte, size)
		rand.Read(data)
		specs = append(specs, &itemSpec{Day: "2026-03-01", Source: fmt.Sprintf("src-%02d", i%8),
			Answers:     map[string]crypto.Answer{"role": crypto.TextAnswer("deportee")},
			Attachments: []attachmentSpec{{Name: "video.mp4", Text: string(data)}}})
	}
	bundle := filepath.Join(dir, "bundle.tar")
	if err := writeBundle(bundle, specs, func(*itemSpec) (*crypto.Recipients, error) { return rs, nil }); err != nil {
		b.Fatal(err)
	}
	// The same items as files, for the stock CLI.
	var itemFiles []string
	var total int64
	bf, err := os.Open(bundle)
	if err != nil {
		b.Fatal(err)
	}
	tr := tar.NewReader(bf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, "items/") {
			continue
		}
		p := filepath.Join(dir, filepath.Base(h.Name))
		out, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(out, tr)
		out.Close()
		if err != nil {
			b.Fatal(err)
		}
		total += n
		itemFiles = append(itemFiles, p)
	}
	bf.Close()
	if len(itemFiles) != items {
		b.Fatalf("%d items in the bundle, want %d", len(itemFiles), items)
	}
	ids, err := readIdentities([]string{keyFile})
	if err != nil {
		b.Fatal(err)
	}

	b.Run("baseline", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			for _, p := range itemFiles {
				cmd := exec.Command(ageBin, "-d", "-i", keyFile, "-o", os.DevNull, p)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("age -d: %v\n%s", err, out)
				}
			}
		}
	})
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(total)
		stop := make(chan struct{})
		peak := make(chan uint64)
		go func() {
			var m runtime.MemStats
			var max uint64
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					peak <- max
					return
				case <-t.C:
					runtime.ReadMemStats(&m)
					if m.HeapInuse > max {
						max = m.HeapInuse
					}
				}
			}
		}()
		n := 0
		for b.Loop() {
			out := filepath.Join(dir, fmt.Sprintf("out-%d", n))
			n++
			res, err := openInto(ids, out, []string{bundle})
			if err != nil || res.opened != items || res.failed != 0 {
				b.Fatalf("open: %+v, %v", res, err)
			}
			b.StopTimer()
			os.RemoveAll(out)
			b.StartTimer()
		}
		close(stop)
		b.ReportMetric(float64(<-peak)/(1<<20), "peak-heap-MiB")
	})
}

// BenchmarkOpen30k opens a bundle of 30,000 testimonies (TESTIMONY_BENCH_CASES
// overrides the count) into a new folder: with cases.db (ours) against
// the same open without it (baseline): the SQLite export may at most
// double the time of an open. make bench runs it in its first round only.
func BenchmarkOpen30k(b *testing.B) {
	n := 30000
	if v, err := strconv.Atoi(os.Getenv("TESTIMONY_BENCH_CASES")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	id, err := crypto.GenerateIdentity(false)
	if err != nil {
		b.Fatal(err)
	}
	rs, err := crypto.NewRecipients("bench", id.Recipient)
	if err != nil {
		b.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.txt")
	f, err := os.Create(keyFile)
	if err != nil {
		b.Fatal(err)
	}
	crypto.WriteIdentityFile(f, id, "2026-11-28T00:00:00Z")
	f.Close()
	ids, err := readIdentities([]string{keyFile})
	if err != nil {
		b.Fatal(err)
	}
	facilities := []string{"Krome", "Adelanto", "Otay Mesa", "Eloy", "Stewart", "LaSalle", "Port Isabel", "Alexandria"}
	narrative := strings.Repeat("Нас везли в наручниках и кандалах, воды не давали. ", 30)
	var specs []*itemSpec
	for i := range n {
		specs = append(specs, &itemSpec{Day: fmt.Sprintf("2026-%02d-%02d", 1+i%12, 1+i%28), Lang: "ru",
			Source: fmt.Sprintf("src-%05d", i%(n/3+1)),
			Answers: map[string]crypto.Answer{
				"role":         crypto.TextAnswer("deportee"),
				"facility":     crypto.TextAnswer(facilities[i%len(facilities)]),
				"removal_date": crypto.TextAnswer(fmt.Sprintf("2025-%02d", 1+i%12)),
				"account":      crypto.TextAnswer(narrative),
			}})
	}
	bundle := filepath.Join(dir, "bundle.tar")
	if err := writeBundle(bundle, specs, func(*itemSpec) (*crypto.Recipients, error) { return rs, nil }); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, withDB bool) {
		k := 0
		for b.Loop() {
			out := filepath.Join(dir, fmt.Sprintf("out-%v-%d", withDB, k))
			k++
			res, err := openIntoOf(ids, out, []string{bundle}, withDB)
			if err != nil || res.opened != n || res.failed != 0 {
				b.Fatalf("open: %+v, %v", res, err)
			}
			b.StopTimer()
			os.RemoveAll(out)
			b.StartTimer()
		}
		b.ReportMetric(float64(n), "cases")
	}
	b.Run("baseline", func(b *testing.B) { run(b, false) })
	b.Run("ours", func(b *testing.B) { run(b, true) })
}

// BenchmarkReport10k times report over a case folder of 10,000
// submissions against just reading its testimonies.csv (issue 7: "report
// over 10,000 testimonies in under a few seconds", with that ratio).
func BenchmarkReport10k(b *testing.B) {
	const n = 10000
	dir := b.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	ds := generate(3, n)
	for i, s := range ds.specs[:n] {
		m, err := s.manifest()
		if err != nil {
			b.Fatal(err)
		}
		m.Format = crypto.Format
		m.Attachments = []crypto.Attachment{}
		id := fmt.Sprintf("%032x", i)
		folder := itemFolder(s.Source, m.Day, m.Kind, id)
		if err := root.MkdirAll(folder, 0o700); err != nil {
			b.Fatal(err)
		}
		mj, _ := json.Marshal(m)
		ij, _ := json.Marshal(itemInfo{ID: id, Source: s.Source, Kind: m.Kind, Day: m.Day})
		if err := root.WriteFile(folder+"/manifest.json", mj, 0o600); err != nil {
			b.Fatal(err)
		}
		if err := root.WriteFile(folder+"/item.json", ij, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	items, err := loadCases(root)
	if err != nil {
		b.Fatal(err)
	}
	var csvBuf bytes.Buffer
	if err := writeCSV(&csvBuf, items); err != nil {
		b.Fatal(err)
	}
	if err := replaceFile(root, "testimonies.csv", csvBuf.Bytes()); err != nil {
		b.Fatal(err)
	}
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			f, err := root.Open("testimonies.csv")
			if err != nil {
				b.Fatal(err)
			}
			rows, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
			f.Close()
			if err != nil || len(rows) != n+1 {
				b.Fatalf("%d rows, %v", len(rows), err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "testimonies/s")
	})
	b.Run("ours", func(b *testing.B) {
		for b.Loop() {
			items, err := loadCases(root)
			if err != nil || len(items) != n {
				b.Fatalf("%d items, %v", len(items), err)
			}
			a := analyse(items)
			var page bytes.Buffer
			if err := reportPage.Execute(&page, a); err != nil {
				b.Fatal(err)
			}
			if err := replaceFile(root, "report.html", page.Bytes()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "testimonies/s")
	})
}
