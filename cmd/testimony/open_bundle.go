package main

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"

	"testimony/bundle"
	"testimony/crypto"
)

// Opening a bundle: its index first, then each item not yet opened.

// readIndex reads a bundle's index.json without reading the items (tar
// seeks over them), so that items already opened are not decrypted again.
func readIndex(f io.ReadSeeker) (*bundle.Index, error) {
	tr := tar.NewReader(f)
	var idx *bundle.Index
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Name != "index.json" {
			continue
		}
		if h.Size > bundle.MaxIndex {
			return nil, fmt.Errorf("index.json of %d bytes", h.Size)
		}
		idx = new(bundle.Index)
		if err := json.NewDecoder(tr).Decode(idx); err != nil {
			return nil, fmt.Errorf("index.json: %v", err)
		}
	}
	if idx == nil {
		return nil, errors.New("no index.json")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return idx, nil
}

// openBundle opens each item of a bundle. Items are kept in the temporary
// folder until the whole bundle has been checked against its index.json,
// then moved into place; an item that does not match is dropped.
func (o *opener) openBundle(name string, f *os.File, r io.Reader) {
	idx, err := readIndex(f)
	if err != nil {
		o.fail("%s: damaged or truncated bundle: %v; nothing opened from it", name, err)
		return
	}
	o.pinTeam(name, idx.Team) // carry.go
	entries := map[string]bundle.Entry{}
	for _, e := range idx.Items {
		entries[e.ID] = e
	}
	pending := map[string]*extracted{}
	reported := map[string]bool{}
	dropAll := func() {
		for _, x := range pending {
			o.drop(x)
		}
	}
	br := bundle.NewReader(bufio.NewReaderSize(r, 256<<10))
	for {
		id, ir, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			dropAll()
			o.fail("%s: damaged or truncated bundle: %v; nothing opened from it", name, err)
			return
		}
		e, ok := entries[id]
		if !ok {
			continue // not in index.json: Verify reports it
		}
		what := fmt.Sprintf("%s: item %s", name, id)
		ref := itemRef{id: id, source: e.Source, kind: e.Kind, day: e.Day}
		if ref.kind != crypto.KindAnnotations && o.exists(itemFolder(ref.source, ref.day, ref.kind, ref.id)) {
			o.res.skipped++
			continue
		}
		before := o.res.failed
		x := o.extract(what, ir, ref)
		if x == nil {
			if o.res.failed > before {
				reported[id] = true
			}
			continue
		}
		pending[id] = x
	}
	bad, err := br.Verify()
	if err == nil && !reflect.DeepEqual(br.Index(), idx) {
		err = errors.New("index.json changed while it was read")
	}
	if err != nil && len(bad) == 0 {
		dropAll()
		o.fail("%s: %v; nothing opened from it", name, err)
		return
	}
	if err == nil {
		o.keepEvidence(name, idx, br.Read()) // evidence.go: for testimony verify
	}
	badSet := map[string]bool{}
	sort.Strings(bad)
	for _, id := range bad {
		badSet[id] = true
		if x := pending[id]; x != nil {
			o.drop(x)
		}
		if !reported[id] {
			o.fail("%s: item %s does not match index.json (missing, extra or altered): not opened", name, id)
		}
	}
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !badSet[id] {
			o.place(fmt.Sprintf("%s: item %s", name, id), pending[id])
		}
	}
}
