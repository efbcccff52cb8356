package store

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// BundleFormat names the version of index.json written by [WriteBundle].
const BundleFormat = "testimony-bundle/v1"

// BundleIndex is a bundle's index.json: what it holds, verifiable offline.
type BundleIndex struct {
	Format string        `json:"format"`
	Day    string        `json:"day"` // when the bundle was made, UTC day
	Items  []BundleEntry `json:"items"`
}

// BundleEntry describes one item of a bundle.
type BundleEntry struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Day        string `json:"day"`
	Source     string `json:"source"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"` // of the ciphertext
	Recipients string `json:"recipients"`
}

// BundleItemPath is the tar path of an item in a bundle.
func BundleItemPath(id string) string { return "items/" + id + ".age" }

// WriteBundle streams a bundle of the given items to w: a tar of
// items/<id>.age, then index.json with each item's SHA-256. day is the
// bundle's date. Memory use does not depend on the items' sizes. An id
// that names no item gives an error wrapping [ErrNotFound] before anything
// is written.
func (db *DB) WriteBundle(w io.Writer, day string, ids []string) (BundleIndex, error) {
	items := make([]Item, 0, len(ids))
	for _, id := range ids {
		it, err := db.Item(id)
		if err != nil {
			return BundleIndex{Format: BundleFormat, Day: day, Items: []BundleEntry{}}, err
		}
		items = append(items, it)
	}
	return db.writeBundle(w, day, items)
}

// WriteBundleItems is [DB.WriteBundle] for records the caller has already
// read (from [DB.Items]), in the order given. An item deleted since gives
// an error wrapping [ErrNotFound], possibly after part of the bundle was
// written.
func (db *DB) WriteBundleItems(w io.Writer, day string, items []Item) (BundleIndex, error) {
	return db.writeBundle(w, day, items)
}

// ErrBadBundle is wrapped by errors about a bundle's structure.
var ErrBadBundle = errors.New("bad bundle")

var itemPathRE = regexp.MustCompile(`^items/([0-9a-f]{32})\.age$`)

// MaxIndex bounds the size of a bundle's index.json.
const MaxIndex = 64 << 20

// BundleReader reads a bundle as a stream: each item in turn, then the
// index. Items are checked against the index only once it has been read,
// at the end, so callers keep what they extracted provisional until
// [BundleReader.Verify] succeeds.
type BundleReader struct {
	tr     *tar.Reader
	hashes map[string]string
	sizes  map[string]int64
	order  []string
	index  *BundleIndex
	cur    *bundleItem
}

type bundleItem struct {
	id string
	r  io.Reader
	h  hashWriter
	n  int64
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func (b *bundleItem) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	if err != nil && err != io.EOF {
		// A truncated item (tar's unexpected EOF) is a bad bundle, as
		// every other error of the reader (found by FuzzBundleReader).
		err = fmt.Errorf("%w: item %s: %v", ErrBadBundle, b.id, err)
	}
	return n, err
}

// NewBundleReader starts reading a bundle from r.
func NewBundleReader(r io.Reader) *BundleReader {
	return &BundleReader{tr: tar.NewReader(r), hashes: map[string]string{}, sizes: map[string]int64{}}
}

// Next returns the id of the next item and a reader of its ciphertext, or
// io.EOF when the items are done and the index has been read.
func (b *BundleReader) Next() (string, io.Reader, error) {
	if err := b.finishCurrent(); err != nil {
		return "", nil, err
	}
	for {
		h, err := b.tr.Next()
		if err == io.EOF {
			if b.index == nil {
				return "", nil, fmt.Errorf("%w: no index.json", ErrBadBundle)
			}
			return "", nil, io.EOF
		}
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
		}
		if h.Typeflag == tar.TypeDir && (h.Name == "items/" || h.Name == "items") {
			continue // as tar tools write it; any other directory is refused
		}
		if h.Typeflag != tar.TypeReg {
			return "", nil, fmt.Errorf("%w: entry %q is not a regular file", ErrBadBundle, h.Name)
		}
		if h.Name == "index.json" {
			if b.index != nil {
				return "", nil, fmt.Errorf("%w: two index.json", ErrBadBundle)
			}
			if h.Size > MaxIndex {
				return "", nil, fmt.Errorf("%w: index.json of %d bytes", ErrBadBundle, h.Size)
			}
			var idx BundleIndex
			if err := json.NewDecoder(io.LimitReader(b.tr, MaxIndex)).Decode(&idx); err != nil {
				return "", nil, fmt.Errorf("%w: index.json: %v", ErrBadBundle, err)
			}
			if idx.Format != BundleFormat {
				return "", nil, fmt.Errorf("%w: index format %q, want %q", ErrBadBundle, idx.Format, BundleFormat)
			}
			b.index = &idx
			continue
		}
		m := itemPathRE.FindStringSubmatch(h.Name)
		if m == nil {
			return "", nil, fmt.Errorf("%w: unexpected entry %q", ErrBadBundle, strings.ToValidUTF8(h.Name, "?"))
		}
		if _, dup := b.hashes[m[1]]; dup {
			return "", nil, fmt.Errorf("%w: item %s twice", ErrBadBundle, m[1])
		}
		b.cur = &bundleItem{id: m[1], r: b.tr, h: sha256.New()}
		return m[1], b.cur, nil
	}
}

func (b *BundleReader) finishCurrent() error {
	if b.cur == nil {
		return nil
	}
	if _, err := io.Copy(io.Discard, b.cur); err != nil {
		return fmt.Errorf("%w: item %s: %v", ErrBadBundle, b.cur.id, err)
	}
	b.hashes[b.cur.id] = hex.EncodeToString(b.cur.h.Sum(nil))
	b.sizes[b.cur.id] = b.cur.n
	b.order = append(b.order, b.cur.id)
	b.cur = nil
	return nil
}

// Index returns the bundle's index once Next has returned io.EOF.
func (b *BundleReader) Index() *BundleIndex { return b.index }

// Verify checks, after Next returned io.EOF, that the items read match the
// index exactly: the same set, sizes and SHA-256 digests. It returns the
// ids that do not match, and an error naming the first.
func (b *BundleReader) Verify() (bad []string, err error) {
	if b.index == nil {
		return nil, fmt.Errorf("%w: no index.json", ErrBadBundle)
	}
	listed := map[string]bool{}
	for _, e := range b.index.Items {
		if listed[e.ID] {
			bad = append(bad, e.ID) // listed twice
			continue
		}
		listed[e.ID] = true
		h, ok := b.hashes[e.ID]
		if !ok {
			bad = append(bad, e.ID)
			continue
		}
		if h != e.SHA256 || b.sizes[e.ID] != e.Size {
			bad = append(bad, e.ID)
		}
	}
	for _, id := range b.order {
		if !listed[id] {
			bad = append(bad, id)
		}
	}
	if len(bad) > 0 {
		return bad, fmt.Errorf("%w: item %s does not match index.json (missing, extra, or altered)", ErrBadBundle, bad[0])
	}
	return nil, nil
}
