package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
)

var itemPathRE = regexp.MustCompile(`^items/([0-9a-f]{32})\.age$`)

// Reader reads a bundle as a stream: each item in turn, then the
// index. Items are checked against the index only once it has been read,
// at the end, so callers keep what they extracted provisional until
// [Reader.Verify] succeeds.
type Reader struct {
	tr     *tar.Reader
	hashes map[string]string
	sizes  map[string]int64
	order  []string
	index  *Index
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
		// every other error of the reader is.
		err = fmt.Errorf("%w: item %s: %v", ErrBad, b.id, err)
	}
	return n, err
}

// NewReader starts reading a bundle from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{tr: tar.NewReader(r), hashes: map[string]string{}, sizes: map[string]int64{}}
}

// Next returns the id of the next item and a reader of its ciphertext, or
// io.EOF when the items are done and the index has been read.
func (b *Reader) Next() (string, io.Reader, error) {
	if err := b.finishCurrent(); err != nil {
		return "", nil, err
	}
	for {
		h, err := b.tr.Next()
		if err == io.EOF {
			if b.index == nil {
				return "", nil, fmt.Errorf("%w: no index.json", ErrBad)
			}
			return "", nil, io.EOF
		}
		if err != nil {
			return "", nil, fmt.Errorf("%w: %v", ErrBad, err)
		}
		if h.Typeflag == tar.TypeDir && (h.Name == "items/" || h.Name == "items") {
			continue // as tar tools write it; any other directory is refused
		}
		if h.Typeflag != tar.TypeReg {
			return "", nil, fmt.Errorf("%w: entry %q is not a regular file", ErrBad, h.Name)
		}
		if h.Name == "index.json" {
			if b.index != nil {
				return "", nil, fmt.Errorf("%w: two index.json", ErrBad)
			}
			if h.Size > MaxIndex {
				return "", nil, fmt.Errorf("%w: index.json of %d bytes", ErrBad, h.Size)
			}
			var idx Index
			if err := json.NewDecoder(io.LimitReader(b.tr, MaxIndex)).Decode(&idx); err != nil {
				return "", nil, fmt.Errorf("%w: index.json: %v", ErrBad, err)
			}
			if idx.Format != Format {
				return "", nil, fmt.Errorf("%w: index format %q, want %q", ErrBad, idx.Format, Format)
			}
			b.index = &idx
			continue
		}
		m := itemPathRE.FindStringSubmatch(h.Name)
		if m == nil {
			return "", nil, fmt.Errorf("%w: unexpected entry %q", ErrBad, strings.ToValidUTF8(h.Name, "?"))
		}
		if _, dup := b.hashes[m[1]]; dup {
			return "", nil, fmt.Errorf("%w: item %s twice", ErrBad, m[1])
		}
		b.cur = &bundleItem{id: m[1], r: b.tr, h: sha256.New()}
		return m[1], b.cur, nil
	}
}

func (b *Reader) finishCurrent() error {
	if b.cur == nil {
		return nil
	}
	if _, err := io.Copy(io.Discard, b.cur); err != nil {
		return fmt.Errorf("%w: item %s: %v", ErrBad, b.cur.id, err)
	}
	b.hashes[b.cur.id] = hex.EncodeToString(b.cur.h.Sum(nil))
	b.sizes[b.cur.id] = b.cur.n
	b.order = append(b.order, b.cur.id)
	b.cur = nil
	return nil
}

// Index returns the bundle's index once Next has returned io.EOF.
func (b *Reader) Index() *Index { return b.index }

// Verify checks, after Next returned io.EOF, that the items read match the
// index exactly: the same set, sizes and SHA-256 digests. It returns the
// ids that do not match, and an error naming the first.
func (b *Reader) Verify() (bad []string, err error) {
	if b.index == nil {
		return nil, fmt.Errorf("%w: no index.json", ErrBad)
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
		return bad, fmt.Errorf("%w: item %s does not match index.json (missing, extra, or altered)", ErrBad, bad[0])
	}
	return nil, nil
}

// ReadItem is an item as read from a bundle's tar.
type ReadItem struct {
	ID     string
	SHA256 string
	Size   int64
}

// Read returns, after Next returned io.EOF, the items read, in the order
// of the tar.
func (b *Reader) Read() []ReadItem {
	out := make([]ReadItem, 0, len(b.order))
	for _, id := range b.order {
		out = append(out, ReadItem{ID: id, SHA256: b.hashes[id], Size: b.sizes[id]})
	}
	return out
}
