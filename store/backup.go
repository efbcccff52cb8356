package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"testimony/internal/atomicfile"
)

// Backup writes a consistent copy of the whole file to w while the store
// stays in use, and returns its size.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// snapshotSpare is the free space a snapshot leaves in its directory
// when the store has no size cap.
const snapshotSpare = 64 << 20

// ErrNoSpace is returned by [DB.Snapshot] when the copy would take disk
// space the store needs.
var ErrNoSpace = errors.New("not enough free disk space for a snapshot")

// Snapshot writes a consistent copy of the store, like [DB.Backup], to a
// temporary file in dir that has no name (it is unlinked at once: a crash
// leaves nothing behind, and closing the file frees its space), and returns
// it open at its start with its size. The caller closes it.
//
// The read transaction lasts only as long as this local copy. A backup
// streamed from the file instead of from the transaction cannot hold the
// database however slowly it is read: bbolt must remap the file to grow
// it, and a remap waits for every open read transaction, so a stalled
// reader of [DB.Backup] stalls every write that grows the file.
//
// The copy is refused with [ErrNoSpace] unless, after it, dir keeps room for
// the store to grow to its size cap (or [snapshotSpare] with no cap): a
// backup must not take the space that submissions need.
func (db *DB) Snapshot(dir string) (*os.File, int64, error) {
	f, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return nil, 0, err
	}
	os.Remove(f.Name())
	var n int64
	err = db.bolt.View(func(tx *bolt.Tx) error {
		if err := db.snapshotRoom(dir, tx.Size()); err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		var err error
		if n, err = tx.WriteTo(w); err != nil {
			return err
		}
		return w.Flush()
	})
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

// snapshotRoom checks that dir has room for a copy of size bytes and,
// after it, for the store to grow to its cap.
func (db *DB) snapshotRoom(dir string, size int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return err
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	spare := int64(snapshotSpare)
	if db.maxSize > 0 {
		spare = 0
		if fi, err := os.Stat(db.path); err == nil && int64(db.maxSize) > fi.Size() {
			spare = int64(db.maxSize) - fi.Size()
		}
	}
	if free < size+spare {
		return fmt.Errorf("%w: %d MiB free in %s, the copy takes %d MiB, and %d MiB must stay free for the database",
			ErrNoSpace, free>>20, dir, size>>20, spare>>20)
	}
	return nil
}

// Compact rewrites the store into a new file at dst, leaving out free
// pages, which still hold the bytes of deleted items. The caller swaps the
// files while no process has the store open.
func (db *DB) Compact(dst string) error {
	tmp := dst + ".compacting"
	os.Remove(tmp)
	defer os.Remove(tmp)
	out, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return err
	}
	if err := bolt.Compact(out, db.bolt, 64<<20); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dst))
}
