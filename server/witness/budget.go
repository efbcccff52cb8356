package witness

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"testimony/server/web"
)

// Uploads' memory. Every upload takes uploadBase from one budget of
// uploadBudget bytes for the buffers it holds whatever it sends (the
// multipart reader's, a part's header, the spool's encryption and copy
// buffers), and textCost bytes for each byte of text it keeps (the value
// as read and as a string; the manifest is built from them at the end).
// An upload that finds the budget spent waits up to the site's
// lim.uploadWait for its base, then gets a 503 "busy" page; one whose text
// does not fit gets it at once. With the defaults, about a thousand
// uploads without much text fit — as many as the witness listener's
// connections — or some 128 with a full megabyte of text each. Streamed uploads hold an item writer's
// buffers besides, bounded by streamSlots.
const (
	uploadBudget      = 256 << 20
	defaultUploadWait = 10 * time.Second
	uploadBase        = 256 << 10
	textCost          = 2
)

// errBusy is the page of an upload refused for want of memory.
var errBusy = &web.HTTPError{Status: http.StatusServiceUnavailable, Msg: "error.busy"}

// memBudget is a count of bytes that uploads take and give back.
type memBudget struct {
	mu   sync.Mutex
	free int64
	back chan struct{} // closed, and replaced, when bytes are given back
}

func newMemBudget(n int64) *memBudget { return &memBudget{free: n, back: make(chan struct{})} }

// tryTake takes n bytes if they are free.
func (b *memBudget) tryTake(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.free < n {
		return false
	}
	b.free -= n
	return true
}

// take takes n bytes, waiting up to wait for them, or until ctx ends.
func (b *memBudget) take(ctx context.Context, n int64, wait time.Duration) bool {
	var timer <-chan time.Time
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return true
		}
		back := b.back
		b.mu.Unlock()
		if timer == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-back:
		case <-timer:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// give returns n bytes.
func (b *memBudget) give(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	close(b.back)
	b.back = make(chan struct{})
	b.mu.Unlock()
}

// A part's header is read by mime/multipart into memory, up to 10 MiB,
// before our code sees the part. partHeaderLimit, under the multipart
// reader, lets it read at most maxPartHeader bytes while it looks for the
// next part: the header and the multipart reader's read-ahead (4 KiB).
// A browser's header, with a file name of maxFileName bytes, is well
// under it. What the header holds counts in the form's text budget.
const maxPartHeader = 16 << 10

var errPartHeader = errors.New("multipart: a part's header is too long")

type partHeaderLimit struct {
	r    io.Reader
	left int // bytes still allowed while in a header; -1 in a part's body
}

// header starts the wait for a part's header; body ends it.
func (l *partHeaderLimit) header() { l.left = maxPartHeader }
func (l *partHeaderLimit) body()   { l.left = -1 }

func (l *partHeaderLimit) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		return 0, errPartHeader
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= n
	return n, err
}

// headerBytes is the size of a part's header as kept in memory.
func headerBytes(h map[string][]string) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4 // ": " and CRLF
		}
	}
	return n
}
