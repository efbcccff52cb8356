package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the version of the layout this code writes. Open
// migrates older files forward and refuses newer ones.
const SchemaVersion = 1

// ChunkSize is the size of the chunks an item's bytes are kept in.
const ChunkSize = 1 << 20

var (
	bucketMeta   = []byte("meta")
	bucketItems  = []byte("items")
	bucketChunks = []byte("chunks")
	keySchema    = []byte("schema")
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
	// coalesced into one transaction; zero values pick 64 and 2 ms.
	MaxBatchSize  int
	MaxBatchDelay time.Duration
}

// DB is an open store.
type DB struct {
	bolt *bolt.DB
	path string
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
// and removes orphan chunks left by interrupted writes.
func Open(path string, o Options) (*DB, error) {
	if o.LockTimeout == 0 {
		o.LockTimeout = time.Second
	}
	if o.MaxBatchSize == 0 {
		o.MaxBatchSize = 64
	}
	if o.MaxBatchDelay == 0 {
		o.MaxBatchDelay = 2 * time.Millisecond
	}
	if _, err := os.Stat(path); err == nil && !o.ReadOnly {
		// bbolt panics on some damaged files; check the header first.
		if err := checkHeader(path); err != nil {
			return nil, err
		}
	}
	b, err := openBolt(path, o)
	if err != nil {
		return nil, err
	}
	b.MaxBatchSize = o.MaxBatchSize
	b.MaxBatchDelay = o.MaxBatchDelay
	db := &DB{bolt: b, path: path}
	if !o.ReadOnly {
		if err := db.migrate(); err != nil {
			b.Close()
			return nil, err
		}
		if _, err := db.removeOrphans(); err != nil {
			b.Close()
			return nil, err
		}
	} else if err := db.checkVersion(); err != nil {
		b.Close()
		return nil, err
	}
	return db, nil
}

func openBolt(path string, o Options) (b *bolt.DB, err error) {
	defer func() {
		// bbolt may panic on a damaged file; report it as an error.
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	b, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        o.LockTimeout,
		ReadOnly:       o.ReadOnly,
		MaxSize:        o.MaxSize,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: false,
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	case err != nil:
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return b, nil
}

// checkHeader refuses a file that is not a bbolt database before bbolt
// maps it.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return nil
	}
	var hdr [32]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("%w: %s: too short", ErrCorrupt, path)
	}
	// Page header (16 bytes) then meta: magic 0xED0CDAED.
	if binary.LittleEndian.Uint32(hdr[16:20]) != 0xED0CDAED {
		return fmt.Errorf("%w: %s: not a testimony database", ErrCorrupt, path)
	}
	return nil
}

func (db *DB) checkVersion() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		v := schemaOf(tx)
		if v > SchemaVersion {
			return fmt.Errorf("%w: schema %d, this version knows %d", ErrNewer, v, SchemaVersion)
		}
		return nil
	})
}

func schemaOf(tx *bolt.Tx) int {
	m := tx.Bucket(bucketMeta)
	if m == nil {
		return 0
	}
	v := m.Get(keySchema)
	if len(v) != 8 {
		return 0
	}
	return int(binary.BigEndian.Uint64(v))
}

// migrations[i] takes a file from schema i to i+1.
var migrations = []func(tx *bolt.Tx) error{
	func(tx *bolt.Tx) error { // 0 → 1: the first layout
		for _, b := range [][]byte{bucketMeta, bucketItems, bucketChunks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
}

func (db *DB) migrate() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		v := schemaOf(tx)
		if v > SchemaVersion {
			return fmt.Errorf("%w: schema %d, this version knows %d", ErrNewer, v, SchemaVersion)
		}
		for ; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("migrating schema %d to %d: %w", v, v+1, err)
			}
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion))
	})
}

// removeOrphans deletes chunks that belong to no item record: the remains
// of writes that never committed.
func (db *DB) removeOrphans() (int, error) {
	n := 0
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		items, chunks := tx.Bucket(bucketItems), tx.Bucket(bucketChunks)
		c := chunks.Cursor()
		var orphans [][]byte
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) < idLen || items.Get(k[:idLen]) == nil {
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

// ItemWriter writes one item's bytes. It is not safe for concurrent use.
type ItemWriter struct {
	db     *DB
	id     []byte
	buf    []byte
	chunks int
	size   int64
	done   bool
}

// NewItem starts writing an item.
func (db *DB) NewItem() *ItemWriter {
	return &ItemWriter{db: db, id: newID(), buf: make([]byte, 0, 64<<10)}
}

// ID is the hex id the item will have.
func (w *ItemWriter) ID() string { return hex.EncodeToString(w.id) }

// Write buffers p and writes each full chunk to the store.
func (w *ItemWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("write after commit or abort")
	}
	n := len(p)
	for len(p) > 0 {
		room := ChunkSize - len(w.buf)
		k := min(room, len(p))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == ChunkSize {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	w.size += int64(n)
	return n, nil
}

func (w *ItemWriter) flush() error {
	key := chunkKey(w.id, w.chunks)
	val := w.buf
	err := w.db.bolt.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChunks).Put(key, val)
	})
	if err != nil {
		return mapFull(err)
	}
	w.chunks++
	w.buf = w.buf[:0]
	return nil
}

// Commit writes the last chunk and the record in one transaction, and
// makes the item visible. The record's ID, Size and Chunks are set here.
// When Commit returns nil the item is on disk (fsync'd).
func (w *ItemWriter) Commit(it Item) (Item, error) {
	if w.done {
		return Item{}, errors.New("commit after commit or abort")
	}
	w.done = true
	it.ID = w.ID()
	it.Size = w.size
	it.Chunks = w.chunks
	if len(w.buf) > 0 {
		it.Chunks++
	}
	rec, err := json.Marshal(it)
	if err != nil {
		return Item{}, err
	}
	last := w.buf
	seq := w.chunks
	err = w.db.bolt.Batch(func(tx *bolt.Tx) error {
		if len(last) > 0 {
			if err := tx.Bucket(bucketChunks).Put(chunkKey(w.id, seq), last); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketItems).Put(w.id, rec)
	})
	if err != nil {
		w.abort()
		return Item{}, mapFull(err)
	}
	w.buf = nil
	return it, nil
}

// Abort discards what was written. Safe to call after Commit (it then does
// nothing) and more than once.
func (w *ItemWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.abort()
}

func (w *ItemWriter) abort() {
	w.buf = nil
	if w.chunks == 0 {
		return
	}
	// Best effort: what remains is removed as orphans at the next Open.
	w.db.bolt.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketItems).Get(w.id) != nil {
			return nil
		}
		return deleteChunks(tx, w.id)
	})
}

func deleteChunks(tx *bolt.Tx, id []byte) error {
	c := tx.Bucket(bucketChunks).Cursor()
	for k, _ := c.Seek(id); k != nil && bytes.HasPrefix(k, id); k, _ = c.Seek(id) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
