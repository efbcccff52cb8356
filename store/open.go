package store

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
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

	// Test hooks, set only by this package's tests; zero values pick the
	// defaults.
	maxBatchSize int // see defaultMaxBatchSize
	chunksPerTx  int // see defaultChunksPerTx
	migrateStep  int // see defaultMigrateStep
}

// defaultMaxBatchSize is how many concurrent commits of small items may
// share one transaction and its fsync (see [DB.batch]): enough for every
// witness a busy server serves at once, few enough that one transaction
// stays small.
const defaultMaxBatchSize = 256

// DB is an open store.
type DB struct {
	bolt       *bolt.DB
	path       string
	fill       float64 // FillPercent of the chunks bucket: chunksFill
	smallChunk int     // see smallChunkFor
	maxSize    int     // Options.MaxSize
	// maxBatchSize is how many commits share a transaction at most,
	// chunksPerTx how many full chunks an ItemWriter flushes at once, and
	// migrateStep how many records one transaction of a migration moves:
	// the defaults, or what a test set in Options.
	maxBatchSize int
	chunksPerTx  int
	migrateStep  int
	group        groupCommit // see batch
	// capLock is held shared by every write transaction, and alone by a
	// deletion that runs with the size cap lifted (see updateFreeing).
	capLock sync.RWMutex
	// apart is set for a file of schema 1 or 2, opened read-only: its
	// records are in the items bucket, apart from their chunks, or some
	// here and some there if a migration to schema 3 was cut short.
	apart bool
}

// Open opens or creates the store at path, migrates it to schemaVersion
// and removes orphan chunks left by interrupted writes. A file that is not
// a sound store gives an error wrapping [ErrCorrupt]; a file held by
// another process, [ErrLocked] once [Options.LockTimeout] has passed.
func Open(path string, o Options) (db *DB, err error) {
	if o.LockTimeout == 0 {
		o.LockTimeout = time.Second
	}
	if o.maxBatchSize == 0 {
		o.maxBatchSize = defaultMaxBatchSize
	}
	if o.chunksPerTx == 0 {
		o.chunksPerTx = defaultChunksPerTx
	}
	if o.migrateStep == 0 {
		o.migrateStep = defaultMigrateStep
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
	db = &DB{bolt: b, path: path, fill: chunksFill, smallChunk: smallChunkFor(b.Info().PageSize, chunksFill), maxSize: o.MaxSize,
		maxBatchSize: o.maxBatchSize, chunksPerTx: o.chunksPerTx, migrateStep: o.migrateStep}
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

// Close closes the file.
func (db *DB) Close() error { return db.bolt.Close() }

// Path is the file the store lives in.
func (db *DB) Path() string { return db.path }
