package main

import (
	"math"
	"strings"
	"testing"
)

// out is go test -bench output of three rounds of two pairs, with a
// package line and noise between them.
const out = `goos: linux
pkg: testimony/server/witness
BenchmarkSubmit4KiB/baseline-2    	 100	 400000 ns/op	  10.00 MB/s	 78000 B/op
BenchmarkSubmit4KiB/ours-2        	 100	 800000 ns/op	   4.00 MB/s
BenchmarkSubmitBareHTTP/baseline-2	 100	 400000 ns/op	  10.00 MB/s
BenchmarkSubmitBareHTTP/ours-2    	 100	 500000 ns/op	   8.00 MB/s
PASS
BenchmarkSubmit4KiB/baseline-2    	 100	 400000 ns/op	  20.00 MB/s
BenchmarkSubmit4KiB/ours-2        	 100	 800000 ns/op	   2.00 MB/s
BenchmarkSubmitBareHTTP/baseline-2	 100	 400000 ns/op	  10.00 MB/s
BenchmarkSubmitBareHTTP/ours-2    	 100	 500000 ns/op	   3.00 MB/s
BenchmarkSubmit4KiB/baseline-2    	 100	 400000 ns/op	  30.00 MB/s
BenchmarkSubmit4KiB/ours-2        	 100	 800000 ns/op	   6.00 MB/s
BenchmarkSubmitBareHTTP/baseline-2	 100	 400000 ns/op	  10.00 MB/s
BenchmarkSubmitBareHTTP/ours-2    	 100	 500000 ns/op	  10.00 MB/s
BenchmarkCodenameLogin/wrong-2    	  10	 250000 ns/op
`

func TestParseAndGroup(t *testing.T) {
	results, raw := parse(strings.NewReader(out))
	if len(results) != 13 {
		t.Fatalf("%d results, want 13", len(results))
	}
	if !strings.HasPrefix(raw[0], "pkg: ") || results[0].pkg != "testimony/server/witness" {
		t.Errorf("package line lost: %q, %q", raw[0], results[0].pkg)
	}
	if r := results[0]; r.name != "BenchmarkSubmit4KiB/baseline" || r.metrics["MB/s"] != 10 || r.metrics["s/op"] != 0.0004 {
		t.Errorf("first result: %+v", r)
	}
	pairs, order := group(results)
	if len(order) != 3 || order[0] != "BenchmarkSubmit4KiB" {
		t.Errorf("order %v", order)
	}
	p := pairs["BenchmarkSubmit4KiB"]
	if len(p.base) != 3 || len(p.ours) != 3 {
		t.Fatalf("pair of %d and %d runs", len(p.base), len(p.ours))
	}
	// Ratio of the medians: 4 MB/s ÷ 20 MB/s.
	if r, n, unit, base, ours := p.medianRatio(); math.Abs(r-0.2) > 1e-9 || n != 3 || unit != "MB/s" ||
		base.metrics["MB/s"] != 20 || ours.metrics["MB/s"] != 4 {
		t.Errorf("medianRatio = %v, %d, %s, %v, %v", r, n, unit, base.metrics, ours.metrics)
	}
}

// TestRoundRatio: against another benchmark, each round's ratio counts
// (4/8, 2/3, 6/10: median 0.6), not the ratio of the medians (4/8 = 0.5),
// and the figures shown are of the round of the median.
func TestRoundRatio(t *testing.T) {
	results, _ := parse(strings.NewReader(out))
	pairs, _ := group(results)
	r, n, unit, base, ours := roundRatio(pairs["BenchmarkSubmitBareHTTP"], pairs["BenchmarkSubmit4KiB"])
	if math.Abs(r-0.6) > 1e-9 || n != 3 || unit != "MB/s" || base.metrics["MB/s"] != 10 || ours.metrics["MB/s"] != 6 {
		t.Errorf("roundRatio = %v, %d, %s, %v, %v", r, n, unit, base.metrics, ours.metrics)
	}
	if _, n, _, _, _ := roundRatio(nil, pairs["BenchmarkSubmit4KiB"]); n != 0 {
		t.Error("a ratio against a benchmark that did not run")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
