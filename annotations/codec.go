package annotations

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// A log is carried as JSON Lines: one [Op] per line, UTF-8, each line
// ending in "\n". It travels inside an encrypted item; this is its
// plaintext.

// maxLine is the longest line Decode reads: a note of MaxNote bytes, each
// escaped to six ("\u0000"), with room for the other fields.
const maxLine = 6*MaxNote + 4096

// Encode writes ops as JSON Lines.
func Encode(w io.Writer, ops []*Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Decode reads a log written by Encode, checking every operation. It
// reads at most MaxOps of them; unknown fields are refused, so that a
// newer writer's operation is not silently read as something else.
func Decode(r io.Reader) ([]*Op, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var ops []*Op
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if len(ops) == MaxOps {
			return nil, fmt.Errorf("%w: more than %d operations", ErrBad, MaxOps)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		op := new(Op)
		if err := dec.Decode(op); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBad, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: line %d: more than one operation", ErrBad, line)
		}
		if err := op.Check(); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		ops = append(ops, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBad, err)
	}
	return ops, nil
}
