package annotations

import (
	"fmt"
	"slices"
	"sort"
)

// Case is the merged state of one target.
type Case struct {
	Status   string   // "" until someone sets one: read as "new"
	Assignee string   // "" for nobody
	Tags     []string // sorted
	Notes    []Note   // in the order of the log
	Links    []string // other targets, sorted; a link shows on both ends
	History  []*Op    // every operation on the target, in the order applied
}

// Note is one note with who wrote it and on which day.
type Note struct {
	Author, Day, Text string
}

// State is the merged log: the cases by target, and how far each author's
// counter reached.
type State struct {
	Cases map[string]*Case
	// Seen is, by author, the highest counter merged; Clock the highest
	// clock. An author continues from Seen[author]+1 and Clock+1.
	Seen  map[string]uint64
	Clock uint64
	// Gaps names authors whose counters skip numbers: operations of theirs
	// that this merge did not get (a lost or not yet carried log). The
	// state is still the merge of what it got.
	Gaps []string
}

// Merge merges ops, in any order and with any repeats, into one state.
// The same set of operations gives the same state whatever their order.
// An operation that fails [Op.Check] is an error, and so is one author's
// counter used for two different operations: a forked log, which no
// order could merge honestly.
func Merge(ops []*Op) (*State, error) {
	if len(ops) > MaxOps {
		return nil, fmt.Errorf("%w: %d operations, more than %d", ErrBad, len(ops), MaxOps)
	}
	type key struct {
		author string
		seq    uint64
	}
	uniq := map[key]*Op{}
	for _, op := range ops {
		if err := op.Check(); err != nil {
			return nil, err
		}
		k := key{op.Author, op.Seq}
		if prev, ok := uniq[k]; ok {
			if *prev != *op {
				return nil, fmt.Errorf("%w: %s wrote two different operations numbered %d: their logs forked (was one identity used on two machines?)",
					ErrBad, op.Author, op.Seq)
			}
			continue
		}
		uniq[k] = op
	}
	order := make([]*Op, 0, len(uniq))
	for _, op := range uniq {
		order = append(order, op)
	}
	sort.Slice(order, func(i, j int) bool { return before(order[i], order[j]) })

	st := &State{Cases: map[string]*Case{}, Seen: map[string]uint64{}}
	count := map[string]uint64{}
	get := func(t string) *Case {
		c := st.Cases[t]
		if c == nil {
			c = &Case{}
			st.Cases[t] = c
		}
		return c
	}
	for _, op := range order {
		st.Seen[op.Author] = max(st.Seen[op.Author], op.Seq)
		st.Clock = max(st.Clock, op.Clock)
		count[op.Author]++
		c := get(op.Target)
		c.History = append(c.History, op)
		switch op.Kind {
		case SetStatus:
			c.Status = op.Value
		case Assign:
			c.Assignee = op.Value
		case AddTag:
			if i, found := slices.BinarySearch(c.Tags, op.Value); !found {
				c.Tags = slices.Insert(c.Tags, i, op.Value)
			}
		case RemoveTag:
			if i, found := slices.BinarySearch(c.Tags, op.Value); found {
				c.Tags = slices.Delete(c.Tags, i, i+1)
			}
		case AddNote:
			c.Notes = append(c.Notes, Note{Author: op.Author, Day: op.Day, Text: op.Value})
		case Link, Unlink:
			other := get(op.Value)
			if op.Value != op.Target {
				other.History = append(other.History, op)
			}
			setLink(c, op.Value, op.Kind == Link)
			setLink(other, op.Target, op.Kind == Link)
		}
	}
	for a, n := range count {
		if n != st.Seen[a] {
			st.Gaps = append(st.Gaps, a)
		}
	}
	slices.Sort(st.Gaps)
	return st, nil
}

func setLink(c *Case, to string, on bool) {
	i, found := slices.BinarySearch(c.Links, to)
	switch {
	case on && !found:
		c.Links = slices.Insert(c.Links, i, to)
	case !on && found:
		c.Links = slices.Delete(c.Links, i, i+1)
	}
}

// Next returns the next operation of author on st: its counter follows the
// author's last, its clock every clock merged. The caller fills Target,
// Kind and Value, then checks it, and merges it (st is not changed).
func (st *State) Next(author, day string) *Op {
	return &Op{Author: author, Seq: st.Seen[author] + 1, Clock: st.Clock + 1, Day: day}
}
