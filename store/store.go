package store

import (
	"errors"
	"io"

	"testimony/bundle"
)

// Store is what the server, the console and package records need of a
// store: the methods they call on [*DB] today, and no more. Two backends
// implement it: [*DB] (bbolt, one file, the default) and package
// store/jsstore (NATS JetStream, replicated). Both pass the conformance
// suite in package store/storetest.
//
// The contracts below hold on every backend:
//   - An item is visible (to Items, Item, Open, Stats) only once its
//     writer's Commit has returned nil, and then it stays so until Delete;
//     a write that never commits leaves nothing visible.
//   - Update runs fn, and stores all of its writes or none. fn may run more
//     than once (a backend may retry it after a conflicting concurrent
//     update, or batch it with others): it must be idempotent and must not
//     act outside the transaction before Update returns.
//   - Errors wrap the sentinels of this package: [ErrNotFound], [ErrFull],
//     [ErrCorrupt], [ErrUnavailable], [ErrConflict].
type Store interface {
	// Update runs fn in a read-write transaction, stored durably if fn
	// returns nil.
	Update(fn func(Tx) error) error
	// UpdateFreeing is Update for a change that frees space (it deletes,
	// and writes little else): it still runs when the store is full.
	UpdateFreeing(fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error

	// NewItem starts writing an item.
	NewItem() *ItemWriter
	// Items returns every visible item's record, in no particular order.
	Items() ([]Item, error)
	// Item returns the record of one item, or an error wrapping ErrNotFound.
	Item(id string) (Item, error)
	// Open returns an item's record and a reader of its bytes. A reader of
	// an item deleted meanwhile fails with ErrNotFound.
	Open(id string) (Item, io.Reader, error)
	// Delete removes an item, its record and its bytes.
	Delete(id string) error
	// Stats counts the items and their bytes.
	Stats() (Stats, error)
	// Check verifies the store: every item whole, nothing stray.
	Check() error
	// WriteBundleItems streams a bundle of the given items (see
	// [DB.WriteBundleItems]).
	WriteBundleItems(w io.Writer, day string, items []Item, ev ...*bundle.Evidence) (bundle.Index, error)
	// Close releases the store.
	Close() error
}

// Tx is a transaction over the store's auxiliary buckets: named sets of
// opaque keys and values kept by the layers above (accounts, sessions, the
// audit log). Item records are not reachable through it. A Tx is valid
// only during the function it was given to.
type Tx interface {
	// Get returns a copy of the value of key, or nil, [ErrNotFound].
	Get(bucket string, key []byte) ([]byte, error)
	// Put sets key to value. A transaction sees its own writes.
	Put(bucket string, key, value []byte) error
	// Delete removes key; a missing key is not an error.
	Delete(bucket string, key []byte) error
	// ForEach calls fn for each key with the given prefix, in key order
	// (bytewise). The slices are valid only during the call.
	ForEach(bucket string, prefix []byte, fn func(k, v []byte) error) error
	// Last returns a copy of the last key and value of a bucket, or
	// [ErrNotFound] if it is empty.
	Last(bucket string) ([]byte, []byte, error)
}

// ItemWriter writes one item's bytes. It is not safe for concurrent use.
// It is a thin wrapper, the same type on every backend (so that a caller
// holding a *ItemWriter needs no change when the backend does), of the
// backend's [BackendWriter]; see there for what each method does.
type ItemWriter struct{ w BackendWriter }

// WrapWriter makes the ItemWriter of a backend's writer, for a backend's
// NewItem.
func WrapWriter(w BackendWriter) *ItemWriter { return &ItemWriter{w} }

// ID is the hex id the item will have.
func (w *ItemWriter) ID() string { return w.w.ID() }

// Write takes the item's next bytes.
func (w *ItemWriter) Write(p []byte) (int, error) { return w.w.Write(p) }

// Commit makes the item visible; see [BackendWriter].
func (w *ItemWriter) Commit(it Item) (Item, error) { return w.w.CommitWith(it, nil) }

// CommitWith makes the item visible with fn's writes; see [BackendWriter].
func (w *ItemWriter) CommitWith(it Item, fn func(Tx) error) (Item, error) {
	return w.w.CommitWith(it, fn)
}

// Rewrite registers a change to bytes already written; see [BackendWriter].
func (w *ItemWriter) Rewrite(off int64, n int, fn func(b []byte) error) error {
	return w.w.Rewrite(off, n, fn)
}

// Abort discards what was written; see [BackendWriter].
func (w *ItemWriter) Abort() { w.w.Abort() }

// BackendWriter is what a backend implements to write an item.
type BackendWriter interface {
	// ID is the hex id the item will have.
	ID() string
	// Write takes the item's next bytes. It may return the error of
	// earlier writes done in the background; the writer is then of no
	// use but to Abort.
	io.Writer
	// CommitWith stores what is left and the record, with fn run in the
	// same transaction, and makes the item visible: the item and fn's
	// writes are stored together or not at all. fn may be nil; it may run
	// more than once and must be idempotent. The record's ID, Size and
	// Chunks are set here. When it returns nil the item is durable. After
	// an error the item is aborted.
	CommitWith(it Item, fn func(Tx) error) (Item, error)
	// Rewrite registers a change to bytes the writer already took: fn
	// gets the item's bytes [off, off+n) at commit and changes them in
	// place (see [itemWriter.Rewrite] for the details every backend
	// keeps). fn may run more than once, each time on the same bytes.
	Rewrite(off int64, n int, fn func(b []byte) error) error
	// Abort discards what was written. Safe after Commit (it then does
	// nothing) and more than once.
	Abort()
}

// More errors, of the replicated backend; bbolt returns neither.
var (
	// ErrUnavailable is returned when the store cannot be reached, or too
	// few of its replicas are up to accept a write (no quorum), within
	// the backend's time-out. A write that fails so may still be applied
	// later, whole (the cluster's leader may hold it until the quorum is
	// back): its outcome is unknown, never partial. The server answers 503.
	ErrUnavailable = errors.New("the store is unavailable")
	// ErrConflict is returned by Update when concurrent updates of the same
	// keys kept refusing its writes after every retry. The change was not
	// made.
	ErrConflict = errors.New("the store refused a conflicting update")
)

// The backend of this package implements the interfaces.
var (
	_ Store         = (*DB)(nil)
	_ Tx            = boltTx{}
	_ BackendWriter = (*itemWriter)(nil)
)
