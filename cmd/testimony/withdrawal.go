package main

import (
	"sort"

	"testimony/crypto"
)

// A witness can take their account back with their codename: an item of
// kind withdrawal (consent to use it withdrawn) or erasure (deletion
// asked, which withdraws consent too) under their source. Every item of
// such a source is marked wherever the case folder shows it — index.html,
// testimonies.csv, report.html, and open's and report's output — so that
// nobody quotes or counts it unawares. Nothing is deleted: deleting is an
// investigator's act, on the investigator site, where it is audited.

// withdrawalLabel is how a source's request is named for people.
var withdrawalLabel = map[string]string{
	crypto.KindWithdrawal: "consent withdrawn",
	crypto.KindErasure:    "deletion requested",
}

// withdrawnSource is a source that took its account back.
type withdrawnSource struct {
	Source string
	Kind   string // crypto.KindWithdrawal or crypto.KindErasure
	Label  string // withdrawalLabel[Kind]
	Day    string // of the latest such request
	Items  int    // the source's items in the folder, the requests too
}

// markWithdrawals sets the Withdrawal of every item of a source that has
// a withdrawal or erasure item (an erasure outweighs a withdrawal), and
// returns those sources, sorted.
func markWithdrawals(items []*caseItem) []withdrawnSource {
	by := map[string]*withdrawnSource{}
	for _, it := range items {
		k := it.M.Kind
		if k != crypto.KindWithdrawal && k != crypto.KindErasure {
			continue
		}
		w := by[it.Info.Source]
		if w == nil {
			w = &withdrawnSource{Source: it.Info.Source, Kind: k}
			by[it.Info.Source] = w
		}
		if k == crypto.KindErasure {
			w.Kind = k
		}
		w.Day = max(w.Day, it.M.Day)
	}
	for _, it := range items {
		if w := by[it.Info.Source]; w != nil {
			it.Withdrawal = withdrawalLabel[w.Kind]
			w.Items++
		}
	}
	out := make([]withdrawnSource, 0, len(by))
	for _, w := range by {
		w.Label = withdrawalLabel[w.Kind]
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

// warnWithdrawals says on the terminal which sources took their account
// back.
func warnWithdrawals(ws []withdrawnSource) {
	for _, w := range ws {
		warnf("source %s: %s (%s, %s): its %d items are marked so in index.html, testimonies.csv and the report",
			safeText(w.Source), w.Label, w.Kind, w.Day, w.Items)
	}
}
