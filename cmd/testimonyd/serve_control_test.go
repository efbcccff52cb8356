package main

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
)

// TestFrames: a framed stream reads back byte for byte, and a stream cut
// anywhere before its end frame is an error, never a short success.
func TestFrames(t *testing.T) {
	for _, size := range []int{0, 1, 256 << 10, 256<<10 + 1, 3<<20 + 17} {
		data := make([]byte, size)
		rand.Read(data)
		var wire bytes.Buffer
		fw := newFrameWriter(&wire)
		// Odd write sizes, as tx.WriteTo makes them.
		for p := data; len(p) > 0; {
			k := min(len(p), 4096+len(p)%5000)
			if _, err := fw.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		n, err := readFrames(bytes.NewReader(wire.Bytes()), &out)
		if err != nil || n != int64(size) || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("size %d: read %d bytes, %v", size, n, err)
		}
		for _, cut := range []int{0, 3, 4, wire.Len() / 2, wire.Len() - 4, wire.Len() - 1} {
			if cut < 0 || cut >= wire.Len() {
				continue
			}
			_, err := readFrames(bytes.NewReader(wire.Bytes()[:cut]), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), "cut short") {
				t.Errorf("size %d cut at %d of %d: %v", size, cut, wire.Len(), err)
			}
		}
	}
}
