package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the version of the layout this code writes. Open
// migrates older files forward and refuses newer ones; opened read-only,
// an older file is read as it is.
const SchemaVersion = 3

// ChunkSize is the size of the chunks an item's bytes are kept in.
const ChunkSize = 1 << 20

// The layout (schema 3). An item's record is kept under its 16-byte id in
// the chunks bucket, and its bytes in that bucket after it, chunk seq
// under id||seq (seq big-endian, 4 bytes): the record sorts first, then
// the chunks in order. Ids are random, so each new item lands in a random
// leaf of the tree; a record kept apart, in a bucket of its own (schemas
// 1 and 2: the items bucket), put each small item in two random leaves
// instead of one, and its leaf and branch pages were a fifth of the pages
// a batch of small items wrote (BenchmarkStoreWrite4KiB). Listing the
// records seeks from one record past the item's chunks to the next, so
// it reads one leaf per item, not the leaves of its chunks.
var (
	bucketMeta   = []byte("meta")
	bucketItems  = []byte("items") // the records of schemas 1 and 2
	bucketChunks = []byte("chunks")
	// bucketPending holds the ids of items whose chunks are being written
	// and whose record is not committed yet: their chunks are work in
	// progress (or the remains of an interrupted write), not damage. Open
	// removes them.
	bucketPending = []byte("pending")
	keySchema     = []byte("schema")
)

// Errors.
var (
	ErrNotFound = errors.New("not found")
	ErrLocked   = errors.New("the database is in use by another process (is testimonyd serving? stop it, or try again)")
	ErrNewer    = errors.New("the database was written by a newer version of testimony")
	ErrCorrupt  = errors.New("the database file is damaged")
	ErrFull     = errors.New("the database has reached its size limit")
)

// Options tune Open.
type Options struct {
	// LockTimeout bounds the wait for the file lock held by another
	// process; 0 means one second.
	LockTimeout time.Duration
	// ReadOnly opens the file without writing (no migrations, no cleanup).
	ReadOnly bool
	// MaxSize caps the file's size in bytes; 0 means no cap.
	MaxSize int
	// MaxBatchSize and MaxBatchDelay tune how concurrent small writes are
	// coalesced into one transaction; zero values pick
	// [DefaultMaxBatchSize] and [DefaultMaxBatchDelay].
	MaxBatchSize  int
	MaxBatchDelay time.Duration
}

// Defaults for [Options.MaxBatchSize] and [Options.MaxBatchDelay]. bbolt's
// own (1000 calls, 10 ms) make every batch wait for its timer when fewer
// writers than that run at once, which is slower than plain transactions.
// A batch that fills runs at once: measured here with 32 writers of 4 KiB
// items, 32 calls / 2 ms gave 9,700 items/s, 64 / 2 ms 2,700–5,400,
// 1000 / 10 ms 900, and shorter delays (0.2–0.5 ms) split batches and lost
// half.
const (
	DefaultMaxBatchSize  = 32
	DefaultMaxBatchDelay = 2 * time.Millisecond
)

// DB is an open store.
type DB struct {
	bolt       *bolt.DB
	path       string
	fill       float64 // FillPercent of the chunks bucket: chunksFill
	smallChunk int     // see smallChunkFor
	maxSize    int     // Options.MaxSize
	// capLock is held shared by every write transaction, and alone by a
	// deletion that runs with the size cap lifted (see updateFreeing).
	capLock sync.RWMutex
	// apart is set for a file of schema 1 or 2, opened read-only: its
	// records are in the items bucket, apart from their chunks, or some
	// here and some there if a migration to schema 3 was cut short.
	apart bool
}

// Item is the record of one stored object.
type Item struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Day        string `json:"day"` // YYYY-MM-DD, UTC
	Size       int64  `json:"size"`
	Recipients string `json:"recipients"` // fingerprint of the recipient set
	Source     string `json:"source"`     // pseudonym of the source
	Chunks     int    `json:"chunks"`
}

// Open opens or creates the store at path, migrates it to [SchemaVersion]
// and removes orphan chunks left by interrupted writes. A file that is not
// a sound store gives an error wrapping [ErrCorrupt]; a file held by
// another process, [ErrLocked] once [Options.LockTimeout] has passed.
func Open(path string, o Options) (db *DB, err error) {
	if o.LockTimeout == 0 {
		o.LockTimeout = time.Second
	}
	if o.MaxBatchSize == 0 {
		o.MaxBatchSize = DefaultMaxBatchSize
	}
	if o.MaxBatchDelay == 0 {
		o.MaxBatchDelay = DefaultMaxBatchDelay
	}
	if err := checkFile(path, o.ReadOnly); err != nil {
		return nil, err
	}
	if problems := walkTree(path); len(problems) > 0 && !newFile(path) {
		return nil, fmt.Errorf("%w: %s: %s", ErrCorrupt, path, strings.Join(problems, "; "))
	}
	// bbolt panics on some damaged pages, and a page past the end of a
	// truncated file faults: report either as ErrCorrupt, and release the
	// file (and its lock) that bbolt may have left open.
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				closeQuietly(db.bolt)
			} else if file != nil {
				file.Close()
			}
			db, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	b, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      o.LockTimeout,
		ReadOnly:     o.ReadOnly,
		MaxSize:      o.MaxSize,
		FreelistType: bolt.FreelistMapType,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	case err != nil:
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	b.MaxBatchSize = o.MaxBatchSize
	b.MaxBatchDelay = o.MaxBatchDelay
	db = &DB{bolt: b, path: path, fill: chunksFill, smallChunk: smallChunkFor(b.Info().PageSize, chunksFill), maxSize: o.MaxSize}
	if !o.ReadOnly {
		err = db.migrate()
		if err == nil {
			_, err = db.removeOrphans()
		}
	} else {
		var v int
		v, err = db.version()
		db.apart = v == 1 || v == 2
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return db, nil
}

// newFile reports whether path is missing or empty: bbolt makes a new
// store there.
func newFile(path string) bool {
	st, err := os.Stat(path)
	return err != nil || st.Size() == 0
}

func closeQuietly(b *bolt.DB) {
	defer func() { recover() }()
	b.Close()
}

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

func (db *DB) version() (v int, err error) {
	err = db.bolt.View(func(tx *bolt.Tx) error {
		v, err = schemaOf(tx)
		return err
	})
	return v, err
}

// schemaOf returns the file's schema version: 0 for a new file, or
// [ErrNewer] for one this code does not know, or [ErrCorrupt] for a value
// that is no version at all (a damaged page).
func schemaOf(tx *bolt.Tx) (int, error) {
	m := tx.Bucket(bucketMeta)
	if m == nil {
		return 0, nil
	}
	v := m.Get(keySchema)
	if v == nil {
		return 0, nil
	}
	// Versions count up by one per layout; a thousand is far beyond any.
	if len(v) != 8 || binary.BigEndian.Uint64(v) > 1000 {
		return 0, fmt.Errorf("%w: the schema version reads %x", ErrCorrupt, v)
	}
	n := int(binary.BigEndian.Uint64(v))
	if n > SchemaVersion {
		return n, fmt.Errorf("%w: schema %d, this version knows %d", ErrNewer, n, SchemaVersion)
	}
	return n, nil
}

// migrations[i] takes a file from schema i to i+1. One that returns
// errMore did part of its work: that part commits, the file keeps schema
// i, and it runs again in a new transaction. A long migration so takes
// the memory of one step, not of the whole file, and a crash in the
// middle leaves a file that reads and migrates on.
var migrations = []func(tx *bolt.Tx) error{
	func(tx *bolt.Tx) error { // 0 → 1: the first layout
		for _, b := range [][]byte{bucketMeta, bucketItems, bucketChunks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
	func(tx *bolt.Tx) error { // 1 → 2: pending writes are recorded
		_, err := tx.CreateBucketIfNotExists(bucketPending)
		return err
	},
	func(tx *bolt.Tx) error { // 2 → 3: records beside their chunks
		items, chunks := tx.Bucket(bucketItems), chunksBucket(tx, chunksFill)
		var keys, values [][]byte
		c := items.Cursor()
		for k, v := c.First(); k != nil && len(keys) < migrateStep; k, v = c.Next() {
			keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
		}
		for i, k := range keys {
			if err := chunks.Put(k, values[i]); err != nil {
				return err
			}
			if err := items.Delete(k); err != nil {
				return err
			}
		}
		if k, _ := items.Cursor().First(); k != nil {
			// In a damaged page whose keys are out of order, a delete
			// can miss its key; the next step would find it again.
			if slices.ContainsFunc(keys, func(m []byte) bool { return bytes.Equal(m, k) }) {
				return fmt.Errorf("%w: record %x cannot be moved", ErrCorrupt, k)
			}
			return errMore
		}
		return tx.DeleteBucket(bucketItems)
	},
}

// errMore is returned by a migration that did part of its work.
var errMore = errors.New("more to migrate")

// migrateStep is how many records one transaction of the 2 → 3 migration
// moves: each dirties a leaf, held in memory until the commit.
var migrateStep = 5000

// migrate brings the file to [SchemaVersion]. It runs as a deletion does
// at the size cap (updateFreeing): a store at its cap must still open.
func (db *DB) migrate() error {
	for {
		more := false
		err := db.updateFreeing(func(tx *bolt.Tx) error {
			v, err := schemaOf(tx)
			if err != nil {
				return err
			}
			for ; v < SchemaVersion; v++ {
				err := migrations[v](tx)
				if more = err == errMore; more {
					break
				}
				if err != nil {
					return fmt.Errorf("migrating schema %d to %d: %w", v, v+1, err)
				}
			}
			m, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return m.Put(keySchema, binary.BigEndian.AppendUint64(nil, uint64(v)))
		})
		if err != nil || !more {
			return err
		}
	}
}

// removeOrphans deletes chunks that belong to no item record: the remains
// of writes that never committed. It runs at Open, before any writer.
func (db *DB) removeOrphans() (int, error) {
	n := 0
	err := db.updateFreeing(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks)
		// Emptied by deleting it whole. If damage took its name, what
		// it held is of no use anyway.
		if err := tx.DeleteBucket(bucketPending); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		if _, err := tx.CreateBucket(bucketPending); err != nil {
			return err
		}
		c := chunks.Cursor()
		var orphans [][]byte
		var rec []byte // the id of the last record: the chunks after it are its own
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			switch {
			case len(k) == idLen:
				rec = append(rec[:0], k...)
			case len(k) < idLen || !bytes.Equal(k[:idLen], rec):
				orphans = append(orphans, bytes.Clone(k))
			}
		}
		for _, k := range orphans {
			if err := chunks.Delete(k); err != nil {
				return err
			}
		}
		n = len(orphans)
		return nil
	})
	return n, err
}

// update runs fn in a write transaction.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	db.capLock.RLock()
	defer db.capLock.RUnlock()
	return db.bolt.Update(fn)
}

// batch runs fn in a write transaction that bbolt may share with other
// callers' (see [bolt.DB.Batch]).
func (db *DB) batch(fn func(*bolt.Tx) error) error {
	db.capLock.RLock()
	defer db.capLock.RUnlock()
	return db.bolt.Batch(fn)
}

// updateFreeing runs fn, a transaction that frees space (it deletes), in
// a write transaction. At the size cap even a deletion needs a few new
// pages (the leaves it rewrites, the freelist) before the pages it frees
// can be reused; refused, it would leave a full store no way out but a
// larger cap. So when the cap refuses it, it runs again with the cap
// lifted, alone: no other write runs meanwhile, and the file grows by
// what this transaction needs, not by bbolt's usual step.
func (db *DB) updateFreeing(fn func(*bolt.Tx) error) error {
	err := db.update(fn)
	if db.maxSize == 0 || !errors.Is(err, bolterrors.ErrMaxSizeReached) {
		return err
	}
	db.capLock.Lock()
	defer db.capLock.Unlock()
	// Every write transaction holds capLock, so bbolt reads these two
	// fields only while this goroutine holds it alone.
	alloc := db.bolt.AllocSize
	db.bolt.MaxSize, db.bolt.AllocSize = 0, 0
	defer func() { db.bolt.MaxSize, db.bolt.AllocSize = db.maxSize, alloc }()
	return db.bolt.Update(fn)
}

// Close closes the file.
func (db *DB) Close() error { return db.bolt.Close() }

// Path is the file the store lives in.
func (db *DB) Path() string { return db.path }

const idLen = 16

func newID() []byte {
	id := make([]byte, idLen)
	rand.Read(id)
	return id
}

// ParseID converts an item id from its hex form.
func ParseID(s string) ([]byte, error) {
	id, err := hex.DecodeString(s)
	if err != nil || len(id) != idLen {
		return nil, fmt.Errorf("item %q: %w", s, ErrNotFound)
	}
	return id, nil
}

func chunkKey(id []byte, seq int) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(id), uint32(seq))
}

func mapFull(err error) error {
	if err != nil && (errors.Is(err, bolterrors.ErrMaxSizeReached) || errors.Is(err, syscallENOSPC)) {
		return fmt.Errorf("%w: %v", ErrFull, err)
	}
	return err
}

// chunksPerTx is how many full chunks an [ItemWriter] keeps before it
// writes them in one transaction. bbolt rewrites a whole leaf, with the
// large values it holds, whenever a key is added to it; a transaction that
// adds several chunks rewrites the item's last leaf once for all of them,
// and syncs once. The transaction runs in the background while the next
// chunksPerTx chunks fill, so a writer holds up to 2*chunksPerTx+1 chunks
// of memory.
var chunksPerTx = 4

// ItemWriter writes one item's bytes. It is not safe for concurrent use.
//
// Full chunks are written chunksPerTx at a time by a flush that runs in
// the background while Write fills the next ones; at most one flush is in
// flight, and the next waits for it. A flush's error is returned by the
// next Write, Rewrite or Commit; the writer is then of no further use
// but to Abort.
type ItemWriter struct {
	db       *DB
	id       []byte
	full     [][]byte   // full chunks not handed to a flush yet
	inFlight [][]byte   // the buffers of the flush in flight
	flushed  chan error // the result of the flush in flight; nil when none
	spare    [][]byte   // chunk buffers written, for reuse
	buf      []byte     // the chunk being filled
	chunks   int        // values put, or being put, by flushes
	ends     []int64    // the end offset in the item of each of those values
	size     int64
	rewrites []rewrite
	err      error // the error of a flush: the writer is broken
	done     bool
}

// NewItem starts writing an item.
func (db *DB) NewItem() *ItemWriter {
	return &ItemWriter{db: db, id: newID()}
}

// ID is the hex id the item will have.
func (w *ItemWriter) ID() string { return hex.EncodeToString(w.id) }

// Write buffers p and writes full chunks to the store, several at a time,
// in the background. It returns the error of a flush that failed since the
// last call.
func (w *ItemWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("write after commit or abort")
	}
	if err := w.poll(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(ChunkSize-len(w.buf), len(p))
		if len(w.buf)+k > cap(w.buf) {
			// Grow by doubling, from what the first write needs: a small
			// item costs its size, a large one a few copies of its first
			// chunk.
			w.buf = append(make([]byte, 0, min(ChunkSize, max(len(w.buf)+k, 2*cap(w.buf)))), w.buf...)
		}
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == ChunkSize {
			w.full = append(w.full, w.buf)
			w.buf = nil
			if len(w.full) >= chunksPerTx {
				if err := w.flush(); err != nil {
					w.size += int64(n - len(p))
					return n - len(p), err
				}
			}
			if k := len(w.spare); k > 0 {
				w.buf, w.spare = w.spare[k-1][:0], w.spare[:k-1]
			}
		}
	}
	w.size += int64(n)
	return n, nil
}

// A rewrite is a change registered by [ItemWriter.Rewrite].
type rewrite struct {
	off int64
	n   int
	fn  func([]byte) error
}

// Rewrite registers a change to bytes the writer already took: fn gets
// the item's bytes [off, off+n) and changes them in place; their length
// does not change. Rewrites run at Commit, in the transaction that makes
// the item visible, in the order registered, each on the bytes the ones
// before left. Like the fn of [ItemWriter.CommitWith], fn may be called
// more than once (commits are batched) and must be idempotent; each call
// gets the same bytes. An error from fn fails the Commit, which then
// aborts the item. Bytes already flushed cost a copy of each value that
// holds them (up to [ChunkSize]), read and put again.
//
// Rewrite refuses n <= 0, off < 0, a range beyond the bytes written so far,
// and a call after Commit or Abort; it returns the error of a background
// flush that failed.
func (w *ItemWriter) Rewrite(off int64, n int, fn func(b []byte) error) error {
	switch {
	case w.done:
		return errors.New("rewrite after commit or abort")
	case n <= 0 || off < 0 || int64(n) > w.size-off:
		return fmt.Errorf("rewrite of %d bytes at %d: the item has %d", n, off, w.size)
	}
	if err := w.poll(); err != nil {
		return err
	}
	w.rewrites = append(w.rewrites, rewrite{off, n, fn})
	return nil
}

// putChunks puts values, numbered from first. It may run more than once
// (Batch), and in the background: it reads no field of the writer but its
// id.
func putChunks(b *bolt.Bucket, id []byte, first int, values [][]byte) error {
	for i, v := range values {
		if err := b.Put(chunkKey(id, first+i), v); err != nil {
			return err
		}
	}
	return nil
}

// tailPieces is how many small pieces begin a large item and end each of
// its transactions. bbolt keeps values inside their leaf, rewrites a whole
// leaf when a key is added to it, and never splits a leaf of four values
// or fewer, however large. Keys are random per item, so a new item lands
// in a leaf beside another item's first or last values; if those were
// MiB chunks, writing a 1 MiB item rewrote several MiB of its neighbours
// (and, at the size cap, needed a run of free pages that no deletion had
// freed). Begun and ended in four small pieces, an item shares leaves
// with its neighbours only through those. Within an item, the next flush
// adds its chunks to the leaf that holds the last values of the one
// before: small pieces there too, so a large item is written about once
// instead of twice (BenchmarkStoreWriteLarge, TestFlushTailPieces).
const tailPieces = 4

// A small item (all its bytes still in the writer at Commit) is kept in
// chunks of at most [DB.smallChunk] bytes rather than in one. bbolt keeps
// values inside their leaf and rewrites a whole leaf, with its two to four
// values, when a key is added; keys are random, so each new item lands in
// another item's leaf. With 4 KiB values, or a padded 20 KiB submission,
// that leaf is many pages, rewritten and synced for every item. Values
// small enough for four of them, with their keys, to fill one page (up to
// chunksFill) let adding an item rewrite little besides its own bytes.
// Large items keep ChunkSize chunks between their small first and last
// pieces: their keys are consecutive and fill leaves of their own.
const smallItemMax = 256 << 10

// chunksFill is the FillPercent of the chunks bucket: bbolt splits a node
// whose elements pass that share of a page. At bbolt's default, 0.5, a
// leaf of small pieces held two of them and left half of every page it
// wrote empty; a full page (1.0) splits, on each random insert, into a
// full node and a nearly empty one, which multiplies branch pages. At 0.9
// a leaf holds four small pieces (smallChunkFor): a 4 KiB item writes 8%
// fewer bytes of pages than at 0.5 with the pieces of a full page, a
// padded 17 KiB submission 25% fewer (TestChunksFilled, one writer); in
// batches of 32, 15% and 30% fewer, so a batch syncs less.
const chunksFill = 0.9

// chunksBucket is the chunks bucket of a write transaction, with its
// FillPercent set to fill: bbolt reads it when the transaction commits,
// so one call in a transaction sets it for all of that transaction's
// writes.
func chunksBucket(tx *bolt.Tx, fill float64) *bolt.Bucket {
	b := tx.Bucket(bucketChunks)
	if b != nil {
		b.FillPercent = fill
	}
	return b
}

// smallChunkFor is the chunk size of small items for a page size and a
// FillPercent: four values with their keys and leaf elements fill that
// share of a page (881 bytes for 4 KiB pages at chunksFill), so that a
// leaf holds four before it splits.
func smallChunkFor(pageSize int, fill float64) int {
	return (int(float64(pageSize)*fill)-pageHeaderSize)/4 - elementSize - idLen - 4
}

// pieces returns the values the next transaction puts, in order: the full
// chunks, and at Commit (final) what is left. A small item goes in small
// chunks; a large one begins with tailPieces small pieces, and what each
// transaction puts ends with tailPieces small pieces (see tailPieces).
// The values are slices of the writer's buffers.
func (w *ItemWriter) pieces(final bool) [][]byte {
	small := w.db.smallChunk
	raw := w.full
	if final {
		if w.chunks == 0 && len(w.full) == 0 && len(w.buf) <= smallItemMax {
			return splitBy(nil, w.buf, small)
		}
		raw = splitBy(raw[:len(raw):len(raw)], w.buf, ChunkSize)
	}
	ends := tailPieces * small
	var out [][]byte
	for i, c := range raw {
		var head, tail []byte
		if i == 0 && w.chunks == 0 {
			n := min(ends, len(c))
			head, c = c[:n], c[n:]
		}
		if i == len(raw)-1 {
			n := min(ends, len(c))
			c, tail = c[:len(c)-n], c[len(c)-n:]
		}
		out = splitBy(out, head, small)
		out = splitBy(out, c, ChunkSize)
		out = splitBy(out, tail, small)
	}
	return out
}

// splitBy appends b to out in pieces of at most n bytes.
func splitBy(out [][]byte, b []byte, n int) [][]byte {
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

// flush starts writing the full chunks in one transaction in the
// background, marking the item as pending: its chunks are on disk but its
// record is not. It first waits for the flush in flight, and returns its
// error.
func (w *ItemWriter) flush() error {
	if err := w.wait(); err != nil {
		return err
	}
	values := w.pieces(false)
	first := w.chunks
	end := w.flushedBytes()
	for _, v := range values {
		end += int64(len(v))
		w.ends = append(w.ends, end)
	}
	w.chunks += len(values)
	// The buffers are the flush's until it ends; w.inFlight is empty
	// (wait), and its array takes the next full chunks.
	w.full, w.inFlight = w.inFlight, w.full
	db, id := w.db, w.id
	done := make(chan error, 1)
	w.flushed = done
	// A transaction of its own, not a batch: a batch of one waits out
	// MaxBatchDelay, and a flush is large enough to need no company.
	go func() {
		done <- mapFull(db.update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketPending).Put(id, nil); err != nil {
				return err
			}
			return putChunks(chunksBucket(tx, db.fill), id, first, values)
		}))
	}()
	return nil
}

// poll collects the flush in flight if it has ended, and returns the
// writer's error.
func (w *ItemWriter) poll() error {
	select {
	case err := <-w.flushed: // never ready when nil
		w.ended(err)
	default:
	}
	return w.err
}

// wait waits for the flush in flight, and returns the writer's error.
func (w *ItemWriter) wait() error {
	if w.flushed != nil {
		w.ended(<-w.flushed)
	}
	return w.err
}

// ended takes back the buffers of the flush that ended with err.
func (w *ItemWriter) ended(err error) {
	w.flushed = nil
	for i, c := range w.inFlight {
		w.spare = append(w.spare, c[:0])
		w.inFlight[i] = nil
	}
	w.inFlight = w.inFlight[:0]
	if err != nil && w.err == nil {
		w.err = err
	}
}

// flushedBytes is how many of the item's bytes flushes put, or are putting.
func (w *ItemWriter) flushedBytes() int64 {
	if len(w.ends) == 0 {
		return 0
	}
	return w.ends[len(w.ends)-1]
}

// Commit writes the remaining chunks and the record in one transaction,
// and makes the item visible. The record's ID, Size and Chunks are set
// here. It first waits for the flush in flight, and fails with its error.
// When Commit returns nil the item is on disk (fsync'd).
func (w *ItemWriter) Commit(it Item) (Item, error) { return w.CommitWith(it, nil) }

// CommitWith is [ItemWriter.Commit] with fn run in the same transaction,
// so that a record of the layers above (the source of a first submission)
// is stored with the item or not at all, at the cost of one fsync. fn may
// run more than once (commits are batched) and must be idempotent.
func (w *ItemWriter) CommitWith(it Item, fn func(Tx) error) (Item, error) {
	if w.done {
		return Item{}, errors.New("commit after commit or abort")
	}
	w.done = true
	if err := w.wait(); err != nil {
		w.abort()
		return Item{}, err
	}
	it.ID = w.ID()
	it.Size = w.size
	values := w.pieces(true)
	it.Chunks = w.chunks + len(values)
	rec, err := json.Marshal(it)
	if err != nil {
		w.abort()
		return Item{}, err
	}
	rw := w.prepareRewrites(values)
	flushed := w.chunks > 0 // and so marked pending
	err = w.db.batch(func(tx *bolt.Tx) error {
		chunks := chunksBucket(tx, w.db.fill)
		if err := rw.apply(chunks); err != nil {
			return err
		}
		if err := putChunks(chunks, w.id, w.chunks, values); err != nil {
			return err
		}
		if flushed {
			if err := tx.Bucket(bucketPending).Delete(w.id); err != nil {
				return err
			}
		}
		if fn != nil {
			if err := fn(Tx{tx}); err != nil {
				return err
			}
		}
		return chunks.Put(w.id, rec)
	})
	if err != nil {
		w.abort()
		return Item{}, mapFull(err)
	}
	w.release()
	return it, nil
}

// rewriter applies an item's rewrites in its commit transaction.
type rewriter struct {
	id       []byte
	rewrites []rewrite
	values   [][]byte // the values the commit puts, after the flushed ones
	flushed  int      // how many values flushes put
	ends     []int64  // the end offset of every value, flushed or not
	// saved holds, for each rewrite, its bytes that are in values as they
	// were before any run (the flushed ones left zero): a run starts from
	// them, so that a run again (Batch) starts from the same bytes.
	saved [][]byte
}

// prepareRewrites returns the rewriter of the commit that puts values,
// or nil if there is no rewrite. The flush in flight has ended.
func (w *ItemWriter) prepareRewrites(values [][]byte) *rewriter {
	if len(w.rewrites) == 0 {
		return nil
	}
	rw := &rewriter{id: w.id, rewrites: w.rewrites, values: values, flushed: w.chunks}
	rw.ends = slices.Grow(slices.Clip(w.ends), len(values))
	end := w.flushedBytes()
	for _, v := range values {
		end += int64(len(v))
		rw.ends = append(rw.ends, end)
	}
	for _, r := range rw.rewrites {
		b := make([]byte, r.n)
		rw.parts(r, func(i, lo, hi, at int) error {
			if i >= rw.flushed {
				copy(b[at:], rw.values[i-rw.flushed][lo:hi])
			}
			return nil
		})
		rw.saved = append(rw.saved, b)
	}
	return rw
}

// parts calls f for each value i that holds bytes of r, in order: the
// value's bytes [lo, hi) are r's bytes from at.
func (rw *rewriter) parts(r rewrite, f func(i, lo, hi, at int) error) error {
	end := r.off + int64(r.n)
	i, _ := slices.BinarySearch(rw.ends, r.off+1) // the first value ending after off
	for ; i < len(rw.ends); i++ {
		start := int64(0)
		if i > 0 {
			start = rw.ends[i-1]
		}
		if start >= end {
			break
		}
		lo, hi := max(r.off, start), min(end, rw.ends[i])
		if err := f(i, int(lo-start), int(hi-start), int(lo-r.off)); err != nil {
			return err
		}
	}
	return nil
}

// apply runs the rewrites in chunks, the chunks bucket of the commit's
// transaction. The flushed values they touch are read from it, copied
// (bbolt's are valid only in the transaction, and read only) and put
// back changed; those not flushed are changed in rw.values, which the
// commit puts after. A run starts by restoring rw.values from
// rw.saved, so that a run again (Batch) starts from the same bytes.
func (rw *rewriter) apply(chunks *bolt.Bucket) error {
	if rw == nil {
		return nil
	}
	for k, r := range rw.rewrites {
		rw.parts(r, func(i, lo, hi, at int) error {
			if i >= rw.flushed {
				copy(rw.values[i-rw.flushed][lo:hi], rw.saved[k][at:])
			}
			return nil
		})
	}
	changed := map[int][]byte{} // copies of flushed values
	value := func(i int) ([]byte, error) {
		if i >= rw.flushed {
			return rw.values[i-rw.flushed], nil
		}
		if v := changed[i]; v != nil {
			return v, nil
		}
		size := rw.ends[i]
		if i > 0 {
			size -= rw.ends[i-1]
		}
		v := chunks.Get(chunkKey(rw.id, i))
		if int64(len(v)) != size {
			return nil, fmt.Errorf("%w: item %x: chunk %d has %d bytes, want %d", ErrCorrupt, rw.id, i, len(v), size)
		}
		changed[i] = bytes.Clone(v)
		return changed[i], nil
	}
	var b []byte
	for _, r := range rw.rewrites {
		b = slices.Grow(b[:0], r.n)[:r.n]
		err := rw.parts(r, func(i, lo, hi, at int) error {
			v, err := value(i)
			if err == nil {
				copy(b[at:], v[lo:hi])
			}
			return err
		})
		if err != nil {
			return err
		}
		if err := r.fn(b); err != nil {
			return fmt.Errorf("rewriting %d bytes at %d: %w", r.n, r.off, err)
		}
		rw.parts(r, func(i, lo, hi, at int) error {
			v, _ := value(i) // each is in rw.values or changed by now
			copy(v[lo:hi], b[at:])
			return nil
		})
	}
	for _, i := range slices.Sorted(maps.Keys(changed)) {
		if err := chunks.Put(chunkKey(rw.id, i), changed[i]); err != nil {
			return err
		}
	}
	return nil
}

// Abort discards what was written, once the flush in flight has ended.
// Safe to call after Commit (it then does nothing) and more than once.
func (w *ItemWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.abort()
}

// abort waits for the flush in flight, then deletes the item's chunks.
func (w *ItemWriter) abort() {
	w.wait()
	w.release()
	if w.chunks == 0 {
		return
	}
	// Best effort: what remains is removed as orphans at the next Open.
	w.db.updateFreeing(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketChunks).Get(w.id) != nil {
			return nil // committed after all
		}
		if err := tx.Bucket(bucketPending).Delete(w.id); err != nil {
			return err
		}
		return deleteChunks(tx, w.id)
	})
}

// release drops the writer's buffers once it is done.
func (w *ItemWriter) release() {
	w.buf, w.full, w.inFlight, w.spare, w.ends, w.rewrites = nil, nil, nil, nil, nil, nil
}

// deleteChunks deletes every key that begins with id: an item's record
// and chunks, or the chunks of a write that never committed.
func deleteChunks(tx *bolt.Tx, id []byte) error {
	c := tx.Bucket(bucketChunks).Cursor()
	var last []byte
	for k, _ := c.Seek(id); k != nil && bytes.HasPrefix(k, id); k, _ = c.Seek(id) {
		// In a damaged page whose keys are out of order, a delete can
		// miss the key it was given; seeking again would find it forever.
		if bytes.Equal(k, last) {
			return fmt.Errorf("%w: key %x cannot be deleted", ErrCorrupt, k)
		}
		last = append(last[:0], k...)
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
