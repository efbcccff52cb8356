package jsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"testimony/internal/testutil"
	"testimony/store"
)

// failover skips a test that kills servers unless TESTIMONY_NATS_FAILOVER
// is set (make test-nats-failover): with their clusters they take about
// 50 s, more than make test should.
func failover(t *testing.T) {
	if os.Getenv("TESTIMONY_NATS_FAILOVER") == "" {
		t.Skip("kills nats-server processes: make test-nats-failover runs it")
	}
}

// body is the bytes of test item i: its size and content both depend on i.
func body(i int) []byte {
	b := make([]byte, 20<<10+(i%7)*150<<10)
	for j := range b {
		b[j] = byte(i*31 + j*7 + j/509)
	}
	return b
}

// testBatchAllOrNothing: a batch whose last message fails its check
// stores none of its messages, not even those before.
func testBatchAllOrNothing(t *testing.T, nodes []*testutil.NATSNode) {
	s := openOn(t, nodes, Options{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Update(func(tx store.Tx) error { return tx.Put("b", []byte("k"), []byte("old")) }))
	ctx, cancel := s.ctx()
	defer cancel()
	a := newMsg(s.pfx+".r.b"+keyTokens([]byte("k")), []byte("new"))
	b := newMsg(s.pfx+".r.b"+keyTokens([]byte("other")), []byte("x"))
	expect(b, b.Subject, 12345) // stale: the subject is empty
	err := s.publishBatch(ctx, []*nats.Msg{a, b})
	if !errors.Is(err, errConflict) {
		t.Fatalf("batch with a failing check: %v, want a conflict", err)
	}
	must(s.View(func(tx store.Tx) error {
		if v, err := tx.Get("b", []byte("k")); err != nil || string(v) != "old" {
			t.Errorf("the message before the failing one was stored: %q, %v", v, err)
		}
		return nil
	}))
}

// TestKillNodesDuringCommits SIGKILLs one server of three while many
// items are being committed, then the stream's leader: every commit that
// returned nil is whole afterwards, no item is partial, and Check is clean.
func TestKillNodesDuringCommits(t *testing.T) {
	failover(t)
	nodes := testutil.NATSCluster(t, 3)
	s := openOn(t, nodes, Options{Timeout: 5 * time.Second})
	var (
		mu    sync.Mutex
		acked = map[string]int{} // id → body index
		next  atomic.Int64
		fails atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	const writers = 16
	for range writers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(next.Add(1))
				w := s.NewItem()
				_, err := w.Write(body(i))
				var it store.Item
				if err == nil {
					it, err = w.CommitWith(store.Item{Kind: "submission", Day: "2026-12-07"}, func(tx store.Tx) error {
						return tx.Put("sources", []byte(fmt.Sprint(i)), []byte("src"))
					})
				}
				w.Abort()
				if err != nil {
					fails.Add(1)
					continue
				}
				mu.Lock()
				acked[it.ID] = i
				mu.Unlock()
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	start := time.Now()
	waitFor := func(n int) {
		t.Helper()
		defer func() { t.Logf("%d commits after %v", count(), time.Since(start).Round(time.Millisecond)) }()
		deadline := time.Now().Add(60 * time.Second)
		for count() < n {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("only %d commits acknowledged, waited for %d", count(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(24)
	nodes[2].Kill(t) // one that may or may not lead
	waitFor(count() + 24)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	info, err := s.st.Info(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		if nd.Name == info.Cluster.Leader && nd != nodes[2] {
			nodes[2].Start(t) // back, so that the leader's loss leaves a quorum
			nodes[2].WaitHealthy(t)
			nd.Kill(t)
			t.Logf("killed the leader %s", nd.Name)
		}
	}
	waitFor(count() + 24)
	close(stop)
	wg.Wait()
	t.Logf("%d commits acknowledged, %d failed over the kills, writers stopped after %v", len(acked), fails.Load(), time.Since(start).Round(time.Millisecond))

	// The new leader may still be taking over (on a loaded machine, longer
	// than one time-out): what is checked is that nothing acknowledged was
	// lost, once the store answers again.
	var items []store.Item
	for deadline := time.Now().Add(2 * time.Minute); ; {
		items, err = s.Items()
		if err == nil || !errors.Is(err, store.ErrUnavailable) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
	visible := map[string]store.Item{}
	for _, it := range items {
		visible[it.ID] = it
	}
	for id, i := range acked {
		if _, ok := visible[id]; !ok {
			t.Errorf("acknowledged item %s lost", id)
			continue
		}
		_, r, err := s.Open(id)
		if err != nil {
			t.Errorf("open %s: %v", id, err)
			continue
		}
		b, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(b, body(i)) {
			t.Errorf("item %s read back wrong (%d bytes, %v)", id, len(b), err)
		}
	}
	t.Logf("read back after %v", time.Since(start).Round(time.Millisecond))
	// An item visible but not acknowledged (its ack lost in a kill) must
	// be whole too: Check reads every record against its chunks.
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	t.Logf("checked after %v", time.Since(start).Round(time.Millisecond))
}

// TestNoQuorum: with two servers of three down, writes fail with
// ErrUnavailable within a bounded time, and leave nothing half-written.
func TestNoQuorum(t *testing.T) {
	failover(t)
	nodes := testutil.NATSCluster(t, 3)
	const timeout = 2 * time.Second
	s := openOn(t, nodes, Options{Timeout: timeout})
	w := s.NewItem()
	w.Write(body(1))
	before, err := w.Commit(store.Item{Kind: "submission"})
	if err != nil {
		t.Fatal(err)
	}
	// A write whose chunks are stored before the quorum goes, and whose
	// commit comes after.
	half := s.NewItem()
	if _, err := half.Write(body(5)); err != nil {
		t.Fatal(err)
	}
	nodes[0].Kill(t)
	nodes[1].Kill(t)
	// A bound with room: each call waits out at most a few time-outs.
	const bound = 8 * timeout
	timed := func(what string, fn func() error) {
		t.Helper()
		start := time.Now()
		err := fn()
		took := time.Since(start)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s without a quorum: %v, want ErrUnavailable", what, err)
		}
		if took > bound {
			t.Errorf("%s without a quorum took %v, more than %v", what, took, bound)
		}
		t.Logf("%s failed after %v", what, took.Round(time.Millisecond))
	}
	var lost string
	timed("an item's commit", func() error {
		w := s.NewItem()
		lost = w.ID()
		if _, err := w.Write(body(2)); err != nil {
			return err
		}
		_, err := w.CommitWith(store.Item{Kind: "submission"}, func(tx store.Tx) error {
			return tx.Put("sources", []byte("p"), []byte("x"))
		})
		return err
	})
	timed("the commit of an item half stored", func() error {
		_, err := half.Commit(store.Item{Kind: "submission"})
		return err
	})
	timed("an update", func() error {
		return s.Update(func(tx store.Tx) error { return tx.Put("sessions", []byte("s"), []byte("x")) })
	})
	timed("a read", func() error { _, err := s.Item(before.ID); return err })

	nodes[0].Start(t)
	nodes[1].Start(t)
	for _, nd := range nodes {
		nd.WaitHealthy(t)
	}
	// The cluster back, the store answers again: the old item is there,
	// the failed ones are not, and nothing is half-written.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.Item(before.ID)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not come back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A write sent before the time-out may still be applied once the
	// quorum is back (the leader had it in its log): ErrUnavailable says
	// the outcome is unknown, not that nothing happened. What must hold is
	// all or nothing: an item whole or absent, and the lost item's source
	// record there if and only if the item is.
	for id, n := range map[string]int{lost: 2, half.ID(): 5} {
		_, r, err := s.Open(id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(b, body(n)) {
			t.Errorf("item %s, its commit failed, is there but not whole: %d bytes, %v", id, len(b), err)
		}
		t.Logf("item %s, its commit failed without a quorum, was applied later", id)
	}
	_, itemErr := s.Item(lost)
	err = s.View(func(tx store.Tx) error {
		_, err := tx.Get("sources", []byte("p"))
		if errors.Is(err, store.ErrNotFound) != errors.Is(itemErr, store.ErrNotFound) {
			t.Errorf("the item and its source record apart: item %v, source %v", itemErr, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}
