// Command benchreport turns `go test -bench` output into BENCHMARKS.md.
//
// Each hot path is benchmarked as a pair of sub-benchmarks measured in the
// same run: BenchmarkX/baseline… (the yardstick named in the feature
// issue, e.g. a bare age.Encrypt) and BenchmarkX/ours…. The report gives
// each target of the feature issues with its figure, its baseline, the
// ratio and whether it is met; a target whose benchmark did not run says
// "no benchmark" rather than disappearing. When the output holds several
// runs of a pair (make bench runs the suite in rounds), the report takes
// the ratio of the medians. Then come the load figures of the real server
// (BenchmarkLoad, BenchmarkUploadRSS), every other pair, the raw output,
// the machine, and how to reproduce.
//
// Usage:
//
//	go test -run '^$' -bench . ./... | go run ./tools/benchreport -o BENCHMARKS.md
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A target is one promise of a feature issue.
type target struct {
	Issue string
	What  string
	Bench string // the benchmark (top-level name) that measures it
	// Ratio targets: ours/baseline throughput ≥ Min. With Against set,
	// the baseline is the "ours" of that other benchmark of the same runs.
	Min     float64
	Against string
	// Limit targets: the metric Metric of sub-benchmark Sub is ≤ Max (or
	// ≥ Max when AtLeast).
	Sub, Metric string
	Max         float64
	Unit        string
}

var targets = []target{
	{Issue: "2", What: "envelope encrypt of a 4 KiB testimony to 3 hybrid recipients vs a bare `age.Encrypt` of the same bytes", Bench: "BenchmarkEnvelopeEncrypt4KiB", Min: 0.80},
	{Issue: "2", What: "store: 32 concurrent writers of 4 KiB items vs one writer doing plain `Update` per item", Bench: "BenchmarkStoreWrite4KiB", Min: 5.0},
	{Issue: "2, 7", What: "`testimony open` of a bundle (1 GiB: 1,024 × 1 MiB under `make bench`) vs the stock `age -d` on the same items", Bench: "BenchmarkOpenBundle", Min: 0.70},
	{Issue: "18", What: "submissions of a 4 KiB text testimony at concurrency 32 vs the same client posting the same body to a bare `net/http` handler that only streams it into `age.Encrypt` (`BenchmarkSubmitBareHTTP`)", Bench: "BenchmarkSubmit4KiB", Against: "BenchmarkSubmitBareHTTP", Min: 0.55},
	{Issue: "21", What: "the same submissions while the day roots are sealed every 100 ms (the server seals hourly) vs without (`BenchmarkSubmitSealing`): the proofs' cost on the submit path", Bench: "BenchmarkSubmitSealing", Min: 0.95},
	{Issue: "3", What: "a 1 GiB multipart upload vs a bare handler streaming the same body to `io.Discard`", Bench: "BenchmarkUpload1GiB", Min: 0.50},
	{Issue: "3", What: "peak memory of a 1 GiB upload, in process (anonymous RSS of the test process while the handler runs)", Bench: "BenchmarkUpload1GiB", Sub: "ours", Metric: "peak-anon-RSS-MiB", Max: 64, Unit: "MiB"},
	{Issue: "3", What: "peak RSS of the real `testimonyd` during a 1 GiB upload (VmHWM; counts mapped files too, see below)", Bench: "BenchmarkUploadRSS", Metric: "peak-RSS-MiB", Max: 64, Unit: "MiB"},
	{Issue: "3", What: "peak anonymous memory of the real `testimonyd` during a 1 GiB upload (RssAnon sampled every 20 ms)", Bench: "BenchmarkUploadRSS", Metric: "sampled-anon-MiB", Max: 64, Unit: "MiB"},
	{Issue: "4", What: "bundle download of 1,000 × 4 KiB items vs streaming the same bytes from bbolt to `io.Discard`", Bench: "BenchmarkBundleDownload", Min: 0.50},
	{Issue: "7", What: "`report` over 10,000 testimonies: time (\"under a few seconds\"; ratio to just reading the CSV below)", Bench: "BenchmarkReport10k", Sub: "ours", Metric: "s/op", Max: 3, Unit: "s"},
	{Issue: "20", What: "`testimony open` of a bundle of 30,000 testimonies writing cases.db vs the same open without it (at most twice the time; first round only)", Bench: "BenchmarkOpen30k", Min: 0.50},
	{Issue: "20", What: "the largest index page (`index.html`, `triage/`) at 30,000 submissions", Bench: "BenchmarkTriage30k", Sub: "ours", Metric: "largest-page-KiB", Max: 1024, Unit: "KiB"},
}

// A result is one benchmark line.
type result struct {
	pkg     string
	name    string // full name without the -GOMAXPROCS suffix
	metrics map[string]float64
}

var lineRE = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

func parse(r io.Reader) ([]result, []string) {
	var out []result
	var raw []string
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if p, ok := strings.CutPrefix(l, "pkg: "); ok {
			pkg = p
			raw = append(raw, l)
			continue
		}
		if strings.HasPrefix(l, "--- FAIL") || strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "panic:") {
			raw = append(raw, l)
			continue
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		raw = append(raw, l)
		res := result{pkg: pkg, name: m[1], metrics: map[string]float64{}}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			res.metrics[f[i+1]] = v
		}
		if ns, ok := res.metrics["ns/op"]; ok {
			res.metrics["s/op"] = ns / 1e9
		}
		out = append(out, res)
	}
	return out, raw
}

// A pair is the runs of one top-level benchmark's baseline and ours.
type pair struct {
	base, ours []result // in run order: base[i] and ours[i] ran together
	subs       map[string][]result
}

func group(results []result) (map[string]*pair, []string) {
	pairs := map[string]*pair{}
	var order []string
	for _, r := range results {
		top, sub, _ := strings.Cut(r.name, "/")
		p := pairs[top]
		if p == nil {
			p = &pair{subs: map[string][]result{}}
			pairs[top] = p
			order = append(order, top)
		}
		p.subs[sub] = append(p.subs[sub], r)
		switch {
		case strings.HasPrefix(sub, "baseline"):
			p.base = append(p.base, r)
		case strings.HasPrefix(sub, "ours"):
			p.ours = append(p.ours, r)
		}
	}
	return pairs, order
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianRatio compares the pair's median throughputs over the runs (the
// ratio of the medians: with go test -count the runs of baseline and ours
// are not paired, and with rounds either would do). It returns the
// ratio, the runs counted, the unit compared, and the runs nearest the
// medians (for their figures).
func (p *pair) medianRatio() (r float64, n int, unit string, base, ours result) {
	if len(p.base) == 0 || len(p.ours) == 0 {
		return 0, 0, "", result{}, result{}
	}
	unit = "ns/op"
	for _, u := range []string{"MB/s", "items/s", "testimonies/s", "submissions/s"} {
		if _, n1 := medianMetric(p.base, u); n1 > 0 {
			if _, n2 := medianMetric(p.ours, u); n2 > 0 {
				unit = u
				break
			}
		}
	}
	bm, bn := medianMetric(p.base, unit)
	om, on := medianMetric(p.ours, unit)
	if bn == 0 || on == 0 || bm == 0 || om == 0 {
		return 0, 0, "", result{}, result{}
	}
	if unit == "ns/op" {
		r = bm / om
	} else {
		r = om / bm
	}
	return r, min(bn, on), unit, nearest(p.base, unit, bm), nearest(p.ours, unit, om)
}

// roundRatio compares the "ours" runs of two benchmarks, of against as the
// baseline: the ratio of each round's runs (run i of each), whose
// conditions the two shared, and its median over the rounds, with the
// figures of the round nearest that median.
func roundRatio(against, p *pair) (r float64, n int, unit string, base, ours result) {
	if against == nil || p == nil {
		return 0, 0, "", result{}, result{}
	}
	unit = "MB/s"
	var rs []float64
	var runs []int
	for i := 0; i < len(p.ours) && i < len(against.ours); i++ {
		if a, o := against.ours[i].metrics[unit], p.ours[i].metrics[unit]; a > 0 && o > 0 {
			rs, runs = append(rs, o/a), append(runs, i)
		}
	}
	if len(rs) == 0 {
		return 0, 0, "", result{}, result{}
	}
	r = median(rs)
	best := 0
	for i, x := range rs {
		if abs(x-r) < abs(rs[best]-r) {
			best = i
		}
	}
	return r, len(rs), unit, against.ours[runs[best]], p.ours[runs[best]]
}

// nearest returns the run whose metric is nearest v.
func nearest(rs []result, metric string, v float64) result {
	best := rs[0]
	for _, r := range rs {
		if abs(r.metrics[metric]-v) < abs(best.metrics[metric]-v) {
			best = r
		}
	}
	return best
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// medianMetric is the median of a metric over the runs.
func medianMetric(rs []result, metric string) (float64, int) {
	var v []float64
	for _, r := range rs {
		if x, ok := r.metrics[metric]; ok {
			v = append(v, x)
		}
	}
	return median(v), len(v)
}

// fig writes a result's main figure and its extra metrics.
func fig(r result) string {
	s := ""
	switch {
	case r.metrics["MB/s"] > 0:
		s = num(r.metrics["MB/s"]) + " MB/s"
	case r.metrics["ns/op"] >= 1e9:
		s = fmt.Sprintf("%.2f s/op", r.metrics["ns/op"]/1e9)
	case r.metrics["ns/op"] >= 1e6:
		s = fmt.Sprintf("%.2f ms/op", r.metrics["ns/op"]/1e6)
	default:
		s = fmt.Sprintf("%.0f ns/op", r.metrics["ns/op"])
	}
	var extra []string
	for k, v := range r.metrics {
		switch k {
		case "ns/op", "s/op", "MB/s", "B/op", "allocs/op":
			continue
		}
		extra = append(extra, fmt.Sprintf("%s %s", num(v), k))
	}
	slices.Sort(extra)
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

func num(v float64) string {
	switch {
	case v == float64(int64(v)) && abs(v) < 1e9:
		return strconv.FormatInt(int64(v), 10)
	case abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func runsNote(n int) string {
	if n > 1 {
		return fmt.Sprintf(" (median of %d)", n)
	}
	return ""
}

func main() {
	out := flag.String("o", "BENCHMARKS.md", "report file")
	note := flag.String("note", "", "a note printed at the top of the report (e.g. that the machine was busy)")
	flag.Parse()
	results, raw := parse(os.Stdin)
	pairs, order := group(results)

	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	if *note != "" {
		fmt.Fprintf(&b, "> **%s**\n\n", *note)
	}
	b.WriteString("Written by `make bench`. Each hot path is measured against the baseline its feature issue names,\n")
	b.WriteString("in the same run, so the ratios hold across machines even when the absolute figures do not.\n")
	b.WriteString("Ratio = our throughput ÷ the baseline's (by MB/s or items/s when both report it, else baseline\n")
	b.WriteString("ns/op ÷ our ns/op). `make bench` runs the suite several rounds; the ratio is that of the median\n")
	b.WriteString("baseline and the median ours over the rounds, and the figures shown are the runs nearest the medians.\n")
	b.WriteString("A baseline that is another benchmark is compared round by round: the median of each round's ratio.\n\n")

	b.WriteString("## Targets of the feature issues\n\n")
	b.WriteString("| issue | hot path | ours | baseline | ratio | target | met |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	met, missed, absent := 0, 0, 0
	for _, t := range targets {
		p := pairs[t.Bench]
		if t.Metric == "" {
			var r float64
			var n int
			var unit string
			var base, ours result
			switch {
			case t.Against != "":
				r, n, unit, base, ours = roundRatio(pairs[t.Against], p)
			case p != nil:
				r, n, unit, base, ours = p.medianRatio()
			}
			if p == nil || n == 0 {
				fmt.Fprintf(&b, "| %s | %s | — | — | — | ≥ %.2f | no benchmark (`%s` did not run) |\n", t.Issue, t.What, t.Min, t.Bench)
				absent++
				continue
			}
			ok := r >= t.Min
			fmt.Fprintf(&b, "| %s | %s | %s | %s | **%.3f**%s | ≥ %.2f | %s |\n", t.Issue, t.What, fig(ours), fig(base), r,
				runsNote(n)+unitNote(unit), t.Min, verdict(ok, &met, &missed))
			continue
		}
		var rs []result
		if p != nil {
			if t.Sub != "" {
				rs = p.ours
			} else {
				rs = p.subs[""]
			}
		}
		v, n := medianMetric(rs, t.Metric)
		if n == 0 {
			fmt.Fprintf(&b, "| %s | %s | — | — | — | ≤ %s %s | no benchmark (`%s` did not report %s) |\n", t.Issue, t.What, num(t.Max), t.Unit, t.Bench, t.Metric)
			absent++
			continue
		}
		ok := v <= t.Max
		extra := ""
		if t.Bench == "BenchmarkReport10k" && p != nil {
			if bv, bn := medianMetric(p.base, "s/op"); bn > 0 {
				extra = fmt.Sprintf("; reading the CSV alone: %.3f s (report ÷ read = %.0f×)", bv, v/bv)
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s %s%s | — | — | ≤ %s %s | %s |\n", t.Issue, t.What, num(v), t.Unit, runsNote(n)+extra, num(t.Max), t.Unit, verdict(ok, &met, &missed))
	}
	fmt.Fprintf(&b, "\n%d met, %d missed, %d not measured.\n\n", met, missed, absent)
	b.WriteString("The submit target's baseline is the ceiling of any HTTP submission on this machine: the same client " +
		"posting the same body to a handler that only streams it into `age.Encrypt` (no questionnaire, codename, reply " +
		"key, store or page), run in the same rounds; the client and the server share the same cores. Both are also " +
		"shown against a bare `age.Encrypt` under other benchmarks.\n\n")

	b.WriteString("## The real server under load\n\n")
	b.WriteString("`testimonyd` built with `go build`, on loopback, an enrolled investigator and two escrow keys (three hybrid\n")
	b.WriteString("recipients); the generator is `cmd/testimonyd/bench_load_test.go`. Submissions of 4 KiB (multipart body) are\n")
	b.WriteString("offered open loop: each launched at its scheduled time whatever the earlier ones are doing, its latency counted\n")
	b.WriteString("from that time, for 10 s per rate.\n\n")
	if p := pairs["BenchmarkLoad"]; p != nil && len(p.subs) > 0 {
		b.WriteString("| offered | achieved | p50 | p99 | errors | runs |\n| --- | --- | --- | --- | --- | --- |\n")
		var subs []string
		for s := range p.subs {
			subs = append(subs, s)
		}
		slices.SortFunc(subs, func(a, c string) int { return rateOf(a) - rateOf(c) })
		for _, s := range subs {
			rs := p.subs[s]
			off, n := medianMetric(rs, "offered-rps")
			ach, _ := medianMetric(rs, "achieved-rps")
			p50, _ := medianMetric(rs, "p50-ms")
			p99, _ := medianMetric(rs, "p99-ms")
			errs, _ := medianMetric(rs, "errors")
			fmt.Fprintf(&b, "| %s/s | %s/s | %s ms | %s ms | %s | %d |\n", num(off), num(ach), num(p50), num(p99), num(errs), n)
		}
	} else {
		b.WriteString("No load figures: `BenchmarkLoad` did not run.\n")
	}
	b.WriteString("\n")
	if p := pairs["BenchmarkUploadRSS"]; p != nil && len(p.subs[""]) > 0 {
		rs := p.subs[""]
		get := func(m string) string { v, _ := medianMetric(rs, m); return num(v) }
		fmt.Fprintf(&b, "One 1 GiB attachment streamed (chunked, from a generator) to a fresh server: **peak RSS (VmHWM) %s MiB**, of which\n", get("peak-RSS-MiB"))
		fmt.Fprintf(&b, "anonymous memory (heap, stacks) peaked at **%s MiB** and file-backed pages at %s MiB; %s MiB before the upload; %s MB/s.\n",
			get("sampled-anon-MiB"), get("sampled-file-MiB"), get("idle-RSS-MiB"), get("MB/s"))
		b.WriteString("The file-backed part is mapped files — the binary's own pages and bbolt's read-only mmap of the database —\n")
		b.WriteString("page cache shared with the kernel and reclaimable under pressure, not memory the server allocated.\n\n")
	} else {
		b.WriteString("No upload RSS figure: `BenchmarkUploadRSS` did not run.\n\n")
	}

	b.WriteString("## Other benchmarks\n\nWithout a target in the feature issues (a pair is measured against its baseline).\n\n")
	b.WriteString("| benchmark | ours | baseline | ratio |\n| --- | --- | --- | --- |\n")
	inTargets := map[string]bool{}
	for _, t := range targets {
		inTargets[t.Bench] = t.Against == ""
	}
	others := 0
	for _, name := range order {
		p := pairs[name]
		if inTargets[name] || len(p.base) == 0 || len(p.ours) == 0 {
			continue
		}
		r, n, unit, base, ours := p.medianRatio()
		if n == 0 {
			continue
		}
		others++
		fmt.Fprintf(&b, "| %s | %s | %s | %.3f%s |\n", name, fig(ours), fig(base), r, runsNote(n)+unitNote(unit))
	}
	// Benchmarks that are not a baseline/ours pair, and not the load
	// figures above: shown with their own figures.
	for _, name := range order {
		p := pairs[name]
		if inTargets[name] || name == "BenchmarkLoad" || (len(p.base) > 0 && len(p.ours) > 0) {
			continue
		}
		var subs []string
		for s := range p.subs {
			subs = append(subs, s)
		}
		slices.Sort(subs)
		for _, s := range subs {
			full := name
			if s != "" {
				full += "/" + s
			}
			rs := p.subs[s]
			others++
			fmt.Fprintf(&b, "| %s | %s | — | — |\n", full, fig(rs[len(rs)/2]))
		}
	}
	if others == 0 {
		b.WriteString("| — | | | |\n")
	}

	b.WriteString("\n## Machine\n\n" + machine() + "\n")
	b.WriteString("## Reproduce\n\n```\nmake bench\n```\n\n")
	b.WriteString("It runs `go test -run '^$' -bench . -benchmem ./...` `BENCHCOUNT` times (5 by default) with\n")
	b.WriteString("`TESTIMONY_BENCH_ITEMS=1024` (the 1 GiB bundle of issue 7), keeps the output in `bench.out`, and writes this\n")
	b.WriteString("file with `go run ./tools/benchreport`.\n")
	b.WriteString("Run it on an otherwise idle machine: the ratios are robust to a slow machine, not to a busy one.\n\n")
	b.WriteString("## All figures\n\n```\n")
	for _, l := range raw {
		b.WriteString(l + "\n")
	}
	b.WriteString("```\n")
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	fmt.Printf("benchreport: wrote %s: %d targets met, %d missed, %d not measured\n", *out, met, missed, absent)
}

func verdict(ok bool, met, missed *int) string {
	if ok {
		*met++
		return "met"
	}
	*missed++
	return "**MISSED**"
}

func unitNote(unit string) string {
	if unit == "" || unit == "ns/op" || unit == "MB/s" {
		return ""
	}
	return " (by " + unit + ")"
}

func rateOf(sub string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(sub, "rate="))
	return n
}
