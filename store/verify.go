package store

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// bbolt trusts its pages: a damaged page header (a huge overflow count, a
// child that points back up the tree, an element past the end of its page)
// makes its own check loop for hours, fault, or recurse until the stack
// overflows, none of which a recover can catch. walkTree reads the tree of
// pages from the file with bounds on everything, so that Check reports
// such damage before bbolt walks the tree.

// bbolt page layout.
const (
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	elementSize      = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	inBucketSize     = 16 // root u64, sequence u64
)

type treeWalker struct {
	f        io.ReaderAt
	ps       uint64
	hwm      uint64
	seen     map[uint64]bool
	problems []string
}

func (w *treeWalker) fail(format string, a ...any) {
	if len(w.problems) < 20 {
		w.problems = append(w.problems, fmt.Sprintf(format, a...))
	}
}

// walkTree checks the page tree of the file under the meta page a read or
// write transaction would use. It returns the problems found.
func walkTree(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return []string{err.Error()}
	}
	return walkFile(f, st.Size())
}

// walkFile is walkTree on the bytes of a file of size bytes.
func walkFile(f io.ReaderAt, size int64) []string {
	use, err := readMeta(f, size)
	if err != nil {
		return []string{err.Error()}
	}
	w := &treeWalker{f: f, ps: uint64(use.pageSize), hwm: use.pgid, seen: map[uint64]bool{}}
	w.walk(use.root)
	if use.freelist != pgidNoFreelist {
		w.checkFreelist(use.freelist)
	}
	return w.problems
}

// read reads n bytes of page id, from byte off of the page.
func (w *treeWalker) read(id, off, n uint64) ([]byte, bool) {
	b := make([]byte, n)
	if _, err := w.f.ReadAt(b, int64(id*w.ps+off)); err != nil {
		w.fail("page %d: %v", id, err)
		return nil, false
	}
	return b, true
}

// header reads and checks a page header: it must name itself and fit below
// the high water mark.
func (w *treeWalker) header(id uint64) (flags uint16, count int, size uint64, ok bool) {
	if id < 2 || id >= w.hwm {
		w.fail("page %d: out of bounds (%d pages)", id, w.hwm)
		return 0, 0, 0, false
	}
	h, ok := w.read(id, 0, pageHeaderSize)
	if !ok {
		return 0, 0, 0, false
	}
	le := binary.LittleEndian
	if got := le.Uint64(h); got != id {
		w.fail("page %d: header names page %d", id, got)
		return 0, 0, 0, false
	}
	overflow := uint64(le.Uint32(h[12:]))
	if id+overflow >= w.hwm {
		w.fail("page %d: %d overflow pages run past the end (%d pages)", id, overflow, w.hwm)
		return 0, 0, 0, false
	}
	return le.Uint16(h[8:]), int(le.Uint16(h[10:])), (overflow + 1) * w.ps, true
}

// walk visits the subtree at page id, without recursion: a stack of ids
// and a set of pages seen bound the work by the number of pages.
func (w *treeWalker) walk(root uint64) {
	stack := []uint64{root}
	le := binary.LittleEndian
	for len(stack) > 0 && len(w.problems) < 20 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if w.seen[id] {
			w.fail("page %d: referenced twice", id)
			continue
		}
		w.seen[id] = true
		flags, count, size, ok := w.header(id)
		if !ok {
			continue
		}
		if pageHeaderSize+uint64(count)*elementSize > size {
			w.fail("page %d: %d elements do not fit in %d bytes", id, count, size)
			continue
		}
		elems, ok := w.read(id, pageHeaderSize, uint64(count)*elementSize)
		if !ok {
			continue
		}
		switch flags {
		case branchPageFlag:
			if count == 0 {
				w.fail("page %d: empty branch", id)
			}
			for i := range count {
				e := elems[i*elementSize:]
				if !w.fits(id, size, i, le.Uint32(e), le.Uint32(e[4:]), 0) {
					break
				}
				stack = append(stack, le.Uint64(e[8:]))
			}
		case leafPageFlag:
			for i := range count {
				e := elems[i*elementSize:]
				eflags, pos, ksize, vsize := le.Uint32(e), le.Uint32(e[4:]), le.Uint32(e[8:]), le.Uint32(e[12:])
				if !w.fits(id, size, i, pos, ksize, vsize) {
					break
				}
				if eflags&bucketLeafFlag == 0 {
					continue
				}
				// A bucket: its root page, or an inline page in its value.
				if vsize < inBucketSize {
					w.fail("page %d: bucket element %d of %d bytes", id, i, vsize)
					continue
				}
				off := pageHeaderSize + uint64(i)*elementSize + uint64(pos) + uint64(ksize)
				v, ok := w.read(id, off, uint64(vsize))
				if !ok {
					continue
				}
				if r := le.Uint64(v); r != 0 {
					stack = append(stack, r)
				} else {
					w.checkInline(id, v[inBucketSize:])
				}
			}
		default:
			w.fail("page %d: type %#x where a branch or leaf page belongs", id, flags)
		}
	}
}

// fits checks that element i's key and value lie inside the page.
func (w *treeWalker) fits(id, size uint64, i int, pos, ksize, vsize uint32) bool {
	end := pageHeaderSize + uint64(i)*elementSize + uint64(pos) + uint64(ksize) + uint64(vsize)
	if end > size {
		w.fail("page %d: element %d ends at byte %d of a %d-byte page", id, i, end, size)
		return false
	}
	return true
}

// checkInline checks an inline bucket's page, held in a bucket's value. An
// inline bucket holds no buckets.
func (w *treeWalker) checkInline(parent uint64, p []byte) {
	le := binary.LittleEndian
	if len(p) < pageHeaderSize {
		w.fail("page %d: inline bucket of %d bytes", parent, len(p))
		return
	}
	count := int(le.Uint16(p[10:]))
	if le.Uint16(p[8:]) != leafPageFlag || pageHeaderSize+count*elementSize > len(p) {
		w.fail("page %d: damaged inline bucket", parent)
		return
	}
	for i := range count {
		e := p[pageHeaderSize+i*elementSize:]
		end := pageHeaderSize + i*elementSize + int(le.Uint32(e[4:])) + int(le.Uint32(e[8:])) + int(le.Uint32(e[12:]))
		if le.Uint32(e)&bucketLeafFlag != 0 || end > len(p) {
			w.fail("page %d: damaged inline bucket element %d", parent, i)
			return
		}
	}
}

// checkFreelist checks the freelist page: its ids must fit in it.
func (w *treeWalker) checkFreelist(id uint64) {
	flags, count, size, ok := w.header(id)
	if !ok {
		return
	}
	if flags != freelistPageFlag {
		w.fail("freelist page %d: type %#x", id, flags)
		return
	}
	n, skip := uint64(count), uint64(0)
	if count == 0xFFFF {
		b, ok := w.read(id, pageHeaderSize, 8)
		if !ok {
			return
		}
		n, skip = binary.LittleEndian.Uint64(b), 1
	}
	if n > w.hwm || pageHeaderSize+(skip+n)*8 > size {
		w.fail("freelist page %d: %d ids do not fit in %d bytes", id, n, size)
		return
	}
	// bbolt hands these pages out to writers: one past the end would make
	// the first write at Open fail at a huge or negative offset, one the
	// tree uses would be overwritten.
	b, ok := w.read(id, pageHeaderSize+skip*8, n*8)
	if !ok {
		return
	}
	for i := range n {
		switch free := binary.LittleEndian.Uint64(b[i*8:]); {
		case free < 2 || free >= w.hwm:
			w.fail("freelist page %d: free page %d out of bounds (%d pages)", id, free, w.hwm)
		case w.seen[free] || free == id:
			w.fail("freelist page %d: page %d is free and in use", id, free)
		}
	}
}
