package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"testimony/bundle"
	"testimony/crypto"
)

// The custody trail: every open, share and export appends an entry to
// custody.log in the case folder, signed with the investigator's own
// Ed25519 key (made by keygen beside the age identity, signKeyPath). An
// entry names the entry before it by hash, so an entry removed, altered
// or moved is found by verify. It holds the UTC day only, never a finer
// time.
//
// The log is JSON lines, one [custodyEntry] each. Its signature covers
// the entry's JSON with "sig" empty; the next entry's prev is the SHA-256
// of the line as written (without its newline).

const (
	custodyName   = "custody.log"
	custodyFormat = "testimony-custody/v1"
	// maxCustodyLine bounds one entry when reading a log.
	maxCustodyLine = 4 << 20
)

// Custody fault kinds, as verify names them.
const (
	custodyRemoved   = "custody entry removed"
	custodyAltered   = "custody entry altered"
	custodyReordered = "custody entries reordered"
	custodyForeign   = "custody entry by another key"
	custodyBad       = "custody entry unreadable"
)

type custodyEntry struct {
	Format string   `json:"format"`
	N      uint64   `json:"n"`    // 1 for the first entry, then one more each
	Prev   string   `json:"prev"` // hex SHA-256 of the previous line; 64 zeros for the first
	Day    string   `json:"day"`  // UTC day, YYYY-MM-DD
	Action string   `json:"action"`
	Items  []string `json:"items"` // item ids
	Note   string   `json:"note"`  // what was read or written: file names and their SHA-256
	Key    string   `json:"key"`   // the investigator's signing key, ed25519:HEX
	Sig    string   `json:"sig"`   // base64 Ed25519 signature of message()
}

// message is what an entry's signature covers.
func (e custodyEntry) message() []byte {
	e.Sig = ""
	b, _ := json.Marshal(e) // a struct of strings: cannot fail
	return append([]byte(custodyFormat+"\n"), b...)
}

// signKeyPath is where keygen puts the signing key of an identity file:
// beside it, with ".sign" added to its name.
func signKeyPath(identity string) string { return identity + ".sign" }

// loadSignKey reads the signing key beside the first identity file; an
// identity made before signing keys has none, and gets a warning that
// says how to make one.
func loadSignKey(identities []string) (ed25519.PrivateKey, bool) {
	if len(identities) == 0 {
		return nil, false
	}
	p := signKeyPath(identities[0])
	key, err := crypto.LoadSigningKey(p)
	if errors.Is(err, fs.ErrNotExist) {
		warnf("no signing key beside %s (%s): this is not recorded in the case folder's custody log; make one with \"testimony keygen --sign-key-for %s\"", identities[0], p, identities[0])
		return nil, false
	}
	if err != nil {
		warnf("%v: this is not recorded in the custody log", err)
		return nil, false
	}
	return key, true
}

// today is the UTC day; tests set it.
var custodyDay = func() string { return time.Now().UTC().Format(time.DateOnly) }

// appendCustody appends a signed entry to dir's custody log. Appends are
// serialised with a lock on the log, so that two commands at once do not
// both chain to the same entry.
func appendCustody(dir string, key ed25519.PrivateKey, action string, items []string, note string) error {
	f, err := os.OpenFile(filepath.Join(dir, custodyName), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return err
	}
	n, prev, err := custodyHead(f)
	if err != nil {
		return fmt.Errorf("%s: %v", custodyName, err)
	}
	if items == nil {
		items = []string{}
	}
	e := custodyEntry{Format: custodyFormat, N: n + 1, Prev: prev, Day: custodyDay(), Action: action,
		Items: slices.Sorted(slices.Values(items)), Note: note,
		Key: bundle.FormatKey(key.Public().(ed25519.PublicKey))}
	e.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, e.message()))
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return err
	}
	return f.Sync()
}

// custodyHead reads a log through and returns its last entry's number
// and the hash of its line (0 and zeros for an empty log).
func custodyHead(r io.ReadSeeker) (uint64, string, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return 0, "", err
	}
	var n uint64
	prev := bundle.ZeroHash
	err := eachCustodyLine(r, func(line []byte) error {
		var e custodyEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("entry after %d: %v", n, err)
		}
		n, prev = e.N, lineHash(line)
		return nil
	})
	return n, prev, err
}

func lineHash(line []byte) string {
	h := sha256.Sum256(line)
	return hex.EncodeToString(h[:])
}

func eachCustodyLine(r io.Reader, fn func([]byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxCustodyLine)
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return sc.Err()
}

// custodyReport is what checking a custody log found.
type custodyReport struct {
	Faults  []bundle.Fault
	Entries int
	Keys    []string // the keys that signed entries, in order of first use
	Head    string   // hash of the last line: note it to detect entries cut off the end
}

// checkCustody checks a custody log: each entry signed by the key it
// names (and, if keys is not empty, by one of them), numbered one after
// the other, naming the line before it by hash. A removed entry shows as
// a gap in the numbers, an altered one as a bad signature or a broken
// link, a moved one as numbers out of order.
func checkCustody(r io.Reader, keys []string) (*custodyReport, error) {
	rep := &custodyReport{}
	fault := func(kind, format string, a ...any) {
		rep.Faults = append(rep.Faults, bundle.Fault{Kind: kind, Detail: fmt.Sprintf(format, a...)})
	}
	var lines [][]byte
	if err := eachCustodyLine(r, func(b []byte) error {
		lines = append(lines, bytes.Clone(b))
		return nil
	}); err != nil {
		return nil, err
	}
	entries := make([]custodyEntry, len(lines))
	later := map[uint64]int{} // entry number: the last line that has it
	for i, b := range lines {
		if json.Unmarshal(b, &entries[i]) == nil {
			later[entries[i].N] = i
		}
	}
	// movedAfter reports whether the entries from..to-1 all come after
	// line i: moved, not removed.
	movedAfter := func(from, to uint64, i int) bool {
		if to-from > uint64(len(lines)) {
			return false
		}
		for n := from; n < to; n++ {
			if j, ok := later[n]; !ok || j <= i {
				return false
			}
		}
		return true
	}
	var want uint64 = 1
	prev := bundle.ZeroHash
	for i, b := range lines {
		line := i + 1
		rep.Entries++
		h := lineHash(b)
		e := entries[i]
		if json.Unmarshal(b, &custodyEntry{}) != nil || e.Format != custodyFormat {
			fault(custodyBad, "line %d is not a custody entry of format %s", line, custodyFormat)
			want++
			prev = h
			continue
		}
		pub, err := bundle.ParseKey(e.Key)
		switch {
		case err != nil:
			fault(custodyBad, "entry %d names no signing key", e.N)
		case !validCustodySig(pub, e):
			fault(custodyAltered, "entry %d (line %d): its signature does not hold: it was changed after it was written", e.N, line)
		case len(keys) > 0 && !slices.Contains(keys, e.Key):
			fault(custodyForeign, "entry %d is signed by %s, not by a key given", e.N, e.Key)
		}
		if err == nil && !slices.Contains(rep.Keys, e.Key) {
			rep.Keys = append(rep.Keys, e.Key)
		}
		if _, err := time.Parse(time.DateOnly, e.Day); err != nil {
			fault(custodyBad, "entry %d: %q is not a day", e.N, e.Day)
		}
		switch {
		case e.N == want && e.Prev != prev:
			fault(custodyAltered, "entry %d does not name the line before it: an entry before it was altered or replaced", e.N)
		case e.N > want && movedAfter(want, e.N, i):
			fault(custodyReordered, "entry %d comes before entry %d (line %d)", e.N, want, line)
		case e.N > want:
			fault(custodyRemoved, "entries %d to %d are missing before entry %d", want, e.N-1, e.N)
		case e.N < want:
			fault(custodyReordered, "entry %d comes after entry %d (line %d)", e.N, want-1, line)
		}
		if e.N >= want {
			want = e.N + 1
		}
		prev = h
	}
	rep.Head = prev
	return rep, nil
}

func validCustodySig(pub ed25519.PublicKey, e custodyEntry) bool {
	s, err := base64.StdEncoding.DecodeString(e.Sig)
	return err == nil && ed25519.Verify(pub, e.message(), s)
}

// verifyCustody checks dir/custody.log, if there is one, and prints what
// it found; it reports whether everything held.
func verifyCustody(dir string, keys []string) bool {
	name := filepath.Join(dir, custodyName)
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		printf("%s: no custody log (opened without a signing key, or by an older testimony)\n", dir)
		return true
	}
	if err != nil {
		errorf("%v", err)
		return false
	}
	defer f.Close()
	rep, err := checkCustody(f, keys)
	if err != nil {
		errorf("%s: %v", name, err)
		return false
	}
	for _, flt := range rep.Faults {
		printf("%s: FAULT: %s\n", name, flt)
	}
	if len(rep.Faults) > 0 {
		printf("%s: FAILED: %d faults in %d entries\n", name, len(rep.Faults), rep.Entries)
		return false
	}
	printf("%s: OK: %d entries, chained and signed by %v; last entry's hash %s\n", name, rep.Entries, rep.Keys, rep.Head)
	return true
}

// fileNames is the base names of files, for a custody entry's note.
func fileNames(files []string) string {
	var s string
	for i, f := range files {
		if i > 0 {
			s += ", "
		}
		s += filepath.Base(f)
	}
	return s
}
