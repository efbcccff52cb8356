package jsstore

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"testimony/store"
)

// maxAttempts is how many times Update runs fn before it gives up on a
// conflict: each retry follows a concurrent commit that changed what fn
// read, so many in a row mean heavy contention on one key.
const maxAttempts = 20

// tx is a transaction: reads from the stream leader, writes kept until
// commit.
type tx struct {
	s        *Store
	ctx      context.Context
	writable bool
	seen     map[string]uint64 // subject → last sequence read (0: none)
	ranges   map[string]uint64 // wildcard subject listed → its last sequence
	writes   map[string]*nats.Msg
	order    []string // subjects written, in order
}

var _ store.Tx = (*tx)(nil)

func (s *Store) newTx(ctx context.Context, writable bool) *tx {
	return &tx{s: s, ctx: ctx, writable: writable, seen: map[string]uint64{}, ranges: map[string]uint64{},
		writes: map[string]*nats.Msg{}}
}

// Update runs fn in a transaction and stores its writes in one atomic
// batch, checked against everything fn read; on a conflict with a
// concurrent update it runs fn again, up to maxAttempts times.
func (s *Store) Update(fn func(store.Tx) error) error { return s.update(fn, nil, true) }

// UpdateFreeing is Update without the check of the size cap: the stream
// keeps a reserve above it for such changes.
func (s *Store) UpdateFreeing(fn func(store.Tx) error) error { return s.update(fn, nil, false) }

// View runs fn in a read-only transaction. Each read is current as it is
// made; reads are not a snapshot of one instant.
func (s *Store) View(fn func(store.Tx) error) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return fn(s.newTx(ctx, false))
}

// update runs fn and commits its writes with those extra adds (an item's
// record), checking the cap if capped.
func (s *Store) update(fn func(store.Tx) error, extra func(*tx) error, capped bool) error {
	var err error
	for attempt := range maxAttempts {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 2 * time.Millisecond)
		}
		err = s.attempt(fn, extra, capped)
		if errors.Is(err, errConflict) {
			retries.Add(1)
		}
		if !errors.Is(err, errConflict) {
			return err
		}
	}
	return fmt.Errorf("%w: %v", store.ErrConflict, err)
}

func (s *Store) attempt(fn func(store.Tx) error, extra func(*tx) error, capped bool) error {
	ctx, cancel := s.ctx()
	defer cancel()
	t := s.newTx(ctx, true)
	if fn != nil {
		if err := fn(t); err != nil {
			return err
		}
	}
	if extra != nil {
		if err := extra(t); err != nil {
			return err
		}
	}
	if len(t.order) == 0 {
		return nil // it only read
	}
	if capped {
		if err := s.full(ctx, 0); err != nil {
			return err
		}
	}
	// A batch refused only because another on the same keys was in flight
	// goes again as it is, after a short random pause: if what it read
	// has changed by then, its checks say so (errConflict without
	// errBusy) and fn runs again.
	msgs := t.batch()
	for {
		err := s.publishBatch(ctx, msgs)
		if !errors.Is(err, errBusy) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(1+rand.IntN(4000)) * time.Microsecond)
	}
}

// batch is the transaction's atomic batch: first a check for each key
// read and not written and for each range listed (a subject written
// earlier in a batch cannot be checked), then the writes, each expecting
// its subject's sequence as read.
func (t *tx) batch() []*nats.Msg {
	var msgs []*nats.Msg
	check := func(subj string, seq uint64) {
		m := newMsg(t.s.pfx+".x", nil)
		expect(m, subj, seq)
		msgs = append(msgs, m)
	}
	for _, subj := range slices.Sorted(maps.Keys(t.ranges)) {
		check(subj, t.ranges[subj])
	}
	for _, subj := range slices.Sorted(maps.Keys(t.seen)) {
		if t.writes[subj] == nil {
			check(subj, t.seen[subj])
		}
	}
	for _, subj := range t.order {
		m := t.writes[subj]
		expect(m, subj, t.seen[subj])
		msgs = append(msgs, m)
	}
	return msgs
}

// recSubject is the subject of a record.
func (t *tx) recSubject(bucket string, key []byte) (string, error) {
	if !validToken(bucket) {
		return "", fmt.Errorf("bucket %q: only letters, digits, - and _", bucket)
	}
	if len(key) == 0 {
		return "", errors.New("key required")
	}
	return t.s.pfx + ".r." + bucket + keyTokens(key), nil
}

// keyTokens is key as subject tokens, one a byte: the subject order of a
// prefix's keys is then theirs, and a prefix is a wildcard.
func keyTokens(key []byte) string {
	var b strings.Builder
	for _, c := range key {
		b.WriteByte('.')
		b.WriteString(hex.EncodeToString([]byte{c}))
	}
	return b.String()
}

// keyOf is the key of a record's subject under base (PFX.r.BUCKET).
func keyOf(base, subj string) ([]byte, error) {
	rest, ok := strings.CutPrefix(subj, base+".")
	if !ok {
		return nil, fmt.Errorf("subject %q outside %s", subj, base)
	}
	return hex.DecodeString(strings.ReplaceAll(rest, ".", ""))
}

// read reads subj's last message, noting its sequence for the commit.
func (t *tx) read(subj string) (*jetstream.RawStreamMsg, error) {
	m, err := t.s.last(t.ctx, subj)
	if err != nil {
		return nil, err
	}
	var seq uint64
	if m != nil {
		seq = m.Sequence
	}
	if old, ok := t.seen[subj]; ok && old != seq {
		return nil, fmt.Errorf("%w: %s changed during the transaction", errConflict, subj)
	}
	t.seen[subj] = seq
	return m, nil
}

// Get returns the value of key: the transaction's own write, or what the
// stream holds.
func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	subj, err := t.recSubject(bucket, key)
	if err != nil {
		return nil, err
	}
	if w := t.writes[subj]; w != nil {
		if isTombstone(w.Header) {
			return nil, store.ErrNotFound
		}
		return bytes.Clone(w.Data), nil
	}
	m, err := t.read(subj)
	if err != nil {
		return nil, err
	}
	if m == nil || isTombstone(m.Header) {
		return nil, store.ErrNotFound
	}
	return m.Data, nil
}

func (t *tx) write(subj string, m *nats.Msg) error {
	if !t.writable {
		return errors.New("write in a read-only transaction")
	}
	if _, ok := t.seen[subj]; !ok {
		// A blind write is checked too: against what the key held when
		// the write was made.
		if _, err := t.read(subj); err != nil {
			return err
		}
	}
	if t.writes[subj] == nil {
		t.order = append(t.order, subj)
	}
	t.writes[subj] = m
	return nil
}

// Put sets key to value at commit.
func (t *tx) Put(bucket string, key, value []byte) error {
	subj, err := t.recSubject(bucket, key)
	if err != nil {
		return err
	}
	return t.write(subj, newMsg(subj, bytes.Clone(value)))
}

// Delete removes key at commit; a missing key is not an error.
func (t *tx) Delete(bucket string, key []byte) error {
	subj, err := t.recSubject(bucket, key)
	if err != nil {
		return err
	}
	if w := t.writes[subj]; w == nil {
		m, err := t.read(subj)
		if err != nil {
			return err
		}
		if m == nil || isTombstone(m.Header) {
			return nil // nothing to delete; the read is checked at commit
		}
	}
	return t.write(subj, tombstone(subj))
}

// entry is a record listed.
type entry struct {
	key, value []byte
}

// list returns the records of bucket whose keys begin with prefix, in key
// order, the transaction's writes applied, and notes the range for the
// commit. With headersOnly the values are left out.
func (t *tx) list(bucket string, prefix []byte, headersOnly bool) ([]entry, error) {
	if !validToken(bucket) {
		return nil, fmt.Errorf("bucket %q: only letters, digits, - and _", bucket)
	}
	base := t.s.pfx + ".r." + bucket
	filters := []string{base + keyTokens(prefix) + ".>"}
	if len(prefix) > 0 {
		filters = append(filters, base+keyTokens(prefix))
	}
	// The range's last sequence first: a change after it, even one the
	// listing below sees, then refuses the commit.
	for _, f := range filters {
		seq, err := t.s.lastSeq(t.ctx, f)
		if err != nil {
			return nil, err
		}
		if old, ok := t.ranges[f]; ok && old != seq {
			return nil, fmt.Errorf("%w: %s changed during the transaction", errConflict, f)
		}
		t.ranges[f] = seq
	}
	got := map[string]entry{}
	err := t.s.scan(t.ctx, filters, headersOnly, func(m jetstream.Msg) error {
		if isTombstone(m.Headers()) {
			return nil
		}
		k, err := keyOf(base, m.Subject())
		if err != nil {
			return fmt.Errorf("%w: %v", store.ErrCorrupt, err)
		}
		got[m.Subject()] = entry{key: k, value: m.Data()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for subj, w := range t.writes {
		if !slices.ContainsFunc(filters, func(f string) bool { return subjectMatches(f, subj) }) {
			continue
		}
		if isTombstone(w.Header) {
			delete(got, subj)
			continue
		}
		k, _ := keyOf(base, subj)
		got[subj] = entry{key: k, value: w.Data}
	}
	out := slices.Collect(maps.Values(got))
	slices.SortFunc(out, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	return out, nil
}

// subjectMatches reports whether subj matches filter, a subject that may
// end in ".>".
func subjectMatches(filter, subj string) bool {
	if base, ok := strings.CutSuffix(filter, ".>"); ok {
		return strings.HasPrefix(subj, base+".")
	}
	return filter == subj
}

// ForEach calls fn for each key with the given prefix, in key order.
func (t *tx) ForEach(bucket string, prefix []byte, fn func(k, v []byte) error) error {
	es, err := t.list(bucket, prefix, false)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := fn(e.key, e.value); err != nil {
			return err
		}
	}
	return nil
}

// Last returns the last key of a bucket and its value.
func (t *tx) Last(bucket string) ([]byte, []byte, error) {
	es, err := t.list(bucket, nil, true)
	if err != nil {
		return nil, nil, err
	}
	if len(es) == 0 {
		return nil, nil, store.ErrNotFound
	}
	k := es[len(es)-1].key
	v, err := t.Get(bucket, k)
	if err != nil {
		return nil, nil, err
	}
	return k, v, nil
}

// scan calls fn with the last message of each subject matching filters,
// in no particular order (not the stream's).
//
// The consumer may sit on a follower, whose copy of the stream can lag
// the leader's by the writes acknowledged last. So the scan ends only
// once the consumer has nothing pending and has delivered the filters'
// last message as the leader knows it, or a later one (that message is
// the last of its subject, so a consumer that has not reached it has not
// caught up); with the leader asked again when it seems not to have, for
// that message may have been purged since.
func (s *Store) scan(ctx context.Context, filters []string, headersOnly bool, fn func(jetstream.Msg) error) error {
	lastOf := func() (uint64, error) {
		var end uint64
		for _, f := range filters {
			seq, err := s.lastSeq(ctx, f)
			if err != nil {
				return 0, err
			}
			end = max(end, seq)
		}
		return end, nil
	}
	end, err := lastOf()
	if err != nil || end == 0 {
		return err
	}
	// An ephemeral consumer of its own, in memory on one server, that
	// the server drops once idle; pulled without waiting.
	c, err := s.st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubjects:    filters,
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		HeadersOnly:       headersOnly,
		InactiveThreshold: 10 * time.Second,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return mapErr(err)
	}
	defer func() {
		dctx, cancel := s.ctx()
		defer cancel()
		s.st.DeleteConsumer(dctx, c.CachedInfo().Name)
	}()
	var seen uint64 // the highest stream sequence delivered
	pending := c.CachedInfo().NumPending
	// caughtUp reports whether the scan has seen all there is.
	caughtUp := func() (bool, error) {
		if pending > 0 {
			return false, nil
		}
		if seen >= end {
			return true, nil
		}
		var err error
		end, err = lastOf()
		return seen >= end, err
	}
	for {
		if done, err := caughtUp(); done || err != nil {
			return err
		}
		batch, err := c.FetchNoWait(256)
		if err != nil {
			return mapErr(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			if err := fn(m); err != nil {
				return err
			}
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			seen = max(seen, meta.Sequence.Stream)
			pending = meta.NumPending
		}
		if err := batch.Error(); errors.Is(err, nats.ErrNoResponders) && n == 0 {
			// The consumer is on another server, whose interest in its pull
			// requests has not reached ours yet: below, wait a little.
		} else if err != nil {
			return mapErr(err)
		}
		if n == 0 {
			if err := ctx.Err(); err != nil {
				return mapErr(err)
			}
			time.Sleep(5 * time.Millisecond)
			info, err := c.Info(ctx)
			if err != nil {
				return mapErr(err)
			}
			pending = info.NumPending
		}
	}
}

// retries counts the attempts Update ran again after a conflict, for tests.
var retries atomic.Int64
