package records

import (
	"strings"
	"testing"
)

// TestParseAuditHead refuses what is not COUNT:HASH.
func TestParseAuditHead(t *testing.T) {
	good := "12:" + strings.Repeat("ab", 32)
	if h, err := ParseAuditHead(good); err != nil || h.Count != 12 {
		t.Fatalf("%q: %v, %v", good, h, err)
	}
	for _, bad := range []string{"", "12", "12:", ":" + strings.Repeat("ab", 32), "0:" + strings.Repeat("ab", 32),
		"-1:" + strings.Repeat("ab", 32), "12:" + strings.Repeat("ab", 31), "12:" + strings.Repeat("AB", 32), "x:" + strings.Repeat("ab", 32)} {
		if _, err := ParseAuditHead(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
