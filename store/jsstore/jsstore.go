// Package jsstore keeps Testimony's store on a NATS JetStream cluster,
// replicated by Raft, so that losing one server (a seizure, a dead disk)
// loses nothing acknowledged. It implements [store.Store] with the same
// contracts as the bbolt backend, and passes the same conformance suite
// (package store/storetest).
//
// # Layout
//
// Everything lives in one stream (so that one atomic batch can cover an
// item's record and the records written with it), its subjects under a
// prefix, PFX below, the stream's name in lower case:
//
//	PFX.r.BUCKET.K1.K2…   a record: key byte i is token Ki, two hex digits
//	PFX.i.ID              an item's record (JSON): the item is visible
//	PFX.c.ID.SEQ          chunk SEQ (decimal) of an item's bytes
//	PFX.p.ID              a write in progress: expires on its own (TTL)
//	PFX.x                 the checks of a transaction's reads (see below)
//
// The stream keeps one message per subject: a new value replaces the old
// one. A deleted record or item is a tombstone (header Tsy-Op: DEL) that
// expires after a minute, leaving the subject empty.
//
// # Transactions
//
// A transaction reads through to the stream leader and keeps its writes in
// memory. At commit its writes go out as one atomic batch (nats-server
// 2.12+: headers Nats-Batch-Id, Nats-Batch-Sequence, Nats-Batch-Commit; the
// stream has AllowAtomicPublish): the server applies all of them or none.
// Every message of the batch carries Nats-Expected-Last-Subject-Sequence:
// a written key must still be at the sequence the transaction saw, and
// each key read but not written, and each prefix listed (ForEach, Last),
// gets a check message on PFX.x naming it in
// Nats-Expected-Last-Subject-Sequence-Subject. A concurrent change to any
// of them refuses the whole batch, and Update runs fn again on fresh reads
// (a few times, then [store.ErrConflict]).
//
// # Failure
//
// Every call has a time-out ([Options.Timeout]); a cluster that has lost
// its quorum answers nothing, and the call fails with an error wrapping
// [store.ErrUnavailable].
package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"testimony/store"
)

// Options configure Open.
type Options struct {
	// URLs are the cluster's servers, nats://host:port.
	URLs []string
	// Stream is the stream's name; "" means "TESTIMONY". Its subjects are
	// under its name in lower case.
	Stream string
	// Replicas is how many servers keep each message; 0 means 3.
	Replicas int
	// MaxBytes caps what the stream holds; 0 means no cap. Writes of items
	// and records fail with [store.ErrFull] past it; deletions (and
	// [Store.UpdateFreeing]) still run, in a reserve kept above it.
	MaxBytes int64
	// Timeout bounds each call to the cluster; 0 means 5 seconds.
	Timeout time.Duration
	// PendingTTL is how long an item write in progress keeps its chunks
	// from being taken as orphans; 0 means an hour. It must exceed the
	// longest upload.
	PendingTTL time.Duration
	// NATS are further options of the connection: TLS, credentials.
	NATS []nats.Option
}

// Store is a store on a JetStream cluster. It is safe for concurrent use,
// also by several processes at once.
type Store struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	st       jetstream.Stream
	name     string
	pfx      string
	timeout  time.Duration
	maxBytes int64
	pending  time.Duration
}

var (
	_ store.Store         = (*Store)(nil)
	_ store.BackendWriter = (*writer)(nil)
)

// tombstoneTTL is how long a tombstone stays before its subject is empty.
const tombstoneTTL = "1m"

// Open connects to the cluster and makes (or updates) the stream, then
// removes the chunks of item writes that ended without a commit and whose
// pending mark has expired.
func Open(o Options) (*Store, error) {
	if o.Stream == "" {
		o.Stream = "TESTIMONY"
	}
	if o.Replicas == 0 {
		o.Replicas = 3
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.PendingTTL == 0 {
		o.PendingTTL = time.Hour
	}
	if len(o.URLs) == 0 {
		return nil, errors.New("jsstore: no server URLs")
	}
	if !validToken(o.Stream) {
		return nil, fmt.Errorf("jsstore: stream name %q: only letters, digits, - and _", o.Stream)
	}
	opts := append([]nats.Option{
		nats.Name("testimonyd"),
		nats.Timeout(o.Timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}, o.NATS...)
	nc, err := nats.Connect(strings.Join(o.URLs, ","), opts...)
	if err != nil {
		return nil, mapErr(fmt.Errorf("connecting to %s: %w", strings.Join(o.URLs, ","), err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s := &Store{nc: nc, js: js, name: o.Stream, pfx: strings.ToLower(o.Stream), timeout: o.Timeout,
		maxBytes: o.MaxBytes, pending: o.PendingTTL}
	cfg := jetstream.StreamConfig{
		Name:              o.Stream,
		Subjects:          []string{s.pfx + ".>"},
		Storage:           jetstream.FileStorage,
		Replicas:          o.Replicas,
		MaxMsgsPerSubject: 1,
		MaxBytes:          -1,
		// Reads go to the leader, which has every acknowledged write: a
		// direct get may be served by a follower that lags.
		AllowDirect:        false,
		AllowAtomicPublish: true,
		AllowMsgTTL:        true,
		Discard:            jetstream.DiscardNew,
		AllowRollup:        false,
		DenyDelete:         true,
	}
	if o.MaxBytes > 0 {
		cfg.MaxBytes = o.MaxBytes + reserve(o.MaxBytes)
	}
	if s.st, err = s.makeStream(cfg); err != nil {
		nc.Close()
		return nil, err
	}
	if _, err := s.removeOrphans(); err != nil {
		nc.Close()
		return nil, err
	}
	return s, nil
}

// makeStream makes or updates the stream. A cluster just started may not
// yet know all its servers ("no suitable peers for placement"), or have
// a meta leader: it tries again for a few time-outs.
func (s *Store) makeStream(cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*s.timeout)
	defer cancel()
	for {
		st, err := s.js.CreateOrUpdateStream(ctx, cfg)
		if err == nil {
			return st, nil
		}
		err = mapErr(fmt.Errorf("making stream %s: %w", cfg.Name, err))
		var api *jetstream.APIError
		retry := errors.Is(err, store.ErrUnavailable) || errors.As(err, &api) && api.ErrorCode == 10005
		if !retry || ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// reserve is the room kept above MaxBytes for deletions and logouts: the
// tombstones they write.
func reserve(max int64) int64 { return max/50 + 1<<20 }

// Close closes the connection.
func (s *Store) Close() error {
	s.nc.Close()
	return nil
}

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// ctxLong is a context for a scan of a whole kind of subject (every
// chunk, every record of items): longer than one call's.
func (s *Store) ctxLong() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*s.timeout)
}

// full reports [store.ErrFull] when the stream holds MaxBytes or more.
func (s *Store) full(ctx context.Context, adding int64) error {
	if s.maxBytes <= 0 {
		return nil
	}
	info, err := s.st.Info(ctx)
	if err != nil {
		return mapErr(err)
	}
	if int64(info.State.Bytes)+adding > s.maxBytes {
		return fmt.Errorf("%w: the stream holds %d bytes, the cap is %d", store.ErrFull, info.State.Bytes, s.maxBytes)
	}
	return nil
}

// errConflict is a batch refused by an expected-sequence check; errBusy,
// one refused because another batch checking or writing the same subject
// was still in flight (it may pass once that one is applied).
var (
	errConflict = errors.New("a concurrent update changed what the transaction read")
	errBusy     = errors.New("a concurrent update of the same key is in flight")
)

// mapErr maps the client's and the server's errors onto the store's.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch {
		case api.ErrorCode == 10071: // wrong last sequence: it changed
			return fmt.Errorf("%w: %v", errConflict, err)
		case api.ErrorCode == 10164:
			// A batch in flight has a check or a write on the same
			// subject: the server refuses to decide until it is applied.
			return fmt.Errorf("%w: %w: %v", errConflict, errBusy, err)
		case strings.Contains(api.Description, "maximum bytes") || strings.Contains(api.Description, "resource limits"):
			return fmt.Errorf("%w: %v", store.ErrFull, err)
		case api.Code == 503 || api.Code == 408 || api.Code == 429 || api.ErrorCode == 10176:
			// No quorum, no leader, too many batches at once, a batch cut
			// short by a change of leader: nothing was stored.
			return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
		return err
	}
	for _, e := range []error{context.DeadlineExceeded, nats.ErrTimeout, nats.ErrNoResponders,
		nats.ErrConnectionClosed, nats.ErrNoServers, nats.ErrDisconnected, nats.ErrConnectionReconnecting,
		jetstream.ErrNoStreamResponse, jetstream.ErrNoHeartbeat, jetstream.ErrStreamNotFound} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
	}
	if strings.Contains(err.Error(), "maximum bytes exceeded") {
		return fmt.Errorf("%w: %v", store.ErrFull, err)
	}
	return err
}

// Headers of our own.
const (
	hdrOp  = "Tsy-Op" // "DEL" on a tombstone
	opDel  = "DEL"
	hdrTTL = "Nats-TTL"
)

// last returns the last message on subj, nil if there is none; a
// tombstone is returned as such (see isTombstone), for its sequence.
func (s *Store) last(ctx context.Context, subj string) (*jetstream.RawStreamMsg, error) {
	m, err := s.st.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return m, nil
}

func isTombstone(h nats.Header) bool { return h.Get(hdrOp) == opDel }

// lastSeq is the sequence of the last message on subj (a wildcard
// allowed), 0 if there is none.
func (s *Store) lastSeq(ctx context.Context, subj string) (uint64, error) {
	m, err := s.last(ctx, subj)
	if err != nil || m == nil {
		return 0, err
	}
	return m.Sequence, nil
}

// batchReply is the server's answer to a batch's commit.
type batchReply struct {
	Error *jetstream.APIError `json:"error,omitempty"`
	Seq   uint64              `json:"seq"`
	Count int                 `json:"count"`
}

// publishBatch publishes msgs as one atomic batch: all stored, or none.
// It returns errConflict when a check refused it.
func (s *Store) publishBatch(ctx context.Context, msgs []*nats.Msg) error {
	if len(msgs) == 0 {
		return nil
	}
	id := nats.NewInbox()[len(nats.InboxPrefix):] // 22 random characters
	for i, m := range msgs {
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", fmt.Sprint(i+1))
		if i < len(msgs)-1 {
			if err := s.nc.PublishMsg(m); err != nil {
				return mapErr(err)
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		res, err := s.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return mapErr(err)
		}
		var r batchReply
		if err := json.Unmarshal(res.Data, &r); err != nil {
			return fmt.Errorf("batch reply %q: %w", res.Data, err)
		}
		if r.Error != nil {
			return mapErr(r.Error)
		}
		if r.Count != len(msgs) {
			return fmt.Errorf("batch of %d messages stored as %d", len(msgs), r.Count)
		}
	}
	return nil
}

// expect makes m conditional on subj's last sequence being seq.
func expect(m *nats.Msg, subj string, seq uint64) {
	if subj != m.Subject {
		m.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, subj)
	}
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, fmt.Sprint(seq))
}

func newMsg(subj string, data []byte) *nats.Msg {
	return &nats.Msg{Subject: subj, Data: data, Header: nats.Header{}}
}

func tombstone(subj string) *nats.Msg {
	m := newMsg(subj, nil)
	m.Header.Set(hdrOp, opDel)
	m.Header.Set(hdrTTL, tombstoneTTL)
	return m
}

// validToken reports whether s can be one token of a subject as it is.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
