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

func (m metaPage) valid(fileSize int64) bool {
	return m.magic == metaMagic && m.version == metaVersion && m.checksumOK &&
		m.root >= 2 && m.root < m.pgid && (m.freelist == pgidNoFreelist || m.freelist >= 2 && m.freelist < m.pgid) &&
		m.pgid <= uint64(fileSize)/uint64(m.pageSize)
}

// checkFile refuses, before bbolt maps it, a file that is not a bbolt
// database or that is shorter than its own meta page says (a truncated
// file, whose missing pages would fault when touched). bbolt keeps two
// meta pages and falls back to the older one if the newer one was torn;
// so do we, but the first page must at least carry the magic number.
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
	size := st.Size()
	if size == 0 {
		if readOnly {
			return fmt.Errorf("%w: %s: empty file", ErrCorrupt, path)
		}
		return nil // bbolt initialises an empty file
	}
	hdr := make([]byte, 16+64)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return fmt.Errorf("%w: %s: too short", ErrCorrupt, path)
	}
	m0 := parseMeta(hdr)
	if m0.magic != metaMagic {
		return fmt.Errorf("%w: %s: not a testimony database", ErrCorrupt, path)
	}
	ps := m0.pageSize
	if ps < 1024 || ps > 1<<24 || ps&(ps-1) != 0 {
		return fmt.Errorf("%w: %s: page size %d", ErrCorrupt, path, ps)
	}
	if size < 2*int64(ps) {
		return fmt.Errorf("%w: %s: %d bytes, shorter than its two meta pages", ErrCorrupt, path, size)
	}
	if _, err := f.ReadAt(hdr, int64(ps)); err != nil {
		return fmt.Errorf("%w: %s: reading the second meta page: %v", ErrCorrupt, path, err)
	}
	m1 := parseMeta(hdr)
	// bbolt uses the valid meta page with the higher transaction id.
	var use *metaPage
	for _, m := range []*metaPage{&m0, &m1} {
		if m.magic == metaMagic && m.version == metaVersion && m.checksumOK && m.pageSize == ps &&
			(use == nil || m.txid > use.txid) {
			use = m
		}
	}
	switch {
	case use == nil:
		return fmt.Errorf("%w: %s: no valid meta page", ErrCorrupt, path)
	case !use.valid(size):
		return fmt.Errorf("%w: %s: the meta page names %d pages of %d bytes, the file has %d bytes",
			ErrCorrupt, path, use.pgid, ps, size)
	}
	return nil
}
