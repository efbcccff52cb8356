package jsstore

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"testimony/bundle"
	"testimony/store"
)

// chunkSize is the size of a chunk message: under the server's default
// max_payload of 1 MiB, with room for headers.
const chunkSize = 512 << 10

// maxInFlight is how many chunks a writer has published and not yet seen
// acknowledged: its memory, and how far it runs ahead of the cluster.
const maxInFlight = 4

func (s *Store) itemSubject(id string) string    { return s.pfx + ".i." + id }
func (s *Store) pendingSubject(id string) string { return s.pfx + ".p." + id }
func (s *Store) chunksFilter(id string) string   { return s.pfx + ".c." + id + ".>" }
func (s *Store) chunkSubject(id string, seq int) string {
	return s.pfx + ".c." + id + "." + strconv.Itoa(seq)
}

// parseID checks an item id: 32 hex digits, as the bbolt store's; any
// other is not found.
func parseID(id string) error {
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 || strings.ToLower(id) != id {
		return fmt.Errorf("item %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// writer writes one item's chunks as they fill, then its record.
type writer struct {
	s        *Store
	id       string
	buf      []byte // the chunk being filled
	chunks   int    // chunks published
	size     int64
	acks     []jetstream.PubAckFuture
	marked   time.Time // when the pending mark was last published: only in memory
	rewrites []rewrite
	err      error
	done     bool
}

type rewrite struct {
	off int64
	n   int
	fn  func([]byte) error
}

// NewItem starts writing an item.
func (s *Store) NewItem() *store.ItemWriter {
	id := make([]byte, 16)
	rand.Read(id)
	return store.WrapWriter(&writer{s: s, id: hex.EncodeToString(id)})
}

func (w *writer) ID() string { return w.id }

// Write buffers p and publishes each chunk as it fills.
func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("write after commit or abort")
	}
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, min(chunkSize, max(len(p), 4<<10)))
		}
		k := min(chunkSize-len(w.buf), len(p))
		w.buf = append(w.buf, p[:k]...)
		p, n = p[k:], n+k
		w.size += int64(k)
		if len(w.buf) == chunkSize {
			if err := w.publish(); err != nil {
				w.err = err
				return n, err
			}
		}
	}
	return n, nil
}

// publish sends the full chunk, after the pending mark that keeps it from
// being taken for an orphan while the write goes on.
func (w *writer) publish() error {
	ctx, cancel := w.s.ctx()
	defer cancel()
	if err := w.s.full(ctx, int64(len(w.buf))); err != nil {
		return err
	}
	if time.Since(w.marked) > w.s.pending/4 {
		m := newMsg(w.s.pendingSubject(w.id), nil)
		m.Header.Set(hdrTTL, fmt.Sprintf("%ds", int(w.s.pending.Seconds())))
		if _, err := w.s.js.PublishMsg(ctx, m); err != nil {
			return mapErr(err)
		}
		w.marked = time.Now()
	}
	if err := w.waitAcks(maxInFlight - 1); err != nil {
		return err
	}
	f, err := w.s.js.PublishMsgAsync(newMsg(w.s.chunkSubject(w.id, w.chunks), w.buf))
	if err != nil {
		return mapErr(err)
	}
	w.acks = append(w.acks, f)
	w.chunks++
	w.buf = nil
	return nil
}

// waitAcks waits until at most n chunks are unacknowledged.
func (w *writer) waitAcks(n int) error {
	for len(w.acks) > n {
		f := w.acks[0]
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return mapErr(err)
		case <-time.After(w.s.timeout):
			return fmt.Errorf("%w: no acknowledgement of a chunk in %v", store.ErrUnavailable, w.s.timeout)
		}
		w.acks = w.acks[1:]
	}
	return nil
}

// Rewrite registers a change of bytes already written, made at commit.
func (w *writer) Rewrite(off int64, n int, fn func(b []byte) error) error {
	switch {
	case w.done:
		return errors.New("rewrite after commit or abort")
	case n <= 0 || off < 0 || int64(n) > w.size-off:
		return fmt.Errorf("rewrite of %d bytes at %d: the item has %d", n, off, w.size)
	}
	if w.err != nil {
		return w.err
	}
	w.rewrites = append(w.rewrites, rewrite{off, n, fn})
	return nil
}

// applyRewrites runs the rewrites on the chunks they touch: the buffer
// still held, and chunks published, read back, changed and published
// again (each expecting the sequence it was read at). The item is not
// visible yet, so a crash half-way leaves nothing to see.
func (w *writer) applyRewrites() error {
	if len(w.rewrites) == 0 {
		return nil
	}
	ctx, cancel := w.s.ctx()
	defer cancel()
	chunks := map[int][]byte{}
	seqs := map[int]uint64{}
	get := func(i int) ([]byte, error) {
		if i == w.chunks {
			return w.buf, nil
		}
		if c, ok := chunks[i]; ok {
			return c, nil
		}
		m, err := w.s.last(ctx, w.s.chunkSubject(w.id, i))
		if err != nil {
			return nil, err
		}
		if m == nil {
			return nil, fmt.Errorf("%w: item %s lacks chunk %d", store.ErrCorrupt, w.id, i)
		}
		chunks[i], seqs[i] = m.Data, m.Sequence
		return m.Data, nil
	}
	for _, rw := range w.rewrites {
		b := make([]byte, rw.n)
		// Gather, change, scatter.
		for pass := range 2 {
			for off := rw.off; off < rw.off+int64(rw.n); {
				i := int(off / chunkSize)
				c, err := get(i)
				if err != nil {
					return err
				}
				at := int(off % chunkSize)
				k := min(len(c)-at, int(rw.off+int64(rw.n)-off))
				dst := b[off-rw.off : off-rw.off+int64(k)]
				if pass == 0 {
					copy(dst, c[at:at+k])
				} else {
					copy(c[at:at+k], dst)
				}
				off += int64(k)
			}
			if pass == 0 {
				if err := rw.fn(b); err != nil {
					return err
				}
				if len(b) != rw.n {
					return errors.New("rewrite changed the length")
				}
			}
		}
	}
	for _, i := range slices.Sorted(maps.Keys(chunks)) {
		m := newMsg(w.s.chunkSubject(w.id, i), chunks[i])
		if _, err := w.s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(seqs[i])); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// CommitWith publishes the last chunk, waits until every chunk is stored,
// then stores the item's record with fn's writes in one atomic batch.
func (w *writer) CommitWith(it store.Item, fn func(store.Tx) error) (store.Item, error) {
	if w.done {
		return store.Item{}, errors.New("commit after commit or abort")
	}
	w.done = true
	// An item of one chunk goes into the commit's batch, chunk and record
	// together: no pending mark, no round trip of its own.
	var small *nats.Msg
	err := w.err
	if err == nil {
		err = w.applyRewrites()
	}
	switch {
	case err != nil:
	case w.chunks == 0 && len(w.buf) > 0:
		small = newMsg(w.s.chunkSubject(w.id, 0), w.buf)
		w.chunks = 1
	case len(w.buf) > 0:
		err = w.publish()
	}
	if err == nil {
		err = w.waitAcks(0)
	}
	if err != nil {
		w.abort()
		return store.Item{}, err
	}
	it.ID, it.Size, it.Chunks = w.id, w.size, w.chunks
	rec, err := json.Marshal(it)
	if err != nil {
		w.abort()
		return store.Item{}, err
	}
	subj := w.s.itemSubject(w.id)
	err = w.s.update(fn, func(t *tx) error {
		// The id is new and random: its subjects are expected empty,
		// without a read to see it.
		if small != nil {
			t.seen[small.Subject] = 0
			t.writes[small.Subject] = small
			t.order = append(t.order, small.Subject)
		}
		t.seen[subj] = 0
		t.writes[subj] = newMsg(subj, rec)
		t.order = append(t.order, subj)
		return nil
	}, true)
	if err != nil {
		w.abort()
		return store.Item{}, err
	}
	w.rewrites = nil
	return it, nil
}

// Abort discards what was written.
func (w *writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.abort()
}

// abort removes the chunks published, best effort: what is left is an
// orphan, removed by the next Open once its pending mark expires.
func (w *writer) abort() {
	w.buf, w.rewrites = nil, nil
	if w.chunks == 0 {
		return
	}
	w.waitAcks(0)
	ctx, cancel := w.s.ctx()
	defer cancel()
	if m, err := w.s.last(ctx, w.s.itemSubject(w.id)); err != nil || (m != nil && !isTombstone(m.Header)) {
		return // committed after all, or unknown
	}
	if w.s.st.Purge(ctx, jetstream.WithPurgeSubject(w.s.chunksFilter(w.id))) == nil {
		w.s.st.Purge(ctx, jetstream.WithPurgeSubject(w.s.pendingSubject(w.id)))
	}
}

// record decodes an item's record message.
func record(m *nats.Msg) (store.Item, error) {
	var it store.Item
	if err := json.Unmarshal(m.Data, &it); err != nil {
		return it, fmt.Errorf("%w: record of %s: %v", store.ErrCorrupt, m.Subject, err)
	}
	return it, nil
}

// Items returns every visible item's record.
func (s *Store) Items() ([]store.Item, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var out []store.Item
	err := s.scan(ctx, []string{s.pfx + ".i.*"}, false, func(m jetstream.Msg) error {
		if isTombstone(m.Headers()) {
			return nil
		}
		it, err := record(&nats.Msg{Subject: m.Subject(), Data: m.Data()})
		if err != nil {
			return err
		}
		out = append(out, it)
		return nil
	})
	return out, err
}

// Item returns the record of one item.
func (s *Store) Item(id string) (store.Item, error) {
	if err := parseID(id); err != nil {
		return store.Item{}, err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := s.last(ctx, s.itemSubject(id))
	if err != nil {
		return store.Item{}, err
	}
	if m == nil || isTombstone(m.Header) {
		return store.Item{}, fmt.Errorf("item %s: %w", id, store.ErrNotFound)
	}
	return record(&nats.Msg{Subject: m.Subject, Data: m.Data})
}

// Open returns a reader of an item's bytes, one chunk a request.
func (s *Store) Open(id string) (store.Item, io.Reader, error) {
	it, err := s.Item(id)
	if err != nil {
		return store.Item{}, nil, err
	}
	return it, &reader{s: s, it: it}, nil
}

type reader struct {
	s    *Store
	it   store.Item
	seq  int
	buf  []byte
	read int64
}

func (r *reader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.seq >= r.it.Chunks {
			if r.read != r.it.Size {
				return 0, fmt.Errorf("%w: item %s has %d of %d bytes", store.ErrCorrupt, r.it.ID, r.read, r.it.Size)
			}
			return 0, io.EOF
		}
		ctx, cancel := r.s.ctx()
		m, err := r.s.last(ctx, r.s.chunkSubject(r.it.ID, r.seq))
		if err == nil && m == nil {
			err = fmt.Errorf("%w: item %s lacks chunk %d", store.ErrCorrupt, r.it.ID, r.seq)
			if rec, e := r.s.last(ctx, r.s.itemSubject(r.it.ID)); e == nil && (rec == nil || isTombstone(rec.Header)) {
				err = fmt.Errorf("item %s: %w", r.it.ID, store.ErrNotFound)
			}
		}
		cancel()
		if err != nil {
			return 0, err
		}
		r.buf = m.Data
		r.seq++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.read += int64(n)
	return n, nil
}

// Delete removes an item: its record (a tombstone, at once), then its
// chunks. If the second step fails the item is gone all the same, and its
// chunks are orphans that Check reports and the next Open removes.
func (s *Store) Delete(id string) error {
	if err := parseID(id); err != nil {
		return err
	}
	subj := s.itemSubject(id)
	err := s.update(nil, func(t *tx) error {
		m, err := t.read(subj)
		if err != nil {
			return err
		}
		if m == nil || isTombstone(m.Header) {
			return fmt.Errorf("item %s: %w", id, store.ErrNotFound)
		}
		t.writes[subj] = tombstone(subj)
		t.order = append(t.order, subj)
		return nil
	}, false)
	if err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.st.Purge(ctx, jetstream.WithPurgeSubject(s.chunksFilter(id))); err != nil {
		return fmt.Errorf("item %s deleted, its bytes not yet: %w", id, mapErr(err))
	}
	return nil
}

// chunkInfo is what a headers-only scan tells of the chunks.
type chunkInfo struct {
	count, bytes int64
	maxSeq       int
	bad          []string
}

// chunkSubjects lists every chunk, by item id.
func (s *Store) chunkSubjects() (map[string]*chunkInfo, error) {
	ctx, cancel := s.ctxLong()
	defer cancel()
	out := map[string]*chunkInfo{}
	err := s.scan(ctx, []string{s.pfx + ".c.>"}, true, func(m jetstream.Msg) error {
		rest := strings.TrimPrefix(m.Subject(), s.pfx+".c.")
		id, seqs, _ := strings.Cut(rest, ".")
		ci := out[id]
		if ci == nil {
			ci = &chunkInfo{maxSeq: -1}
			out[id] = ci
		}
		seq, err := strconv.Atoi(seqs)
		size, serr := strconv.ParseInt(m.Headers().Get("Nats-Msg-Size"), 10, 64) // set on a headers-only delivery
		if err != nil || serr != nil || parseID(id) != nil {
			ci.bad = append(ci.bad, m.Subject())
			return nil
		}
		ci.count++
		ci.bytes += size
		ci.maxSeq = max(ci.maxSeq, seq)
		return nil
	})
	return out, err
}

// live lists the subjects under filter that hold a value (not a
// tombstone), with their messages.
func (s *Store) live(filter string) (map[string][]byte, error) {
	ctx, cancel := s.ctxLong()
	defer cancel()
	out := map[string][]byte{}
	err := s.scan(ctx, []string{filter}, false, func(m jetstream.Msg) error {
		if !isTombstone(m.Headers()) {
			out[m.Subject()] = m.Data()
		}
		return nil
	})
	return out, err
}

// Stats counts the items and their bytes.
func (s *Store) Stats() (store.Stats, error) {
	var st store.Stats
	items, err := s.Items()
	if err != nil {
		return st, err
	}
	for _, it := range items {
		st.Items++
		st.ItemBytes += it.Size
	}
	chunks, err := s.chunkSubjects()
	if err != nil {
		return st, err
	}
	visible := map[string]bool{}
	for _, it := range items {
		visible[it.ID] = true
	}
	for id, ci := range chunks {
		if !visible[id] {
			st.PendingChunks += int(ci.count)
		}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	info, err := s.st.Info(ctx)
	if err != nil {
		return st, mapErr(err)
	}
	st.FileBytes = int64(info.State.Bytes)
	return st, nil
}

// Check verifies that every item has all its chunks (numbered from 0,
// none beyond its count) with the recorded size, and that every chunk
// belongs to an item or to a write in progress.
func (s *Store) Check() error {
	// Chunks first, then the marks and the records: a write that commits
	// meanwhile has its mark or its record by then.
	chunks, err := s.chunkSubjects()
	if err != nil {
		return err
	}
	pending, err := s.live(s.pfx + ".p.*")
	if err != nil {
		return err
	}
	recs, err := s.live(s.pfx + ".i.*")
	if err != nil {
		return err
	}
	var problems []string
	for _, subj := range slices.Sorted(maps.Keys(recs)) {
		id := strings.TrimPrefix(subj, s.pfx+".i.")
		it, err := record(&nats.Msg{Subject: subj, Data: recs[subj]})
		if err != nil {
			problems = append(problems, fmt.Sprintf("item %s: unreadable record", id))
			continue
		}
		if it.ID != id {
			problems = append(problems, fmt.Sprintf("item %s: record names %s", id, it.ID))
		}
		ci := chunks[id]
		if ci == nil {
			ci = &chunkInfo{maxSeq: -1}
		}
		if ci.count != int64(it.Chunks) || ci.bytes != it.Size || ci.maxSeq != it.Chunks-1 {
			problems = append(problems, fmt.Sprintf("item %s: %d chunks (up to %d) with %d bytes, record says %d and %d",
				id, ci.count, ci.maxSeq, ci.bytes, it.Chunks, it.Size))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(chunks)) {
		ci := chunks[id]
		for _, b := range ci.bad {
			problems = append(problems, "chunk with a bad subject "+b)
		}
		if recs[s.itemSubject(id)] == nil && pending[s.pendingSubject(id)] == nil && ci.count > 0 {
			problems = append(problems, fmt.Sprintf("orphan chunks of %s: %d", id, ci.count))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", store.ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// removeOrphans purges the chunks of items neither committed nor in
// progress (their pending mark expired), and returns how many items'.
func (s *Store) removeOrphans() (int, error) {
	chunks, err := s.chunkSubjects()
	if err != nil {
		return 0, err
	}
	if len(chunks) == 0 {
		return 0, nil
	}
	pending, err := s.live(s.pfx + ".p.*")
	if err != nil {
		return 0, err
	}
	recs, err := s.live(s.pfx + ".i.*")
	if err != nil {
		return 0, err
	}
	n := 0
	for id := range chunks {
		if recs[s.itemSubject(id)] != nil || pending[s.pendingSubject(id)] != nil || parseID(id) != nil {
			continue
		}
		ctx, cancel := s.ctx()
		err := s.st.Purge(ctx, jetstream.WithPurgeSubject(s.chunksFilter(id)))
		cancel()
		if err != nil {
			return n, mapErr(err)
		}
		n++
	}
	return n, nil
}

// WriteBundleItems streams a bundle of the given items (see
// [store.DB.WriteBundleItems]).
func (s *Store) WriteBundleItems(w io.Writer, day string, items []store.Item, ev ...*bundle.Evidence) (bundle.Index, error) {
	var e *bundle.Evidence
	if len(ev) > 0 {
		e = ev[0]
	}
	return store.WriteBundle(w, day, items, e, func(id string) (io.Reader, error) {
		_, r, err := s.Open(id)
		return r, err
	})
}
