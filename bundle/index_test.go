package bundle

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
)

// TestIndexWriterMatchesMarshalIndent: index.json built entry by entry is
// byte for byte what json.MarshalIndent writes, for plain and awkward
// strings alike, and for an empty bundle.
func TestIndexWriterMatchesMarshalIndent(t *testing.T) {
	odd := []string{"", "plain", `quote " and \ backslash`, "<tag> & amp", "tab\tnewline\ncr\r", "\x00\x01\x1f\x7f",
		"кириллица", "\u2028\u2029", "bad \xff utf-8", "emoji 🙂"}
	for _, n := range []int{0, 1, 3, len(odd)} {
		idx := Index{Format: Format, Day: odd[n%len(odd)], Items: []Entry{}}
		w := NewIndexWriter(idx.Day, n)
		for i := range n {
			e := Entry{ID: fmt.Sprintf("%032x", i), Kind: odd[i%len(odd)], Day: "2026-08-27",
				Source: odd[(i+3)%len(odd)], Size: int64(i) * 1e9, SHA256: odd[(i+5)%len(odd)], Recipients: odd[(i+7)%len(odd)]}
			idx.Items = append(idx.Items, e)
			w.Add(e)
		}
		want, err := json.MarshalIndent(idx, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Bytes(); !bytes.Equal(got, want) {
			t.Errorf("%d entries:\n got %q\nwant %q", n, got, want)
		}
	}
}

// TestIndexWriterEvidence: with proofs, roots and a signed listing the
// index is still byte for byte what json.MarshalIndent writes, and the
// listing's signature holds.
func TestIndexWriterEvidence(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	roots := []DayRoot{SignRoot(DayRoot{Day: "2026-08-26", Count: 0, Root: ZeroHash, Audit: "0:" + ZeroHash, Prev: ZeroHash}, key)}
	for _, n := range []int{0, 1, 4} {
		idx := Index{Format: Format, Day: "2026-08-27", Items: []Entry{}, Roots: roots}
		w := NewIndexWriter(idx.Day, n)
		var lines []string
		for i := range n {
			e := Entry{ID: fmt.Sprintf("%032x", i), Kind: "submission", Day: "2026-08-26", Source: "s", Size: 5, SHA256: "ab", Recipients: "r"}
			switch i % 4 {
			case 1:
				e.Proof = &Proof{Leaf: uint64(i), Path: []string{"00", "11"}}
			case 2:
				e.Proof = &Proof{Leaf: 0, Path: []string{}}
			case 3:
				e.Proof = &Proof{Leaf: 1 << 40, Path: []string{"<odd \"string\">"}}
			}
			idx.Items = append(idx.Items, e)
			lines = append(lines, e.ID+" "+e.SHA256)
			w.Add(e)
		}
		l := Listing{Key: FormatKey(key.Public().(ed25519.PublicKey)), Items: append([]string{}, lines...),
			Last: roots[0].Day + " " + roots[0].Hash()}
		l.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, l.Message(idx.Day)))
		idx.Listing = &l
		want, err := json.MarshalIndent(idx, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got := w.BytesWith(&Evidence{Roots: roots, Key: key})
		if !bytes.Equal(got, want) {
			t.Errorf("%d entries:\n got %s\nwant %s", n, got, want)
		}
		if !l.SignatureValid(idx.Day, key.Public().(ed25519.PublicKey)) {
			t.Error("listing signature does not hold")
		}
	}
}

// TestIndexWriterTeam: the team's recipient set is written as
// json.MarshalIndent writes it, and an index without one (an older
// server's) still reads, with no team.
func TestIndexWriterTeam(t *testing.T) {
	team := &Team{Fingerprint: "0123", Recipients: []string{"age1a", "age1b"}}
	idx := Index{Format: Format, Day: "2026-08-27", Items: []Entry{}, Team: team}
	want, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got := NewIndexWriter(idx.Day, 0).BytesWith(&Evidence{Team: team})
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	var back Index
	if err := json.Unmarshal(got, &back); err != nil || back.Team == nil || back.Team.Recipients[1] != "age1b" {
		t.Fatalf("team not read back: %+v, %v", back.Team, err)
	}
	var old Index
	if err := json.Unmarshal(NewIndexWriter("2026-08-27", 0).Bytes(), &old); err != nil || old.Team != nil {
		t.Fatalf("an index without a team: %+v, %v", old.Team, err)
	}
}
