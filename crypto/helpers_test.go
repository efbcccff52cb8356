package crypto_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"

	"testimony/crypto"
)

// Hybrid identities are made once per test binary: key generation is not
// what these tests are about.
var (
	idsOnce sync.Once
	testIDs []*crypto.Identity
)

func identities(t testing.TB) []*crypto.Identity {
	t.Helper()
	idsOnce.Do(func() {
		for range 3 {
			id, err := crypto.GenerateIdentity(false)
			if err != nil {
				panic(err)
			}
			testIDs = append(testIDs, id)
		}
	})
	return testIDs
}

// recipients3 is the set of the three test identities' public keys.
func recipients3(t testing.TB) *crypto.Recipients {
	t.Helper()
	var keys []string
	for _, id := range identities(t) {
		keys = append(keys, id.Recipient)
	}
	rs, err := crypto.NewRecipients("test", keys...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

type file struct {
	name string
	data []byte
	typ  string
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// manifestFor returns a submission manifest listing files.
func manifestFor(answers map[string]crypto.Answer, files ...file) *crypto.Manifest {
	m := &crypto.Manifest{
		Kind:    crypto.KindSubmission,
		Day:     "2026-08-27",
		Lang:    "ru",
		Form:    crypto.FormRef{ID: "deportation", Version: 1},
		Answers: answers,
	}
	for _, f := range files {
		m.Attachments = append(m.Attachments, crypto.Attachment{
			Name: f.name, Size: int64(len(f.data)), SHA256: sum(f.data), Type: f.typ,
		})
	}
	return m
}

// seal writes an envelope of m and files to rs and returns the age file.
func seal(t testing.TB, rs *crypto.Recipients, m *crypto.Manifest, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	e, err := crypto.NewEnvelope(&buf, rs, m)
	if err != nil {
		t.Fatalf("NewEnvelope: %v", err)
	}
	for _, f := range files {
		if err := e.WriteAttachment(bytes.NewReader(f.data)); err != nil {
			t.Fatalf("WriteAttachment(%q): %v", f.name, err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// decrypt returns the plaintext of an age file, with the bare age API.
func decrypt(t testing.TB, ct []byte, id *crypto.Identity) []byte {
	t.Helper()
	r, err := age.Decrypt(bytes.NewReader(ct), id.AgeIdentity())
	if err != nil {
		t.Fatalf("age.Decrypt: %v", err)
	}
	pt, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading plaintext: %v", err)
	}
	return pt
}

// readAll opens an envelope plaintext and reads every attachment, then
// Finish. It returns the manifest, the attachments' bytes and the first
// error met.
func readAll(r *crypto.EnvelopeReader) (*crypto.Manifest, [][]byte, error) {
	var got [][]byte
	for {
		_, ar, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return r.Manifest(), got, err
		}
		b, err := io.ReadAll(ar)
		if err != nil {
			return r.Manifest(), got, err
		}
		got = append(got, b)
	}
	return r.Manifest(), got, r.Finish()
}

type entry struct {
	name string
	data []byte
	flag byte // tar.TypeReg when 0
}

// rawTar builds an envelope plaintext by hand, entry by entry, followed by
// pad: for readers' negative tests that our writer refuses to produce.
func rawTar(t testing.TB, pad []byte, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		flag := e.flag
		if flag == 0 {
			flag = tar.TypeReg
		}
		h := &tar.Header{Typeflag: flag, Name: e.name, Size: int64(len(e.data)), Mode: 0o600, Format: tar.FormatPAX}
		if flag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if flag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	buf.Write(pad)
	return buf.Bytes()
}

// textOf returns exactly n bytes of a realistic testimony in Russian, cut
// on a rune boundary and completed with ASCII.
func textOf(n int) string {
	const para = "Нас держали в наручниках и кандалах всю дорогу от Александрии до Каира. " +
		"Документы забрали, врача не было.\n"
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(para)
	}
	s := b.String()[:n]
	for !isValid(s) {
		s = s[:len(s)-1]
	}
	return s + strings.Repeat(".", n-len(s))
}

func isValid(s string) bool { return strings.ToValidUTF8(s, "") == s }

// memRewriter is a [crypto.Rewriter] in memory. It runs each rewrite twice,
// as a store's retried commit may, so that a rewrite that is not
// idempotent shows.
type memRewriter struct{ bytes.Buffer }

func (m *memRewriter) Rewrite(off int64, n int, fn func([]byte) error) error {
	if off < 0 || off+int64(n) > int64(m.Len()) {
		return fmt.Errorf("rewrite of [%d, %d) beyond %d bytes", off, off+int64(n), m.Len())
	}
	b := m.Bytes()[off : off+int64(n)]
	if err := fn(b); err != nil {
		return err
	}
	return fn(b)
}

// sealStream writes files as a [crypto.StreamEnvelope] with room bytes for
// the manifest (0: exactly the manifest's length) and returns the age file.
// It sets m's attachments to what was streamed.
func sealStream(t testing.TB, rs *crypto.Recipients, m *crypto.Manifest, room int, files ...file) []byte {
	t.Helper()
	if room == 0 {
		full := *m
		full.Attachments = manifestFor(nil, files...).Attachments
		n, err := crypto.ManifestLen(&full)
		if err != nil {
			t.Fatal(err)
		}
		room = n
	}
	var buf memRewriter
	e, err := crypto.NewStreamEnvelope(&buf, rs, room)
	if err != nil {
		t.Fatalf("NewStreamEnvelope: %v", err)
	}
	for _, f := range files {
		if err := e.Begin(f.name, f.typ); err != nil {
			t.Fatal(err)
		}
		// In uneven pieces, as an upload arrives.
		for p := f.data; len(p) > 0; {
			k := min(len(p), 1+len(p)%7777)
			if _, err := e.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		a, err := e.End()
		if err != nil {
			t.Fatal(err)
		}
		if a.Size != int64(len(f.data)) || a.SHA256 != sum(f.data) || a.Name != f.name || a.Type != f.typ {
			t.Fatalf("End gave %+v for %q of %d bytes", a, f.name, len(f.data))
		}
	}
	if err := e.Close(m); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}
