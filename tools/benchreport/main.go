// Command benchreport turns `go test -bench` output into BENCHMARKS.md.
//
// Each hot path is benchmarked as a pair of sub-benchmarks measured in the
// same run: BenchmarkX/baseline… (the yardstick named in the issue, e.g. a
// bare age.Encrypt) and BenchmarkX/ours…. The report gives each figure, the
// ratio ours/baseline in throughput, and whether it meets its target.
//
// Usage: go test -run '^$' -bench . ./... | go run ./tools/benchreport -o BENCHMARKS.md
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// target is what a pair must reach: ours/baseline throughput ≥ Min.
type target struct {
	Min  float64
	What string
}

var targets = map[string]target{
	"BenchmarkEnvelopeEncrypt4KiB": {0.80, "envelope encrypt of a 4 KiB testimony to 3 hybrid recipients vs bare age.Encrypt of the same bytes (issue 2)"},
	"BenchmarkStoreWrite4KiB":      {5.0, "32 concurrent writers of 4 KiB items vs one writer doing plain Update per item (issue 2)"},
	"BenchmarkOpenBundle":          {0.70, "`testimony open` of a bundle vs the stock `age -d` on the same items (issues 2, 7)"},
	"BenchmarkSubmit4KiB":          {0.50, "submissions of a 4 KiB testimony at concurrency 32 vs bare age.Encrypt of the same payload (issue 3)"},
	"BenchmarkUpload1GiB":          {0.50, "a 1 GiB multipart upload vs a bare handler streaming it to io.Discard (issue 3)"},
	"BenchmarkBundleDownload":      {0.50, "bundle download of 1,000 × 4 KiB items vs streaming them from bbolt to io.Discard (issue 4)"},
}

type result struct {
	pkg     string
	name    string // full name without -N suffix
	nsPerOp float64
	metrics map[string]float64
	line    string
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
			continue
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		raw = append(raw, l)
		res := result{pkg: pkg, name: m[1], metrics: map[string]float64{}, line: l}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			res.metrics[f[i+1]] = v
			if f[i+1] == "ns/op" {
				res.nsPerOp = v
			}
		}
		out = append(out, res)
	}
	return out, raw
}

func machine() string {
	var b strings.Builder
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0]); len(f) >= 2 {
			if kb, err := strconv.Atoi(f[1]); err == nil {
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	goVer, _ := exec.Command("go", "version").Output()
	fmt.Fprintf(&b, "- CPU: %s, %d logical cores (GOMAXPROCS %d)\n", model, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "- Memory: %s\n", mem)
	fmt.Fprintf(&b, "- %s\n", strings.TrimSpace(string(goVer)))
	fmt.Fprintf(&b, "- Date: %s\n", time.Now().UTC().Format(time.DateOnly))
	return b.String()
}

func main() {
	out := flag.String("o", "BENCHMARKS.md", "report file")
	flag.Parse()
	results, raw := parse(os.Stdin)

	type pair struct{ base, ours *result }
	pairs := map[string]*pair{}
	for i := range results {
		r := &results[i]
		top, sub, ok := strings.Cut(r.name, "/")
		if !ok {
			continue
		}
		p := pairs[top]
		if p == nil {
			p = &pair{}
			pairs[top] = p
		}
		switch {
		case strings.HasPrefix(sub, "baseline"):
			p.base = r
		case strings.HasPrefix(sub, "ours"):
			p.ours = r
		}
	}
	var names []string
	for n := range targets {
		names = append(names, n)
	}
	sort.Strings(names)

	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Written by `make bench`. Each hot path is measured against a baseline in the same run, so the\n")
	b.WriteString("ratios hold across machines even when the absolute figures do not. Ratio = our throughput ÷ the\n")
	b.WriteString("baseline's (baseline ns/op ÷ our ns/op, per the same unit of work).\n\n")
	b.WriteString("## Machine\n\n" + machine() + "\n")
	b.WriteString("## Targets\n\n| hot path | baseline | ours | ratio | target | met |\n| --- | --- | --- | --- | --- | --- |\n")
	missing := 0
	failed := 0
	for _, n := range names {
		t := targets[n]
		p := pairs[n]
		if p == nil || p.base == nil || p.ours == nil || p.ours.nsPerOp == 0 {
			fmt.Fprintf(&b, "| %s | — | — | — | ≥ %.2f | not measured |\n", t.What, t.Min)
			missing++
			continue
		}
		ratio := p.base.nsPerOp / p.ours.nsPerOp
		met := "yes"
		if ratio < t.Min {
			met = "**no**"
			failed++
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | ≥ %.2f | %s |\n", t.What, fig(p.base), fig(p.ours), ratio, t.Min, met)
	}
	b.WriteString("\n## All figures\n\n```\n")
	for _, l := range raw {
		b.WriteString(l + "\n")
	}
	b.WriteString("```\n\n## Reproduce\n\n```\nmake bench   # go test -run '^$' -bench . ./... | go run ./tools/benchreport\n```\n")
	if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	fmt.Printf("benchreport: wrote %s: %d targets met, %d missed, %d not measured\n", *out, len(names)-failed-missing, failed, missing)
}

func fig(r *result) string {
	s := fmt.Sprintf("%.0f ns/op", r.nsPerOp)
	if v, ok := r.metrics["MB/s"]; ok {
		s = fmt.Sprintf("%.0f MB/s", v)
	}
	var extra []string
	for k, v := range r.metrics {
		if k != "ns/op" && k != "MB/s" && k != "B/op" && k != "allocs/op" {
			extra = append(extra, fmt.Sprintf("%.4g %s", v, k))
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}
