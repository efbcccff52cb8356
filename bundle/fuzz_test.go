package bundle_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"testimony/bundle"
)

// FuzzBundleIndex: a real bundle whose index.json (the trailer that every
// item is checked against) is replaced by fuzzed bytes. The reader either
// refuses the bundle with bundle.ErrBad or verifies it, and a verified
// bundle's index lists exactly the items in the tar — each once, with its
// size and SHA-256. FuzzBundleReader mutates whole bundles, where a valid
// tar around a mutated index is rare; this target mutates only the index.
func FuzzBundleIndex(f *testing.F) {
	b, idx, _ := bundleOf(f, 300, 0, 5000)
	es := entriesOf(f, b)
	last := len(es) - 1
	if es[last].h.Name != "index.json" {
		f.Fatalf("the index is not the last entry: %q", es[last].h.Name)
	}
	good := es[last].body
	f.Add(good)
	id0, id1 := idx.Items[0].ID, idx.Items[1].ID
	for _, s := range []string{
		strings.Replace(string(good), id0, id1, 1), // an item listed twice, another not at all
		strings.Replace(string(good), idx.Items[2].SHA256, strings.Repeat("0", 64), 1),
		strings.Replace(string(good), `"size":300`, `"size":-300`, 1),
		strings.Replace(string(good), `"size":300`, `"size":9223372036854775807`, 1),
		strings.Replace(string(good), bundle.Format, "testimony-bundle/v2", 1),
		string(good) + `{"format":"` + bundle.Format + `","items":[]}`, // a second JSON value after the first
		string(good) + "garbage",
		`{"format":"` + bundle.Format + `","items":null}`,
		`{"format":"` + bundle.Format + `","items":[{"id":"../../etc/passwd"}]}`,
		`{"format":"` + bundle.Format + `","items":[` + strings.Repeat(`{},`, 50) + `{}]}`,
		`{"format":"` + bundle.Format + `","ITEMS":[],"Format":1}`,
		``, `null`, `[]`, `"x"`, `{"format":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, index []byte) {
		mod := make([]entry, len(es))
		copy(mod, es)
		mod[last].body = index
		tb := tarOf(t, mod)
		got, bad, err := readBundle(tb)
		if err != nil {
			if !errors.Is(err, bundle.ErrBad) {
				t.Fatalf("error not wrapping bundle.ErrBad: %v", err)
			}
			return
		}
		if bad != nil {
			t.Fatalf("bad ids %v with no error", bad)
		}
		br := bundle.NewReader(bytes.NewReader(tb))
		for {
			if _, _, err := br.Next(); err != nil {
				break
			}
		}
		ix := br.Index()
		if ix == nil || ix.Format != bundle.Format || len(ix.Items) != len(got) || len(got) != len(idx.Items) {
			t.Fatalf("verified: %d items read, index %+v", len(got), ix)
		}
		seen := map[string]bool{}
		for _, e := range ix.Items {
			d, ok := got[e.ID]
			sum := sha256.Sum256(d)
			if !ok || seen[e.ID] || int64(len(d)) != e.Size || hex.EncodeToString(sum[:]) != e.SHA256 {
				t.Fatalf("verified index entry %+v does not match the tar", e)
			}
			seen[e.ID] = true
		}
	})
}
