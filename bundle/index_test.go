package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// TestIndexWriterMatchesMarshalIndent: index.json built entry by entry is
// byte for byte what json.MarshalIndent writes, for plain and awkward
// strings alike, and for an empty bundle.
func TestIndexWriterMatchesMarshalIndent(t *testing.T) {
	odd := []string{"", "plain", `quote " and \ backslash`, "<tag> & amp", "tab\tnewline\ncr\r", "\x00\x01\x1f\x7f",
		"кириллица", "\u2028\u2029", "bad \xff utf-8", "emoji 🙂"}
	for _, n := range []int{0, 1, 3, len(odd)} {
		idx := Index{Format: Format, Day: odd[n%len(odd)], Items: []Entry{}}
		w := NewIndexWriter(idx.Day, n)
		for i := range n {
			e := Entry{ID: fmt.Sprintf("%032x", i), Kind: odd[i%len(odd)], Day: "2026-08-27",
				Source: odd[(i+3)%len(odd)], Size: int64(i) * 1e9, SHA256: odd[(i+5)%len(odd)], Recipients: odd[(i+7)%len(odd)]}
			idx.Items = append(idx.Items, e)
			w.Add(e)
		}
		want, err := json.MarshalIndent(idx, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Bytes(); !bytes.Equal(got, want) {
			t.Errorf("%d entries:\n got %q\nwant %q", n, got, want)
		}
	}
}
