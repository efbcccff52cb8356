package bundle

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// IndexWriter builds index.json entry by entry, as the bundle is written,
// with the bytes json.MarshalIndent(index, "", "  ") gives (a test holds
// them equal), so that a large bundle's index costs no pass of its own at
// the end of the download.
type IndexWriter struct {
	b       []byte
	n       int
	day     string
	listing []string
}

// NewIndexWriter starts the index of a bundle made on day, with room for
// n entries.
func NewIndexWriter(day string, n int) *IndexWriter {
	w := &IndexWriter{b: make([]byte, 0, 128+n*400), day: day}
	w.b = append(w.b, "{\n  \"format\": "...)
	w.b = appendJSONString(w.b, Format)
	w.b = append(w.b, ",\n  \"day\": "...)
	w.b = appendJSONString(w.b, day)
	w.b = append(w.b, ",\n  \"items\": ["...)
	return w
}

// Add appends an entry.
func (w *IndexWriter) Add(e Entry) {
	if w.n > 0 {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = append(w.b, "\n    {\n      \"id\": "...)
	w.b = appendJSONString(w.b, e.ID)
	w.b = append(w.b, ",\n      \"kind\": "...)
	w.b = appendJSONString(w.b, e.Kind)
	w.b = append(w.b, ",\n      \"day\": "...)
	w.b = appendJSONString(w.b, e.Day)
	w.b = append(w.b, ",\n      \"source\": "...)
	w.b = appendJSONString(w.b, e.Source)
	w.b = append(w.b, ",\n      \"size\": "...)
	w.b = strconv.AppendInt(w.b, e.Size, 10)
	w.b = append(w.b, ",\n      \"sha256\": "...)
	w.b = appendJSONString(w.b, e.SHA256)
	w.b = append(w.b, ",\n      \"recipients\": "...)
	w.b = appendJSONString(w.b, e.Recipients)
	if e.Proof != nil {
		w.b = append(w.b, ",\n      \"proof\": "...)
		w.b = appendProof(w.b, e.Proof)
	}
	w.b = append(w.b, "\n    }"...)
	w.listing = append(w.listing, e.ID+" "+e.SHA256)
}

// Bytes ends the index and returns it; the writer is not used after.
func (w *IndexWriter) Bytes() []byte { return w.BytesWith(nil) }

// BytesWith ends the index with the evidence's roots, if it has a key the
// listing of the entries added, signed with it, and its team if named.
func (w *IndexWriter) BytesWith(ev *Evidence) []byte {
	if w.n > 0 {
		w.b = append(w.b, "\n  "...)
	}
	w.b = append(w.b, ']')
	if ev != nil && len(ev.Roots) > 0 {
		w.b = append(w.b, ",\n  \"roots\": "...)
		w.b = appendIndented(w.b, ev.Roots, "  ")
	}
	if ev != nil && ev.Key != nil {
		l := Listing{Key: FormatKey(ev.Key.Public().(ed25519.PublicKey)), Items: w.listing}
		if n := len(ev.Roots); n > 0 {
			l.Last = ev.Roots[n-1].Day + " " + ev.Roots[n-1].Hash()
		}
		if l.Items == nil {
			l.Items = []string{}
		}
		l.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(ev.Key, l.Message(w.day)))
		w.b = append(w.b, ",\n  \"listing\": "...)
		w.b = appendIndented(w.b, l, "  ")
	}
	if ev != nil && ev.Team != nil {
		w.b = append(w.b, ",\n  \"team\": "...)
		w.b = appendIndented(w.b, ev.Team, "  ")
	}
	return append(w.b, "\n}"...)
}

// appendProof appends p as json.MarshalIndent writes it inside an entry,
// by hand: marshalling each proof cost a fifth of a download.
func appendProof(b []byte, p *Proof) []byte {
	b = append(b, "{\n        \"leaf\": "...)
	b = strconv.AppendUint(b, p.Leaf, 10)
	b = append(b, ",\n        \"path\": "...)
	switch {
	case p.Path == nil:
		b = append(b, "null"...)
	case len(p.Path) == 0:
		b = append(b, "[]"...)
	default:
		b = append(b, '[')
		for i, h := range p.Path {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n          "...)
			b = appendJSONString(b, h)
		}
		b = append(b, "\n        ]"...)
	}
	return append(b, "\n      }"...)
}

// appendIndented appends v as json.MarshalIndent writes it at the depth
// of prefix. The values given (proofs, roots, listings) always marshal.
func appendIndented(b []byte, v any, prefix string) []byte {
	js, err := json.MarshalIndent(v, prefix, "  ")
	if err != nil {
		panic(err)
	}
	return append(b, js...)
}

// appendJSONString appends s as encoding/json writes it: plain printable
// ASCII as it is, anything else (quotes, controls, <, >, &, non-ASCII)
// through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
