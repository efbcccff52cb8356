package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The layout of a bbolt meta page: a 16-byte page header, then the meta.
const (
	metaMagic      = 0xED0CDAED
	metaVersion    = 2
	pgidNoFreelist = ^uint64(0)
)

type metaPage struct {
	magic, version, pageSize   uint32
	root, freelist, pgid, txid uint64
	checksumOK                 bool
}

func parseMeta(p []byte) metaPage {
	le := binary.LittleEndian
	m := p[16:]
	h := fnv.New64a()
	h.Write(m[:56])
	return metaPage{
		magic: le.Uint32(m[0:]), version: le.Uint32(m[4:]), pageSize: le.Uint32(m[8:]),
		root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]), pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:]),
		checksumOK: h.Sum64() == le.Uint64(m[56:]),
	}
}

// bbolt's own check of a meta page: the one it may use.
func (m metaPage) sound() bool {
	return m.magic == metaMagic && m.version == metaVersion && m.checksumOK
}

// readMeta returns the meta page that bbolt will use in the file f of size
// bytes, or an error that says why the file is no sound store. Like bbolt,
// it takes the page that passes bbolt's check with the higher txid (the
// older one when the newer was torn); unlike bbolt, it then checks that
// page against the file: its page size must be the file's, read from the
// first meta page and a power of two bbolt can use, and the pages it names
// must lie inside the file (a truncated file's missing pages would fault
// when touched). The first meta page must at least carry the magic number.
// So the returned page's pageSize is safe to divide by and to step
// through the file with.
func readMeta(f io.ReaderAt, size int64) (metaPage, error) {
	hdr := make([]byte, pageHeaderSize+64)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return metaPage{}, errors.New("too short")
	}
	m0 := parseMeta(hdr)
	if m0.magic != metaMagic {
		return metaPage{}, errors.New("not a testimony database")
	}
	ps := m0.pageSize
	if ps < 1024 || ps > 1<<24 || ps&(ps-1) != 0 {
		return metaPage{}, fmt.Errorf("page size %d", ps)
	}
	if size < 2*int64(ps) {
		return metaPage{}, fmt.Errorf("%d bytes, shorter than its two meta pages", size)
	}
	if _, err := f.ReadAt(hdr, int64(ps)); err != nil {
		return metaPage{}, fmt.Errorf("reading the second meta page: %v", err)
	}
	m1 := parseMeta(hdr)
	var use *metaPage
	for _, m := range []*metaPage{&m0, &m1} {
		if m.sound() && (use == nil || m.txid > use.txid) {
			use = m
		}
	}
	switch {
	case use == nil:
		return metaPage{}, errors.New("no valid meta page")
	case use.pageSize != ps:
		return metaPage{}, fmt.Errorf("the meta page in use gives a page size of %d, the file's is %d", use.pageSize, ps)
	case use.root < 2 || use.root >= use.pgid,
		use.freelist != pgidNoFreelist && (use.freelist < 2 || use.freelist >= use.pgid),
		use.pgid > uint64(size)/uint64(ps):
		return metaPage{}, fmt.Errorf("the meta page names %d pages of %d bytes (root %d, freelist %d), the file has %d bytes",
			use.pgid, ps, use.root, use.freelist, size)
	}
	return *use, nil
}

// checkFile refuses, before bbolt maps it, a file that is not a bbolt
// database or whose meta page does not fit the file (see readMeta). A
// missing file, or an empty one opened for writing, is a new store.
func checkFile(path string, readOnly bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s: is a directory", path)
	}
	if st.Size() == 0 {
		if readOnly {
			return fmt.Errorf("%w: %s: empty file", ErrCorrupt, path)
		}
		return nil // bbolt initialises an empty file
	}
	if _, err := readMeta(f, st.Size()); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return nil
}
