package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// heldCommitter holds db's group commit back: calls to batch queue up
// until start.
type heldCommitter struct{ db *DB }

// holdCommitter makes db's group commit act as if a committer were at
// work, so that calls to batch queue up.
func holdCommitter(db *DB) heldCommitter {
	db.group.mu.Lock()
	db.group.running = true
	db.group.mu.Unlock()
	return heldCommitter{db}
}

// wait waits until n calls are pending.
func (h heldCommitter) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h.db.group.mu.Lock()
		got := len(h.db.group.pending)
		h.db.group.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls pending, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// start starts the committer on what is pending.
func (h heldCommitter) start() { go h.db.commitPending() }

// TestGroupCommit: calls that arrive while the committer is busy share
// one transaction, at most maxBatchSize of them; a call that fails or
// panics gets its own error and the others still commit.
func TestGroupCommit(t *testing.T) {
	for _, tc := range []struct {
		calls, max, txs int
		bad             map[int]string // call → "fail" or "panic"
	}{
		{calls: 10, max: 256, txs: 1},
		{calls: 7, max: 3, txs: 3},
		{calls: 6, max: 256, txs: 1, bad: map[int]string{2: "fail", 4: "panic"}},
	} {
		t.Run(fmt.Sprintf("%d-calls-max-%d-%d-bad", tc.calls, tc.max, len(tc.bad)), func(t *testing.T) {
			db := openTemp(t, Options{maxBatchSize: tc.max})
			held := holdCommitter(db)
			var mu sync.Mutex
			txOf := map[int]int{} // call → the transaction it last ran in
			errs := make([]error, tc.calls)
			var wg sync.WaitGroup
			for i := range tc.calls {
				wg.Go(func() {
					errs[i] = db.batch(func(tx *bolt.Tx) error {
						mu.Lock()
						txOf[i] = tx.ID()
						mu.Unlock()
						switch tc.bad[i] {
						case "fail":
							return fmt.Errorf("call %d fails", i)
						case "panic":
							panic("call panics")
						}
						b, err := tx.CreateBucketIfNotExists([]byte("test"))
						if err != nil {
							return err
						}
						return b.Put(fmt.Appendf(nil, "%d", i), []byte("v"))
					})
				})
			}
			held.wait(t, tc.calls)
			held.start()
			wg.Wait()
			txs := map[int]bool{}
			for i, err := range errs {
				switch {
				case tc.bad[i] != "" && err == nil:
					t.Errorf("call %d (%s): no error", i, tc.bad[i])
				case tc.bad[i] == "" && err != nil:
					t.Errorf("call %d: %v", i, err)
				case tc.bad[i] == "":
					txs[txOf[i]] = true
				}
			}
			if len(txs) != tc.txs {
				t.Errorf("the good calls committed in %d transactions, want %d", len(txs), tc.txs)
			}
			err := db.bolt.View(func(tx *bolt.Tx) error {
				for i := range tc.calls {
					got := tx.Bucket([]byte("test")).Get(fmt.Appendf(nil, "%d", i))
					if (got != nil) != (tc.bad[i] == "") {
						return fmt.Errorf("call %d (%q): stored %q", i, tc.bad[i], got)
					}
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// TestGroupCommitIdle: once the committer has drained what was pending it
// stops, and the next call starts another.
func TestGroupCommitIdle(t *testing.T) {
	db := openTemp(t, Options{})
	put := func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("test"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}
	for range 3 {
		if err := db.batch(put); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			db.group.mu.Lock()
			running, n := db.group.running, len(db.group.pending)
			db.group.mu.Unlock()
			if !running && n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the committer is still running with nothing to do")
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := db.batch(func(*bolt.Tx) error { return errors.New("x") }); err == nil {
		t.Error("a failing call alone: no error")
	}
}
