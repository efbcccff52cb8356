package main

// The console's control socket.
//
// bbolt locks the database file: while serve runs, no other process can
// open it. So the console commands that make sense on a live service
// (backup, status, check, purge) are requests to the running server over a
// unix socket, DATA/control.sock, mode 0600 in the 0700 data directory:
// only the service's own user (and root) can connect. When nothing answers
// there, the commands open the file themselves. The commands that replace
// the file (restore, compact) refuse while the server runs.
//
// The protocol is one JSON request line, then one JSON response line. A
// backup's response line is followed by the database as frames (a 4-byte
// big-endian length, then that many bytes; length 0 ends the stream) and a
// trailer line with the size and CRC-32C of what was sent. The copy is a
// consistent snapshot holding every item committed before it began, taken
// while submissions go on: one bbolt read transaction writes it to an
// unnamed temporary file in the data directory, at disk speed, and the
// stream is sent from that file, so a slow or stopped backup reader holds
// no transaction (one held open would stall every write that grows the
// file). A reader that takes nothing for backupStall is cut off, and so is
// every backup at shutdown.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"testimony/records"
	"testimony/store"
)

const controlFile = "control.sock"

// controlRequest is what a console command asks.
type controlRequest struct {
	Op   string `json:"op"` // backup, backup-done, status, check, purge
	Days int    `json:"days,omitempty"`
	Day  string `json:"day,omitempty"`
}

// controlResponse is the server's answer.
type controlResponse struct {
	Error  string        `json:"error,omitempty"`
	Status *statusReport `json:"status,omitempty"`
	Purged int           `json:"purged,omitempty"`
	// Backup trailer.
	Size   int64  `json:"size,omitempty"`
	CRC32C uint32 `json:"crc32c,omitempty"`
}

func listenControl(dataDir string) (net.Listener, error) {
	path := filepath.Join(dataDir, controlFile)
	if len(path) > 107 { // sun_path holds 108 bytes with the NUL
		return nil, fmt.Errorf("control socket %s: the path is %d bytes, the limit of a unix socket is 107; use a shorter data_dir", path, len(path))
	}
	// We hold the database lock, so no other server uses this socket: a
	// file left here is from a server that was killed.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	return l, nil
}

// backupStall is how long a backup stream may wait on its reader (no
// frame taken) before the server cuts it off.
const backupStall = 15 * time.Second

// control answers console requests inside the serving process.
type control struct {
	db  *store.DB
	cfg settings
	log *slog.Logger
	now func() time.Time
	// stall overrides backupStall when set (tests).
	stall time.Duration
	wg    sync.WaitGroup
	mu    sync.Mutex // one purge at a time

	connMu sync.Mutex
	conns  map[net.Conn]struct{} // open console connections
	cutOff bool                  // set by cut: no more
}

// wait returns once every console connection is done.
func (c *control) wait() { c.wg.Wait() }

// cut closes every open console connection, and any accepted after it, so
// that a backup in progress ends at once: shutdown waits for no reader.
func (c *control) cut() {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.cutOff = true
	for conn := range c.conns {
		conn.Close()
	}
}

// track adds conn to the open connections, or says it is too late.
func (c *control) track(conn net.Conn) bool {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.cutOff {
		return false
	}
	if c.conns == nil {
		c.conns = map[net.Conn]struct{}{}
	}
	c.conns[conn] = struct{}{}
	return true
}

func (c *control) untrack(conn net.Conn) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	delete(c.conns, conn)
}

func (c *control) serve(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		if !c.track(conn) {
			conn.Close()
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer c.untrack(conn)
			defer conn.Close()
			c.handle(conn)
		}()
	}
}

func (c *control) handle(conn net.Conn) {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadBytes('\n')
	if err != nil {
		return
	}
	conn.SetReadDeadline(time.Time{})
	var req controlRequest
	if err := json.Unmarshal(line, &req); err != nil {
		writeJSONLine(conn, controlResponse{Error: "bad request"})
		return
	}
	enc := func(r controlResponse, err error) {
		if err != nil {
			r.Error = err.Error()
		}
		writeJSONLine(conn, r)
	}
	switch req.Op {
	case "status":
		st, err := computeStatus(c.db, c.cfg)
		st.Serving = true
		enc(controlResponse{Status: &st}, err)
	case "check":
		enc(controlResponse{}, c.db.Check())
	case "purge":
		if req.Days < 1 {
			enc(controlResponse{}, errors.New("purge: days must be at least 1"))
			return
		}
		c.mu.Lock()
		n, err := purgeOlder(c.db, c.now(), req.Days)
		c.mu.Unlock()
		c.log.Info("console", "event", "purge", "count", n)
		enc(controlResponse{Purged: n}, err)
	case "backup":
		c.backup(conn)
	case "backup-done":
		enc(controlResponse{}, records.RecordBackup(c.db, req.Day))
	default:
		enc(controlResponse{}, fmt.Errorf("unknown request %q", req.Op))
	}
}

// backup answers a backup request: a snapshot of the database in a
// temporary file (see the top of this file), then the stream from it.
func (c *control) backup(conn net.Conn) {
	snap, size, err := c.db.Snapshot(c.cfg.DataDir)
	if err != nil {
		c.log.Error("console", "event", "backup", "err", err.Error())
		writeJSONLine(conn, controlResponse{Error: "the server could not take a snapshot: " + err.Error()})
		return
	}
	defer snap.Close() // frees its disk space
	stall := c.stall
	if stall == 0 {
		stall = backupStall
	}
	sw := &stallWriter{conn: conn, stall: stall}
	if err := writeJSONLine(sw, controlResponse{}); err != nil {
		return
	}
	fw := newFrameWriter(sw)
	n, err := io.Copy(fw, snap)
	if err == nil && n != size {
		err = fmt.Errorf("snapshot: read %d of %d bytes", n, size)
	}
	if err == nil {
		err = fw.Close()
	}
	if err != nil {
		// Cut the stream so the client sees no clean end.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("the backup reader took nothing for %v: cut off", stall)
		}
		c.log.Error("console", "event", "backup", "size", size, "sent", n, "err", err.Error())
		return
	}
	c.log.Info("console", "event", "backup", "size", n)
	writeJSONLine(sw, controlResponse{Size: n, CRC32C: fw.h.Sum32()})
}

// stallWriter writes to a connection in pieces of stallPiece bytes, with
// a write deadline renewed before each: a reader may be slow (down to a
// piece per stall), but one that takes nothing for stall ends the write
// with os.ErrDeadlineExceeded.
type stallWriter struct {
	conn  net.Conn
	stall time.Duration
}

const stallPiece = 32 << 10

func (w *stallWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), stallPiece)
		w.conn.SetWriteDeadline(time.Now().Add(w.stall))
		m, err := w.conn.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// retain applies retention_days at start-up and then every period.
func (c *control) retain(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		c.mu.Lock()
		n, err := purgeOlder(c.db, c.now(), c.cfg.RetentionDays)
		c.mu.Unlock()
		if err != nil {
			c.log.Error("retention", "event", "purge", "err", err.Error())
		} else {
			c.log.Info("retention", "event", "purge", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// frameWriter frames a stream: 4-byte length, bytes; a 0 length ends it.
type frameWriter struct {
	w   io.Writer
	buf []byte
	h   hash.Hash32
}

// castagnoli checksums the backup stream end to end (CRC-32C: fast in
// hardware; the copy is checked structurally afterwards anyway).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func newFrameWriter(w io.Writer) *frameWriter {
	return &frameWriter{w: w, buf: make([]byte, 4, 4+256<<10), h: crc32.New(castagnoli)}
}

func (f *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	f.h.Write(p)
	for len(p) > 0 {
		k := min(cap(f.buf)-len(f.buf), len(p))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		if len(f.buf) == cap(f.buf) {
			if err := f.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (f *frameWriter) flush() error {
	if len(f.buf) == 4 {
		return nil
	}
	binary.BigEndian.PutUint32(f.buf[:4], uint32(len(f.buf)-4))
	_, err := f.w.Write(f.buf)
	f.buf = f.buf[:4]
	return err
}

func (f *frameWriter) Close() error {
	if err := f.flush(); err != nil {
		return err
	}
	_, err := f.w.Write([]byte{0, 0, 0, 0})
	return err
}

// readFrames copies a framed stream to w until its end frame.
func readFrames(r io.Reader, w io.Writer) (int64, error) {
	var hdr [4]byte
	var total int64
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return total, fmt.Errorf("backup stream cut short: %w", err)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			return total, nil
		}
		if n > 1<<20 {
			return total, errors.New("backup stream: bad frame")
		}
		k, err := io.CopyN(w, r, int64(n))
		total += k
		if err != nil {
			return total, fmt.Errorf("backup stream cut short: %w", err)
		}
	}
}

// errNotServing means no server answers on the control socket.
var errNotServing = errors.New("no server is running")

// dialControl connects to a running server's control socket, or returns
// errNotServing.
func dialControl(dataDir string) (net.Conn, error) {
	path := filepath.Join(dataDir, controlFile)
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, errNotServing
		}
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return conn, nil
}

// askServer sends one request to a running server and reads its answer;
// errNotServing if none runs. For a backup, the connection stays open for
// the stream and is returned with its reader.
func askServer(dataDir string, req controlRequest) (controlResponse, net.Conn, *bufio.Reader, error) {
	conn, err := dialControl(dataDir)
	if err != nil {
		return controlResponse{}, nil, nil, err
	}
	if err := writeJSONLine(conn, req); err != nil {
		conn.Close()
		return controlResponse{}, nil, nil, err
	}
	br := bufio.NewReader(conn)
	var resp controlResponse
	line, err := br.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &resp)
	}
	if err != nil {
		conn.Close()
		return resp, nil, nil, fmt.Errorf("control socket: no answer from the server: %v", err)
	}
	if resp.Error != "" {
		conn.Close()
		return resp, nil, nil, errors.New(resp.Error)
	}
	if req.Op != "backup" {
		conn.Close()
		return resp, nil, nil, nil
	}
	return resp, conn, br, nil
}
