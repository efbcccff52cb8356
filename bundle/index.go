package bundle

import (
	"encoding/json"
	"strconv"
)

// IndexWriter builds index.json entry by entry, as the bundle is written,
// with the bytes json.MarshalIndent(index, "", "  ") gives (a test holds
// them equal), so that a large bundle's index costs no pass of its own at
// the end of the download.
type IndexWriter struct {
	b []byte
	n int
}

// NewIndexWriter starts the index of a bundle made on day, with room for
// n entries.
func NewIndexWriter(day string, n int) *IndexWriter {
	w := &IndexWriter{b: make([]byte, 0, 128+n*400)}
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
	w.b = append(w.b, "\n    }"...)
}

// Bytes ends the index and returns it; the writer is not used after.
func (w *IndexWriter) Bytes() []byte {
	if w.n > 0 {
		w.b = append(w.b, "\n  "...)
	}
	return append(w.b, "]\n}"...)
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
