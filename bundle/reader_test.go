package bundle_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"testimony/bundle"
	"testimony/store"
)

// bundleOf stores items of the given sizes and returns a bundle of them,
// with their bytes by id.
func bundleOf(t testing.TB, sizes ...int) ([]byte, bundle.Index, map[string][]byte) {
	t.Helper()
	db := openTemp(t)
	data := map[string][]byte{}
	var items []store.Item
	for i, n := range sizes {
		d := pattern(uint64(1000+i), n)
		it := writeItem(t, db, d, 64<<10, store.Item{Kind: []string{"submission", "followup", "reply"}[i%3],
			Day: "2026-08-27", Source: fmt.Sprintf("src%d", i%2), Recipients: "fp1"})
		data[it.ID] = d
		items = append(items, it)
	}
	var buf bytes.Buffer
	idx, err := db.WriteBundleItems(&buf, "2026-09-01", items)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), idx, data
}

// readBundle reads a bundle through to the end and verifies it.
func readBundle(b []byte) (map[string][]byte, []string, error) {
	br := bundle.NewReader(bytes.NewReader(b))
	got := map[string][]byte{}
	for {
		id, r, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return got, nil, err
		}
		d, err := io.ReadAll(r)
		if err != nil {
			return got, nil, err
		}
		got[id] = d
	}
	bad, err := br.Verify()
	return got, bad, err
}

func TestBundleRoundTrip(t *testing.T) {
	// Sizes past the store's chunks of 1 MiB: items of several chunks.
	for _, sizes := range [][]int{nil, {0}, {5000}, {100, 1<<20 + 7, 0, 3 << 20}} {
		t.Run(fmt.Sprint(len(sizes)), func(t *testing.T) {
			b, idx, data := bundleOf(t, sizes...)
			if idx.Format != bundle.Format || idx.Day != "2026-09-01" || len(idx.Items) != len(sizes) {
				t.Fatalf("index %+v", idx)
			}
			for _, e := range idx.Items {
				sum := sha256.Sum256(data[e.ID])
				if e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(data[e.ID])) || e.Recipients != "fp1" || e.Day != "2026-08-27" {
					t.Errorf("index entry %+v", e)
				}
			}
			got, bad, err := readBundle(b)
			if err != nil || bad != nil {
				t.Fatalf("reading a good bundle: %v (bad %v)", err, bad)
			}
			if len(got) != len(data) {
				t.Errorf("%d items read, %d written", len(got), len(data))
			}
			for id, d := range data {
				if !bytes.Equal(got[id], d) {
					t.Errorf("item %s: %d bytes back, want %d", id, len(got[id]), len(d))
				}
			}
			// Items can be skipped unread: Next reads past them.
			br := bundle.NewReader(bytes.NewReader(b))
			n := 0
			for {
				_, _, err := br.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if _, err := br.Verify(); err != nil {
				t.Errorf("Verify after skipping items: %v", err)
			}
			if n != len(sizes) || br.Index() == nil || len(br.Index().Items) != len(sizes) {
				t.Errorf("skipping: %d items, index %v", n, br.Index())
			}
			// Plain tar tools see items/<id>.age and index.json.
			tr := tar.NewReader(bytes.NewReader(b))
			var names []string
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				names = append(names, h.Name)
			}
			if len(names) != len(sizes)+1 || names[len(names)-1] != "index.json" {
				t.Errorf("tar entries %v", names)
			}
		})
	}
}

// entry is one tar entry of a hand-made bundle.
type entry struct {
	h    tar.Header
	body []byte
}

// entriesOf splits a tar into its entries.
func entriesOf(t testing.TB, b []byte) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out = append(out, entry{*h, body})
	}
}

// tarOf writes entries as a tar; each header's size is set from its body
// for regular files.
func tarOf(t testing.TB, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.h
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// TestBundleVerifyNamesBadItem: an altered, a missing and an extra item are
// each named by Verify.
func TestBundleVerifyNamesBadItem(t *testing.T) {
	b, idx, _ := bundleOf(t, 3000, 70<<10, 100)
	es := entriesOf(t, b)
	victim := idx.Items[1].ID
	at := slices.IndexFunc(es, func(e entry) bool { return e.h.Name == bundle.ItemPath(victim) })
	if at < 0 {
		t.Fatal("item not in the tar")
	}
	extraID := strings.Repeat("c0", idLen)
	cases := map[string]struct {
		es   []entry
		want string
	}{
		"altered": {func() []entry {
			es := slices.Clone(es)
			body := bytes.Clone(es[at].body)
			body[len(body)/2] ^= 1
			es[at].body = body
			return es
		}(), victim},
		"truncated item": {func() []entry {
			es := slices.Clone(es)
			es[at].body = es[at].body[:len(es[at].body)-1]
			return es
		}(), victim},
		"missing": {slices.Delete(slices.Clone(es), at, at+1), victim},
		"extra":   {slices.Insert(slices.Clone(es), 0, entry{tar.Header{Typeflag: tar.TypeReg, Name: bundle.ItemPath(extraID), Mode: 0o600}, []byte("unlisted")}), extraID},
		"index lists one twice": {func() []entry {
			es := slices.Clone(es)
			var ix bundle.Index
			json.Unmarshal(es[len(es)-1].body, &ix)
			ix.Items = append(ix.Items, ix.Items[1])
			es[len(es)-1].body, _ = json.Marshal(ix)
			return es
		}(), victim},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, bad, err := readBundle(tarOf(t, c.es))
			if !errors.Is(err, bundle.ErrBad) {
				t.Fatalf("Verify: %v, want bundle.ErrBad", err)
			}
			if !slices.Equal(bad, []string{c.want}) {
				t.Errorf("Verify named %v, want [%s]", bad, c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not name %s: %v", c.want, err)
			}
		})
	}
	// The untouched tar, rewritten the same way, still verifies.
	if _, bad, err := readBundle(tarOf(t, es)); err != nil {
		t.Errorf("rewritten good bundle: %v %v", bad, err)
	}
}

// TestBundleRefusesBadEntries: names that would escape a directory, and
// entries that are not regular files, are refused by Next.
func TestBundleRefusesBadEntries(t *testing.T) {
	b, _, _ := bundleOf(t, 100)
	es := entriesOf(t, b)
	id := strings.Repeat("ab", idLen)
	reg := func(name string) entry {
		return entry{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600}, []byte("x")}
	}
	bad := map[string]entry{
		"dot-dot":          reg("../items/" + id + ".age"),
		"dot-dot inside":   reg("items/../../etc/passwd"),
		"absolute":         reg("/items/" + id + ".age"),
		"absolute etc":     reg("/etc/passwd"),
		"upper-case id":    reg("items/" + strings.ToUpper(id) + ".age"),
		"short id":         reg("items/abc.age"),
		"other file":       reg("README"),
		"nested":           reg("items/x/" + id + ".age"),
		"symlink":          {tar.Header{Typeflag: tar.TypeSymlink, Name: "items/" + id + ".age", Linkname: "/etc/passwd"}, nil},
		"hard link":        {tar.Header{Typeflag: tar.TypeLink, Name: "items/" + id + ".age", Linkname: "/etc/passwd"}, nil},
		"fifo":             {tar.Header{Typeflag: tar.TypeFifo, Name: "items/" + id + ".age"}, nil},
		"char device":      {tar.Header{Typeflag: tar.TypeChar, Name: "items/" + id + ".age", Devmajor: 1, Devminor: 3}, nil},
		"directory ../":    {tar.Header{Typeflag: tar.TypeDir, Name: "../", Mode: 0o700}, nil},
		"directory /etc":   {tar.Header{Typeflag: tar.TypeDir, Name: "/etc/", Mode: 0o700}, nil},
		"symlinked index":  {tar.Header{Typeflag: tar.TypeSymlink, Name: "index.json", Linkname: "/etc/passwd"}, nil},
		"duplicate item":   es[0],
		"second index":     es[len(es)-1],
		"index wrong type": {tar.Header{Typeflag: tar.TypeDir, Name: "index.json/", Mode: 0o700}, nil},
	}
	for name, e := range bad {
		t.Run(name, func(t *testing.T) {
			_, _, err := readBundle(tarOf(t, append(slices.Clone(es[:1]), append([]entry{e}, es[1:]...)...)))
			if !errors.Is(err, bundle.ErrBad) {
				t.Fatalf("Next: %v, want bundle.ErrBad", err)
			}
			t.Log(err)
		})
	}
	// The items/ directory entry that tar tools write is fine.
	dir := entry{tar.Header{Typeflag: tar.TypeDir, Name: "items/", Mode: 0o700}, nil}
	if _, bad, err := readBundle(tarOf(t, append([]entry{dir}, es...))); err != nil {
		t.Errorf("bundle with an items/ directory entry: %v %v", bad, err)
	}
	// Other structural faults.
	noIndex := tarOf(t, es[:len(es)-1])
	if _, _, err := readBundle(noIndex); !errors.Is(err, bundle.ErrBad) {
		t.Errorf("bundle without index.json: %v", err)
	}
	wrongFormat := slices.Clone(es)
	wrongFormat[len(es)-1].body = []byte(`{"format":"testimony-bundle/v9","items":[]}`)
	if _, _, err := readBundle(tarOf(t, wrongFormat)); !errors.Is(err, bundle.ErrBad) || !strings.Contains(err.Error(), "v9") {
		t.Errorf("bundle of another format: %v", err)
	}
	if _, _, err := readBundle(b[:len(b)/2]); !errors.Is(err, bundle.ErrBad) {
		t.Errorf("truncated bundle: %v", err)
	}
	if _, _, err := readBundle([]byte("not a tar at all, just some text that is long enough to fill a header block")); !errors.Is(err, bundle.ErrBad) {
		t.Errorf("not a tar: %v", err)
	}
	br := bundle.NewReader(bytes.NewReader(b))
	if _, err := br.Verify(); !errors.Is(err, bundle.ErrBad) {
		t.Errorf("Verify before reading: %v", err)
	}
}

// FuzzBundleReader: whatever the bytes, the bundle reader returns items or
// an error, never panics or hangs; and a bundle that verifies gives back
// exactly what its index lists.
func FuzzBundleReader(f *testing.F) {
	for _, sizes := range [][]int{nil, {0}, {300}, {10, 2000, 0}} {
		b, _, _ := bundleOf(f, sizes...)
		f.Add(b)
	}
	id := strings.Repeat("ab", idLen)
	f.Add(tarOf(f, []entry{{tar.Header{Typeflag: tar.TypeSymlink, Name: "items/" + id + ".age", Linkname: "/etc/passwd"}, nil}}))
	f.Add(tarOf(f, []entry{{tar.Header{Typeflag: tar.TypeReg, Name: "index.json"}, []byte(`{"format":"testimony-bundle/v1","items":[{"id":"` + id + `"}]}`)}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, bad, err := readBundle(b)
		if err != nil {
			if !errors.Is(err, bundle.ErrBad) {
				t.Fatalf("error not wrapping bundle.ErrBad: %v", err)
			}
			return
		}
		if bad != nil {
			t.Fatalf("Verify gave bad ids %v with no error", bad)
		}
		// Verified: the index lists exactly the items read.
		br := bundle.NewReader(bytes.NewReader(b))
		for {
			if _, _, err := br.Next(); err != nil {
				break
			}
		}
		idx := br.Index()
		if idx == nil || len(idx.Items) != len(got) {
			t.Fatalf("verified bundle: %d items read, index %v", len(got), idx)
		}
		for _, e := range idx.Items {
			sum := sha256.Sum256(got[e.ID])
			if hex.EncodeToString(sum[:]) != e.SHA256 {
				t.Fatalf("verified item %s does not match its index entry", e.ID)
			}
		}
	})
}
