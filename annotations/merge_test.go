package annotations

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

const (
	itemA = "item:0123456789abcdef0123456789abcdef"
	itemB = "item:fedcba9876543210fedcba9876543210"
	srcC  = "source:s-abcdefghij"
)

// team writes operations as three investigators would on their own
// laptops, each merging what the others carried now and then.
type team struct {
	rng     *rand.Rand
	logs    map[string][]*Op // each author's own laptop: what it has
	authors []string
}

func newTeam(seed uint64) *team {
	return &team{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), logs: map[string][]*Op{},
		authors: []string{"alice", "bob", "chen"}}
}

func (tm *team) step(t *testing.T) {
	a := tm.authors[tm.rng.IntN(len(tm.authors))]
	if tm.rng.IntN(5) == 0 { // carry another's log over
		b := tm.authors[tm.rng.IntN(len(tm.authors))]
		have := map[[2]any]bool{}
		for _, op := range tm.logs[a] {
			have[[2]any{op.Author, op.Seq}] = true
		}
		for _, op := range tm.logs[b] {
			if !have[[2]any{op.Author, op.Seq}] {
				tm.logs[a] = append(tm.logs[a], op)
			}
		}
		return
	}
	st, err := Merge(tm.logs[a])
	if err != nil {
		t.Fatal(err)
	}
	op := st.Next(a, "2026-12-07")
	targets := []string{itemA, itemB, srcC}
	op.Target = targets[tm.rng.IntN(len(targets))]
	switch tm.rng.IntN(7) {
	case 0:
		op.Kind, op.Value = SetStatus, Statuses[tm.rng.IntN(len(Statuses))]
	case 1:
		op.Kind, op.Value = Assign, tm.authors[tm.rng.IntN(3)]
	case 2:
		op.Kind, op.Value = AddTag, []string{"flight", "Krome", "медицина"}[tm.rng.IntN(3)]
	case 3:
		op.Kind, op.Value = RemoveTag, []string{"flight", "Krome", "медицина"}[tm.rng.IntN(3)]
	case 4:
		op.Kind, op.Value = AddNote, fmt.Sprintf("note %d of %s", op.Seq, a)
	case 5, 6:
		op.Kind = []string{Link, Unlink}[tm.rng.IntN(2)]
		for op.Value = op.Target; op.Value == op.Target; {
			op.Value = targets[tm.rng.IntN(len(targets))]
		}
	}
	if err := op.Check(); err != nil {
		t.Fatal(err)
	}
	tm.logs[a] = append(tm.logs[a], op)
}

// all is every laptop's log, one after the other: with repeats, since
// the laptops carried each other's operations.
func (tm *team) all() []*Op {
	var ops []*Op
	for _, a := range tm.authors {
		ops = append(ops, tm.logs[a]...)
	}
	return ops
}

// TestMergeAnyOrderAnyRepeats: the same operations, shuffled and with
// random repeats, merge to the same state, many times over.
func TestMergeAnyOrderAnyRepeats(t *testing.T) {
	for seed := range uint64(16) {
		tm := newTeam(seed)
		for range 250 {
			tm.step(t)
		}
		ops := tm.all()
		want, err := Merge(ops)
		if err != nil {
			t.Fatal(err)
		}
		if len(want.Gaps) != 0 {
			t.Fatalf("seed %d: gaps %v in the union of every laptop", seed, want.Gaps)
		}
		for trial := range 10 {
			shuffled := append([]*Op(nil), ops...)
			for range tm.rng.IntN(len(ops)) { // repeats, also as separate copies
				op := *ops[tm.rng.IntN(len(ops))]
				shuffled = append(shuffled, &op)
			}
			tm.rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			got, err := Merge(shuffled)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d trial %d: a shuffled merge differs:\n got %s\nwant %s", seed, trial, dump(got), dump(want))
			}
		}
	}
}

func dump(st *State) string {
	var b strings.Builder
	for _, t := range []string{itemA, itemB, srcC} {
		if c := st.Cases[t]; c != nil {
			fmt.Fprintf(&b, "%s: %q %q %q %d notes %q; ", t, c.Status, c.Assignee, c.Tags, len(c.Notes), c.Links)
		}
	}
	return b.String()
}

func op(author string, seq, clock uint64, target, kind, value string) *Op {
	return &Op{Author: author, Seq: seq, Clock: clock, Day: "2026-12-07", Target: target, Kind: kind, Value: value}
}

// TestMergeRules: a change seen by its author's next change is overridden
// by it; of two concurrent ones the higher clock wins, then the later
// name; a removed tag added again is back; notes all stay, in order;
// links show on both ends.
func TestMergeRules(t *testing.T) {
	st, err := Merge([]*Op{
		op("alice", 1, 1, itemA, SetStatus, "triage"),
		op("bob", 1, 2, itemA, SetStatus, "verified"), // bob saw alice's
		op("alice", 2, 3, itemA, Assign, "bob"),
		op("chen", 1, 3, itemA, Assign, "chen"), // concurrent with alice's: same clock, "chen" > "alice"
		op("alice", 3, 4, itemA, AddTag, "flight"),
		op("bob", 2, 5, itemA, RemoveTag, "flight"),
		op("chen", 2, 6, itemA, AddTag, "flight"),
		op("bob", 3, 6, itemA, AddTag, "Krome"),
		op("alice", 4, 7, itemA, AddNote, "first"),
		op("bob", 4, 7, itemA, AddNote, "second"),
		op("chen", 3, 8, itemA, Link, srcC),
		op("alice", 5, 9, itemB, Link, itemA),
		op("bob", 5, 10, itemA, Unlink, itemB),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := st.Cases[itemA]
	if a.Status != "verified" || a.Assignee != "chen" {
		t.Errorf("status %q, assignee %q; want verified, chen", a.Status, a.Assignee)
	}
	if !reflect.DeepEqual(a.Tags, []string{"Krome", "flight"}) {
		t.Errorf("tags %q", a.Tags)
	}
	if len(a.Notes) != 2 || a.Notes[0].Text != "first" || a.Notes[0].Author != "alice" || a.Notes[1].Text != "second" {
		t.Errorf("notes %+v", a.Notes)
	}
	if !reflect.DeepEqual(a.Links, []string{srcC}) || !reflect.DeepEqual(st.Cases[srcC].Links, []string{itemA}) || len(st.Cases[itemB].Links) != 0 {
		t.Errorf("links: %q, %q, %q", a.Links, st.Cases[srcC].Links, st.Cases[itemB].Links)
	}
	// Eleven operations on item A, and the two links made from item B's end.
	if len(a.History) != 13 || a.History[0].Author != "alice" || a.History[12].Kind != Unlink {
		t.Errorf("history of %d operations", len(a.History))
	}
	if st.Seen["alice"] != 5 || st.Seen["chen"] != 3 || st.Clock != 10 {
		t.Errorf("seen %v, clock %d", st.Seen, st.Clock)
	}
	next := st.Next("chen", "2026-12-08")
	if next.Seq != 4 || next.Clock != 11 || next.Author != "chen" || next.Day != "2026-12-08" {
		t.Errorf("next %+v", next)
	}
}

// TestMergeForkAndGaps: one counter for two operations is refused (two
// laptops with one identity); a missing counter is named, not an error.
func TestMergeForkAndGaps(t *testing.T) {
	_, err := Merge([]*Op{op("alice", 1, 1, itemA, AddTag, "x"), op("alice", 1, 1, itemA, AddTag, "y")})
	if !errors.Is(err, ErrBad) || !strings.Contains(err.Error(), "forked") {
		t.Errorf("a forked log: %v", err)
	}
	st, err := Merge([]*Op{op("alice", 1, 1, itemA, AddTag, "x"), op("alice", 3, 2, itemA, AddTag, "y"), op("bob", 1, 1, itemA, AddTag, "z")})
	if err != nil || !reflect.DeepEqual(st.Gaps, []string{"alice"}) {
		t.Errorf("gaps %v, %v", st.Gaps, err)
	}
}

func TestCheck(t *testing.T) {
	good := op("alice", 1, 1, itemA, AddTag, "flight")
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(o *Op){
		"author":        func(o *Op) { o.Author = "Alice" },
		"author long":   func(o *Op) { o.Author = strings.Repeat("a", 33) },
		"seq":           func(o *Op) { o.Seq = 0 },
		"clock":         func(o *Op) { o.Clock = 0 },
		"time of day":   func(o *Op) { o.Day = "2026-12-07T10:11:12Z" },
		"target":        func(o *Op) { o.Target = "item:../../etc" },
		"kind":          func(o *Op) { o.Kind = "delete" },
		"status":        func(o *Op) { o.Kind, o.Value = SetStatus, "done" },
		"assignee":      func(o *Op) { o.Kind, o.Value = Assign, "Bob Smith" },
		"tag escape":    func(o *Op) { o.Value = "\x1b[2J" },
		"tag bidi":      func(o *Op) { o.Value = "ab\u202ecd" },
		"tag spaces":    func(o *Op) { o.Value = " flight" },
		"tag long":      func(o *Op) { o.Value = strings.Repeat("x", MaxTag+1) },
		"empty note":    func(o *Op) { o.Kind, o.Value = AddNote, " \n" },
		"long note":     func(o *Op) { o.Kind, o.Value = AddNote, strings.Repeat("x", MaxNote+1) },
		"invalid UTF-8": func(o *Op) { o.Kind, o.Value = AddNote, "\xff" },
		"self link":     func(o *Op) { o.Kind, o.Value = Link, itemA },
		"link":          func(o *Op) { o.Kind, o.Value = Link, "https://example.org" },
	} {
		o := *good
		mut(&o)
		if err := o.Check(); !errors.Is(err, ErrBad) {
			t.Errorf("%s: %v", name, err)
		} else if strings.ContainsAny(err.Error(), "\x1b\u202e") {
			t.Errorf("%s: the error carries the control character: %q", name, err)
		}
	}
	// Notes may hold what a terminal acts on: shown escaped, kept as written.
	o := *good
	o.Kind, o.Value = AddNote, "line one\nline two \x1b[1m"
	if err := o.Check(); err != nil {
		t.Error(err)
	}
}

func TestCodec(t *testing.T) {
	tm := newTeam(7)
	for range 200 {
		tm.step(t)
	}
	ops := tm.all()
	ops = append(ops, op("alice", 999, 999, itemA, AddNote, "<b>&\"é\u2028\n</b>"))
	var b bytes.Buffer
	if err := Encode(&b, ops); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ops) {
		t.Error("decoded log differs")
	}
	for name, in := range map[string]string{
		"unknown field": `{"author":"alice","seq":1,"clock":1,"day":"2026-12-07","target":"` + itemA + `","kind":"tag","value":"x","time":"10:11"}`,
		"two on a line": `{"author":"alice","seq":1,"clock":1,"day":"2026-12-07","target":"` + itemA + `","kind":"tag","value":"x"}{}`,
		"bad op":        `{"author":"alice","seq":0,"clock":1,"day":"2026-12-07","target":"` + itemA + `","kind":"tag","value":"x"}`,
		"not JSON":      `alice tagged it`,
		"huge line":     strings.Repeat("x", maxLine+1),
	} {
		if _, err := Decode(strings.NewReader(in + "\n")); !errors.Is(err, ErrBad) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecodeMerge(f *testing.F) {
	var b bytes.Buffer
	Encode(&b, []*Op{op("alice", 1, 1, itemA, AddTag, "x"), op("bob", 1, 2, itemA, Link, srcC)})
	f.Add(b.Bytes())
	f.Add([]byte(`{"author":"alice","seq":1,"clock":1,"day":"2026-12-07","target":"` + itemA + `","kind":"note","value":"\u001b"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ops, err := Decode(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrBad) {
				t.Fatalf("an error that is not ErrBad: %v", err)
			}
			return
		}
		st, err := Merge(ops)
		if err != nil {
			return
		}
		rev := append([]*Op(nil), ops...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		if st2, err := Merge(rev); err != nil || !reflect.DeepEqual(st, st2) {
			t.Fatalf("the reversed log merges differently: %v", err)
		}
	})
}
