package jsstore

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"testimony/internal/testutil"
	"testimony/store"
	"testimony/store/storetest"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// streams numbers the streams the tests make on one cluster.
var streams atomic.Int64

// openOn opens a store on a new stream of the cluster's, R3.
func openOn(t *testing.T, nodes []*testutil.NATSNode, o Options) *Store {
	return openTB(t, nodes, o)
}

func openTB(t testing.TB, nodes []*testutil.NATSNode, o Options) *Store {
	t.Helper()
	for _, nd := range nodes {
		o.URLs = append(o.URLs, nd.URL)
	}
	if o.Stream == "" {
		o.Stream = fmt.Sprintf("T%d", streams.Add(1))
	}
	if o.Timeout == 0 {
		// Generous: make test runs every package's tests at once, under
		// the race detector, and these check what is stored, not how
		// fast; TestNoQuorum checks the time-outs themselves.
		o.Timeout = 30 * time.Second
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the conformance suite on three real nats-server
// processes, every stream replicated on all three.
func TestConformance(t *testing.T) {
	nodes := testutil.NATSCluster(t, 3)
	storetest.Run(t, func(t *testing.T, maxBytes int64) store.Store {
		return openOn(t, nodes, Options{MaxBytes: maxBytes})
	})
	t.Run("BatchAllOrNothing", func(t *testing.T) { testBatchAllOrNothing(t, nodes) })
	t.Logf("Update ran fn again %d times after a conflict", retries.Load())
}
