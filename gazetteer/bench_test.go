package gazetteer

import (
	"fmt"
	"testing"
)

// BenchmarkResolve: a short name, and a sentence of twelve words that
// names nothing (the worst case: every run of words tried twice).
func BenchmarkResolve(b *testing.B) {
	g := Default()
	for _, s := range []string{"Krome, Майами", "they took us to some place near the big river where it was cold"} {
		b.Run(fmt.Sprintf("%d-bytes", len(s)), func(b *testing.B) {
			for b.Loop() {
				g.Resolve(s, Facility)
			}
		})
	}
}
