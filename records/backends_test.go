package records

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"testimony/internal/testutil"
	"testimony/store"
	"testimony/store/jsstore"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestOnBothBackends runs the records tests that depend on the store, and
// those of concurrent use, on bbolt and on a JetStream cluster of three
// real nats-server processes.
func TestOnBothBackends(t *testing.T) {
	nodes := testutil.NATSCluster(t, 3)
	var n atomic.Int64
	backends := map[string]func(t *testing.T) store.Store{
		"bbolt": openStore,
		"nats": func(t *testing.T) store.Store {
			o := jsstore.Options{Stream: fmt.Sprintf("R%d", n.Add(1)), Timeout: 30 * time.Second} // generous: make test runs every package at once
			for _, nd := range nodes {
				o.URLs = append(o.URLs, nd.URL)
			}
			s, err := jsstore.Open(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			saved := openStore
			openStore = open
			defer func() { openStore = saved }()
			t.Run("SealChainsEveryDay", TestSealChainsEveryDay)
			t.Run("SealNoItems", TestSealNoItems)
			t.Run("DeleteAfterSealKeepsProofs", TestDeleteAfterSealKeepsProofs)
			t.Run("AuditAppendsConcurrently", testAuditConcurrent)
			t.Run("TOTPStepOnce", testTOTPStepOnce)
			t.Run("Sessions", testSessions)
		})
	}
}

// testAuditConcurrent: entries appended at once, as by several instances,
// make one sound chain with each of them once.
func testAuditConcurrent(t *testing.T) {
	db := openStore(t)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = db.Update(func(tx store.Tx) error {
				return AppendAudit(tx, time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), AuditEntry{Account: "alice", Event: fmt.Sprint("e", i)})
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	count, err := VerifyAudit(db)
	if err != nil || count != n {
		t.Fatalf("VerifyAudit = %d, %v; want %d entries and a sound chain", count, err, n)
	}
	entries, err := ReadAudit(db, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if seen[e.Event] {
			t.Errorf("event %s twice", e.Event)
		}
		seen[e.Event] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct events in the log, want %d", len(seen), n)
	}
}

// testTOTPStepOnce: a step offered by several logins at once, as on
// several instances, is accepted by one, the way the login accepts it
// (the last accepted step in login_state, in the login's transaction).
func testTOTPStepOnce(t *testing.T) {
	db := openStore(t)
	errReplay := errors.New("step used")
	const step = 58_000_000
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			err := db.Update(func(tx store.Tx) error {
				st, err := GetLoginState(tx, "alice")
				if err != nil {
					return err
				}
				if st.LastStep >= step {
					return errReplay
				}
				st.LastStep = step
				return PutLoginState(tx, "alice", st)
			})
			if err == nil {
				ok.Add(1)
			} else if !errors.Is(err, errReplay) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("step accepted %d times, want once", ok.Load())
	}
}

// testSessions: a session made in one transaction is seen by the next,
// and ended, is gone.
func testSessions(t *testing.T) {
	db := openStore(t)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var token string
	if err := db.Update(func(tx store.Tx) (err error) { token, err = NewSession(tx, "alice", now); return err }); err != nil {
		t.Fatal(err)
	}
	err := db.View(func(tx store.Tx) error {
		s, err := GetSession(tx, token)
		if err != nil || s.Account != "alice" {
			t.Errorf("GetSession = %+v, %v", s, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateFreeing(func(tx store.Tx) error { return EndSession(tx, token) }); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx store.Tx) error {
		if _, err := GetSession(tx, token); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession after EndSession: %v", err)
		}
		return nil
	})
}
