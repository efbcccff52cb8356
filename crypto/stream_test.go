package crypto_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"testimony/crypto"
)

// TestStreamEnvelopeSameAsEnvelope: with room for exactly its manifest, a
// StreamEnvelope writes the plaintext an Envelope writes, byte for byte,
// though it learnt each attachment's size and digest only at its end.
func TestStreamEnvelopeSameAsEnvelope(t *testing.T) {
	rs, id := recipients3(t), identities(t)[2]
	cases := map[string][]file{
		"none":    nil,
		"hostile": hostileFiles(),
		"large": {
			{"video.mp4", randomBytes(5, 300<<10), "video/mp4"},
			{"скан.pdf", randomBytes(6, 64<<10), "application/pdf"},
			{"empty", nil, "text/plain"},
			{"tail.bin", randomBytes(7, 65536*2+1), "application/octet-stream"},
		},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			m := manifestFor(sampleAnswers(), files...)
			want := decrypt(t, seal(t, rs, m, files...), id)
			got := decrypt(t, sealStream(t, rs, manifestFor(sampleAnswers()), 0, files...), id)
			if !bytes.Equal(got, want) {
				t.Fatalf("stream plaintext (%d bytes) differs from the envelope's (%d) at byte %d", len(got), len(want), firstDiff(got, want))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// hdrLen is the length of a tar header as the envelope writes it.
func hdrLen(t *testing.T, name string, size int64) int64 {
	var b bytes.Buffer
	if err := tar.NewWriter(&b).WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, Format: tar.FormatPAX}); err != nil {
		t.Fatal(err)
	}
	return int64(b.Len())
}

// TestStreamEnvelopeHeaderAcrossChunks places the second attachment's PAX
// header (three tar blocks: its name is not ASCII) across the boundary of
// two age chunks, and the manifest's room across another: the chunks mended
// at Close must open, with the right bytes, with our reader and stock age.
func TestStreamEnvelopeHeaderAcrossChunks(t *testing.T) {
	rs, id := recipients3(t), identities(t)[0]
	const room = 70000 // the manifest's room spans chunks 0 and 1
	second := "второй.jpg"
	data1 := hdrLen(t, crypto.ManifestName, room) + (room+511)/512*512 + hdrLen(t, crypto.AttachmentPath(0, "a.bin"), 1)
	if l := hdrLen(t, crypto.AttachmentPath(1, second), 1); l != 1536 {
		t.Fatalf("the second header is %d bytes, want three blocks", l)
	}
	for _, back := range []int64{512, 1024} {
		t.Run(fmt.Sprint(back), func(t *testing.T) {
			size := 3*65536 - back - data1 // the second header starts back bytes before chunk 3
			files := []file{{"a.bin", randomBytes(8, int(size)), "application/octet-stream"}, {second, randomBytes(9, 1000), "image/jpeg"}}
			m := manifestFor(sampleAnswers())
			pt := decrypt(t, sealStream(t, rs, m, room, files...), id)
			if got, want := bytes.Index(pt, []byte("attachments/02-")), 3*65536-back; got < int(want) || got > int(want)+1536 {
				t.Fatalf("the second header is at %d, want within [%d, %d)", got, want, want+1536)
			}
			gotM, atts, err := readAll(mustRead(t, pt))
			if err != nil {
				t.Fatal(err)
			}
			want := manifestFor(sampleAnswers(), files...)
			want.Format = crypto.Format
			if g, w := mustJSON(t, gotM), mustJSON(t, want); g != w {
				t.Errorf("manifest differs at %d:\n%s\n%s", firstDiff([]byte(g), []byte(w)), g[firstDiff([]byte(g), []byte(w)):], w[firstDiff([]byte(g), []byte(w)):])
			}
			for i, f := range files {
				if !bytes.Equal(atts[i], f.data) {
					t.Errorf("attachment %d differs", i+1)
				}
			}
		})
	}
}

// TestStreamEnvelopeNoRoom: a manifest longer than its room is refused at
// Close, and the caller can tell.
func TestStreamEnvelopeNoRoom(t *testing.T) {
	m := manifestFor(sampleAnswers())
	n, err := crypto.ManifestLen(m)
	if err != nil {
		t.Fatal(err)
	}
	var buf memRewriter
	e, err := crypto.NewStreamEnvelope(&buf, recipients3(t), n-1)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(m); !errors.Is(err, crypto.ErrNoRoom) {
		t.Fatalf("Close with one byte too few: %v, want ErrNoRoom", err)
	}
	// With room to spare, manifest.json ends in spaces, which JSON readers
	// take as white space.
	pt := decrypt(t, sealStream(t, recipients3(t), manifestFor(sampleAnswers()), n+1000, file{"x", []byte("x"), "text/plain"}), identities(t)[1])
	tr := tar.NewReader(bytes.NewReader(pt))
	h, err := tr.Next()
	if err != nil || h.Size != int64(n+1000) {
		t.Fatalf("first entry %v, %v", h, err)
	}
	if _, _, err := readAll(mustRead(t, pt)); err != nil {
		t.Fatal(err)
	}
}

// TestStreamEnvelopeMisuse: the calls out of order are errors, not a
// damaged object.
func TestStreamEnvelopeMisuse(t *testing.T) {
	rs := recipients3(t)
	start := func() *crypto.StreamEnvelope {
		var buf memRewriter
		e, err := crypto.NewStreamEnvelope(&buf, rs, 4096)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if _, err := start().Write([]byte("x")); err == nil {
		t.Error("Write before Begin: no error")
	}
	if _, err := start().End(); err == nil {
		t.Error("End before Begin: no error")
	}
	e := start()
	e.Begin("a", "text/plain")
	if err := e.Begin("b", "text/plain"); err == nil {
		t.Error("Begin inside an attachment: no error")
	}
	if err := e.Close(manifestFor(nil)); err == nil {
		t.Error("Close inside an attachment: no error")
	}
	e = start()
	for i := range crypto.MaxAttachments {
		if err := e.Begin(fmt.Sprint(i), "text/plain"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.End(); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Begin("one more", "text/plain"); err == nil {
		t.Errorf("attachment %d: no error", crypto.MaxAttachments+1)
	}
	for _, room := range []int{0, -1, crypto.MaxManifest + 1} {
		if _, err := crypto.NewStreamEnvelope(&memRewriter{}, rs, room); err == nil {
			t.Errorf("room %d: no error", room)
		}
	}
	if _, err := crypto.NewStreamEnvelope(&memRewriter{}, nil, 100); !errors.Is(err, crypto.ErrNoRecipients) {
		t.Errorf("no recipients: %v", err)
	}
}

// TestStreamEnvelopeTamperedBeforeMend: a chunk changed between its
// writing and Close does not open to be mended, and Close says so rather
// than sealing over it.
func TestStreamEnvelopeTamperedBeforeMend(t *testing.T) {
	var buf memRewriter
	e, err := crypto.NewStreamEnvelope(&buf, recipients3(t), 4096)
	if err != nil {
		t.Fatal(err)
	}
	e.Begin("a.bin", "application/octet-stream")
	e.Write(randomBytes(10, 200<<10))
	if _, err := e.End(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[len(b)-100<<10] ^= 1                      // inside chunk 1 or 2: not one to mend
	b[bytes.Index(b, []byte("\n---"))+200] ^= 1 // chunk 0, which holds the manifest
	if err := e.Close(manifestFor(nil)); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("Close over a tampered chunk: %v", err)
	}
}
