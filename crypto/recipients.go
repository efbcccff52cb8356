package crypto

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
)

// ErrNoRecipients is returned for a recipient set with no key in it.
var ErrNoRecipients = errors.New("no recipients: add at least one investigator's age public key")

// RecipientError says which line of a recipient file is wrong, and why.
type RecipientError struct {
	Source string // file name or other label
	Line   int    // 1-based
	Reason string
}

func (e *RecipientError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Reason)
}

// Recipients is a set of age public keys that objects are encrypted to. It
// holds either only post-quantum hybrid keys or only classic X25519 keys.
type Recipients struct {
	keys []string // canonical strings, sorted, unique
	list []age.Recipient
	pq   bool
}

// Kind names the keys of a recipient line: "pq" for age1pq1…, "classic" for
// X25519 age1…, or "" for anything else.
func recipientKind(s string) string {
	switch {
	case strings.HasPrefix(s, "age1pq1"):
		return "pq"
	case strings.HasPrefix(s, "age1"):
		return "classic"
	}
	return ""
}

type parsedLine struct {
	key  string
	line int
}

// ParseRecipients reads an age recipients file: one public key per line,
// blank lines and lines starting with # ignored. source labels errors. Keys
// are hybrid (age1pq1…) or X25519 (age1…); the two kinds cannot be mixed
// because a hybrid key's post-quantum protection would be lost beside a
// classic one. An empty set is refused with [ErrNoRecipients].
func ParseRecipients(r io.Reader, source string) (*Recipients, error) {
	var lines []parsedLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF") // a byte-order mark from a Windows editor
		}
		s := strings.TrimSpace(line)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		lines = append(lines, parsedLine{s, n})
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, &RecipientError{source, n + 1, "line too long for an age public key"}
	} else if err != nil {
		return nil, fmt.Errorf("%s: reading recipients: %w", source, err)
	}
	return buildRecipients(lines, source)
}

// NewRecipients builds a set from public key strings, as [ParseRecipients]
// does from a file; source labels errors and the index is reported as the line.
func NewRecipients(source string, keys ...string) (*Recipients, error) {
	lines := make([]parsedLine, 0, len(keys))
	for i, k := range keys {
		lines = append(lines, parsedLine{strings.TrimSpace(k), i + 1})
	}
	return buildRecipients(lines, source)
}

func buildRecipients(lines []parsedLine, source string) (*Recipients, error) {
	rs := &Recipients{}
	first := ""
	firstLine := 0
	seen := map[string]bool{}
	for _, l := range lines {
		kind := recipientKind(l.key)
		var rcpt age.Recipient
		var err error
		switch kind {
		case "pq":
			rcpt, err = age.ParseHybridRecipient(l.key)
		case "classic":
			rcpt, err = age.ParseX25519Recipient(l.key)
		default:
			return nil, &RecipientError{source, l.line, "not an age public key (want age1pq1… or age1…)"}
		}
		if err != nil {
			return nil, &RecipientError{source, l.line, fmt.Sprintf("invalid age public key: %v", err)}
		}
		if first == "" {
			first, firstLine = kind, l.line
		} else if kind != first {
			return nil, &RecipientError{source, l.line, fmt.Sprintf(
				"%s key mixed with %s keys (line %d): age cannot mix post-quantum and classic recipients, "+
					"because the classic key would void the post-quantum protection; use only age1pq1… keys",
				kindName(kind), kindName(first), firstLine)}
		}
		if seen[l.key] {
			continue
		}
		seen[l.key] = true
		rs.keys = append(rs.keys, l.key)
		rs.list = append(rs.list, rcpt)
	}
	if len(rs.keys) == 0 {
		return nil, fmt.Errorf("%s: %w", source, ErrNoRecipients)
	}
	rs.pq = first == "pq"
	// Keep list and keys in the same sorted order.
	idx := make([]int, len(rs.keys))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(rs.keys[a], rs.keys[b]) })
	keys := make([]string, len(idx))
	list := make([]age.Recipient, len(idx))
	for i, j := range idx {
		keys[i], list[i] = rs.keys[j], rs.list[j]
	}
	rs.keys, rs.list = keys, list
	return rs, nil
}

func kindName(k string) string {
	if k == "pq" {
		return "post-quantum (age1pq1…)"
	}
	return "classic X25519 (age1…)"
}

// Merge returns the union of sets; they must be of the same kind.
func Merge(source string, sets ...*Recipients) (*Recipients, error) {
	var keys []string
	for _, s := range sets {
		if s != nil {
			keys = append(keys, s.keys...)
		}
	}
	return NewRecipients(source, keys...)
}

// PostQuantum reports whether the set holds hybrid keys.
func (rs *Recipients) PostQuantum() bool { return rs.pq }

// Keys returns the public keys of the set, sorted.
func (rs *Recipients) Keys() []string { return slices.Clone(rs.keys) }

// Len is the number of keys in the set.
func (rs *Recipients) Len() int { return len(rs.keys) }

// Contains reports whether key is in the set.
func (rs *Recipients) Contains(key string) bool {
	_, ok := slices.BinarySearch(rs.keys, strings.TrimSpace(key))
	return ok
}

// Fingerprint names the set: the first 16 bytes, in hex, of the SHA-256 of
// its sorted keys, one per line. It does not depend on order or duplicates.
func (rs *Recipients) Fingerprint() string {
	return Fingerprint(rs.keys...)
}

// Fingerprint computes the fingerprint of a set of public keys as
// [Recipients.Fingerprint] does, without parsing them.
func Fingerprint(keys ...string) string {
	k := slices.Clone(keys)
	for i := range k {
		k[i] = strings.TrimSpace(k[i])
	}
	slices.Sort(k)
	k = slices.Compact(k)
	h := sha256.New()
	for _, s := range k {
		io.WriteString(h, s)
		io.WriteString(h, "\n")
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (rs *Recipients) ageRecipients() []age.Recipient { return rs.list }
