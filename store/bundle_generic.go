package store

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"testimony/bundle"
)

// WriteBundle writes the bundle of items to w as [DB.WriteBundleItems]
// does (the same tar, the same index.json), reading each item through
// open, one after the other: for a backend without bbolt's chunk layout.
// An item shorter or longer than its record fails the bundle with
// [ErrCorrupt]. Memory use does not depend on the items' sizes.
func WriteBundle(w io.Writer, day string, items []Item, ev *bundle.Evidence, open func(id string) (io.Reader, error)) (bundle.Index, error) {
	idx := bundle.Index{Format: bundle.Format, Day: day, Items: make([]bundle.Entry, 0, len(items))}
	tw := tar.NewWriter(w)
	js := bundle.NewIndexWriter(day, len(items))
	buf := make([]byte, 256<<10)
	for _, it := range items {
		r, err := open(it.ID)
		if err != nil {
			return idx, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: bundle.ItemPath(it.ID),
			Size: it.Size, Mode: 0o600, Format: tar.FormatPAX}); err != nil {
			return idx, err
		}
		h := sha256.New()
		// One byte more than the record says, to see an item too long.
		n, err := io.CopyBuffer(io.MultiWriter(tw, h), io.LimitReader(r, it.Size+1), buf)
		if err != nil && n <= it.Size {
			return idx, err
		}
		if n != it.Size {
			return idx, fmt.Errorf("%w: item %s has %d bytes, its record says %d", ErrCorrupt, it.ID, n, it.Size)
		}
		e := bundle.Entry{ID: it.ID, Kind: it.Kind, Day: it.Day, Source: it.Source,
			Size: it.Size, SHA256: hex.EncodeToString(h.Sum(nil)), Recipients: it.Recipients}
		if ev != nil {
			e.Proof = ev.Proofs[it.ID]
		}
		idx.Items = append(idx.Items, e)
		js.Add(e)
	}
	b := js.BytesWith(ev)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "index.json",
		Size: int64(len(b)), Mode: 0o600, Format: tar.FormatPAX}); err != nil {
		return idx, err
	}
	if _, err := tw.Write(b); err != nil {
		return idx, err
	}
	return idx, tw.Close()
}
