package crypto_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"filippo.io/age"

	"testimony/crypto"
)

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// hostileFiles are attachments whose names try every trick a witness's
// browser could pass on: traversal, NUL, right-to-left override, length.
func hostileFiles() []file {
	return []file{
		{"протокол допроса.pdf", randomBytes(1, 100<<10), "application/pdf"},
		{"empty.txt", nil, "text/plain"},
		{"../../etc/passwd", []byte("root:x:0:0:root:/root:/bin/bash\n"), "text/plain"},
		{"a\x00b.txt", []byte("nul"), "text/plain"},
		{"фото\u202Egpj.exe", randomBytes(2, 3000), "image/jpeg"},
		{strings.Repeat("д", 5000) + ".jpg", randomBytes(3, 513), "image/jpeg"},
		{`C:\Users\witness\Desktop\скан паспорта.png`, randomBytes(4, 70000), "image/png"},
	}
}

func sampleAnswers() map[string]crypto.Answer {
	return map[string]crypto.Answer{
		"account":    crypto.TextAnswer(textOf(3000) + " <ФСБ> & \"фильтрация\""),
		"conditions": crypto.ListAnswer("restraints", "medical_denied", "documents_taken"),
		"flight_day": crypto.TextAnswer("2026-08-27"),
		"empty":      crypto.ListAnswer(),
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	files := hostileFiles()
	m := manifestFor(sampleAnswers(), files...)
	want := *m
	ct := seal(t, recipients3(t), m, files...)

	for i, id := range identities(t) {
		r, err := crypto.OpenEnvelope(bytes.NewReader(ct), id.AgeIdentity())
		if err != nil {
			t.Fatalf("identity %d: OpenEnvelope: %v", i, err)
		}
		got, data, err := readAll(r)
		if err != nil {
			t.Fatalf("identity %d: %v", i, err)
		}
		want.Format = crypto.Format
		if g, w := mustJSON(t, got), mustJSON(t, &want); g != w {
			t.Errorf("manifest read back differs:\n got %.300s\nwant %.300s", g, w)
		}
		if got.Attachments[3].Name != "a\x00b.txt" || got.Answers["account"].Text != want.Answers["account"].Text {
			t.Errorf("names or answers changed on the way")
		}
		if len(data) != len(files) {
			t.Fatalf("%d attachments read, want %d", len(data), len(files))
		}
		for j, f := range files {
			if !bytes.Equal(data[j], f.data) {
				t.Errorf("attachment %q: %d bytes differ from the %d written", f.name, len(data[j]), len(f.data))
			}
		}
	}
}

// The plaintext is the tar of DESIGN.md, readable without our code:
// manifest.json first, attachments/NN-<safe name>, POSIX (PAX) headers, no
// times, then zeros to the padded length.
func TestEnvelopeTarLayout(t *testing.T) {
	files := hostileFiles()
	ct := seal(t, recipients3(t), manifestFor(sampleAnswers(), files...), files...)
	pt := decrypt(t, ct, identities(t)[1])

	// Every header block carries the POSIX magic, not GNU's, and each long or
	// non-ASCII name travels in a PAX extended header.
	cr := &countReader{r: bytes.NewReader(pt)}
	tr := tar.NewReader(cr)
	var names []string
	for i := 0; ; i++ {
		start := (cr.n + 511) &^ 511 // the previous entry was read to its end
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		names = append(names, h.Name)
		if magic := string(pt[start+257 : start+265]); magic != "ustar\x0000" {
			t.Errorf("%q: header magic %q, want POSIX ustar/pax", h.Name, magic)
		}
		// A header with no PAX records reads back as USTAR, which POSIX
		// pax archives are made of; never GNU or V7.
		if h.Format != tar.FormatPAX && h.Format != tar.FormatUSTAR {
			t.Errorf("%q: format %v, not PAX", h.Name, h.Format)
		}
		if len(h.Name) > 100 || !isASCII(h.Name) {
			if pt[start+156] != tar.TypeXHeader {
				t.Errorf("%q: long or non-ASCII name without a PAX header (type %q)", h.Name, pt[start+156])
			}
		}
		if mtime := strings.Trim(string(pt[start+136:start+148]), "0\x00 "); mtime != "" {
			t.Errorf("%q: raw mtime field %q, want 0", h.Name, pt[start+136:start+148])
		}
		if h.ModTime.Unix() != 0 || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%q: times %v %v %v, want none", h.Name, h.ModTime, h.AccessTime, h.ChangeTime)
		}
		if h.Typeflag != tar.TypeReg || h.Mode != 0o600 || h.Uname != "" || h.Uid != 0 {
			t.Errorf("%q: type %q mode %o uname %q uid %d", h.Name, h.Typeflag, h.Mode, h.Uname, h.Uid)
		}
		for k := range h.PAXRecords {
			if k != "path" {
				t.Errorf("%q: PAX record %q, only path expected", h.Name, k)
			}
		}
		if i == 0 {
			var m crypto.Manifest
			b, _ := io.ReadAll(tr)
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("manifest.json: %v", err)
			}
			continue
		}
		body, _ := io.ReadAll(tr)
		if !bytes.Equal(body, files[i-1].data) {
			t.Errorf("%q: content differs", h.Name)
		}
		want := crypto.AttachmentPath(i-1, files[i-1].name)
		if h.Name != want {
			t.Errorf("entry %d is %q, want %q", i, h.Name, want)
		}
		el := strings.TrimPrefix(h.Name, "attachments/")
		if strings.ContainsAny(el, "/\\\x00\u202E") || strings.Contains(h.Name, "..") || len(el) > 3+crypto.MaxNameBytes {
			t.Errorf("entry %q is not one safe path element", h.Name)
		}
	}
	if len(names) == 0 || names[0] != crypto.ManifestName {
		t.Fatalf("entries %q: manifest.json is not first", names)
	}
	if len(names) != 1+len(files) {
		t.Fatalf("%d entries, want %d", len(names), 1+len(files))
	}
	tarLen := cr.n
	if int64(len(pt)) != crypto.PaddedLen(tarLen) {
		t.Errorf("plaintext is %d bytes; tar %d, PADMÉ length %d", len(pt), tarLen, crypto.PaddedLen(tarLen))
	}
	if i := bytes.IndexFunc(pt[tarLen:], func(r rune) bool { return r != 0 }); i >= 0 {
		t.Errorf("padding has a non-zero byte at %d", i)
	}
	if tarLen%512 != 0 || !bytes.Equal(pt[tarLen-1024:tarLen], make([]byte, 1024)) {
		t.Errorf("tar does not end with two zero blocks at %d", tarLen)
	}
	// The manifest keeps the witness's names (cleaned by the caller), never
	// used as paths: paths come from SafeName.
	if !strings.Contains(string(pt[:8192]), `"../../etc/passwd"`) {
		t.Errorf("manifest does not keep the given name")
	}
	if !strings.Contains(string(pt[:8192]), `<ФСБ> & `) {
		t.Errorf("manifest escapes HTML characters, inflating the length")
	}
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// openAndRead decrypts and reads a whole object, returning the first error.
func openAndRead(ct []byte, id age.Identity) error {
	r, err := crypto.OpenEnvelope(bytes.NewReader(ct), id)
	if err != nil {
		return err
	}
	_, _, err = readAll(r)
	return err
}

func TestEnvelopeTamper(t *testing.T) {
	files := hostileFiles()[:3]
	ct := seal(t, recipients3(t), manifestFor(sampleAnswers(), files...), files...)
	id := identities(t)[2].AgeIdentity()
	if err := openAndRead(ct, id); err != nil {
		t.Fatalf("untampered object: %v", err)
	}
	hdr := bytes.Index(ct, []byte("\n---")) // end of the age header
	positions := []int{0, 30, hdr / 2, hdr + 2, hdr + 20, hdr + 100, len(ct) / 2, len(ct) - 17, len(ct) - 1}
	r := rand.New(rand.NewPCG(7, 7))
	for range 40 {
		positions = append(positions, r.IntN(len(ct)))
	}
	for _, p := range positions {
		bad := bytes.Clone(ct)
		bad[p] ^= 1 << r.IntN(8)
		if err := openAndRead(bad, id); err == nil {
			t.Errorf("flipping a bit at byte %d of %d went unnoticed", p, len(ct))
		}
	}
}

func TestEnvelopeTruncated(t *testing.T) {
	files := []file{{"big.bin", randomBytes(9, 200<<10), "application/octet-stream"}}
	ct := seal(t, recipients3(t), manifestFor(sampleAnswers(), files...), files...)
	id := identities(t)[0].AgeIdentity()
	hdr := bytes.Index(ct, []byte("\n---"))
	payload := bytes.IndexByte(ct[hdr+1:], '\n') + hdr + 2 // after the header MAC line
	const chunk = 64<<10 + 16
	cuts := []int{0, 10, hdr, payload, payload + 16, payload + 16 + chunk, payload + 16 + 2*chunk,
		payload + 16 + 3*chunk, len(ct) - 1, len(ct) - 16, len(ct) / 2}
	for _, n := range cuts {
		if n >= len(ct) {
			t.Fatalf("cut %d beyond the object (%d)", n, len(ct))
		}
		err := openAndRead(ct[:n], id)
		if err == nil {
			t.Errorf("object cut to %d of %d bytes read without error", n, len(ct))
		}
	}
	// Reading only the manifest and stopping is not an error; Finish is
	// where truncation of the tail shows.
	r, err := crypto.OpenEnvelope(bytes.NewReader(ct[:len(ct)-1]), id)
	if err != nil {
		t.Fatalf("OpenEnvelope of a file missing its last byte: %v (the manifest is intact)", err)
	}
	if err := r.Finish(); err == nil {
		t.Errorf("Finish of a truncated object: no error")
	}
}

func TestEnvelopeWrongIdentity(t *testing.T) {
	ct := seal(t, recipients3(t), manifestFor(sampleAnswers()))
	other, _ := crypto.GenerateIdentity(false)
	classic, _ := crypto.GenerateIdentity(true)
	for _, id := range []*crypto.Identity{other, classic} {
		_, err := crypto.OpenEnvelope(bytes.NewReader(ct), id.AgeIdentity())
		var nm *age.NoIdentityMatchError
		if !errors.As(err, &nm) {
			t.Errorf("OpenEnvelope with a stranger's key = %v, want an age.NoIdentityMatchError", err)
		}
	}
	// Any one of several identities is enough.
	if err := openAndRead(ct, other.AgeIdentity()); err == nil {
		t.Fatal("stranger read the object")
	}
	r, err := crypto.OpenEnvelope(bytes.NewReader(ct), other.AgeIdentity(), identities(t)[1].AgeIdentity())
	if err != nil {
		t.Fatalf("OpenEnvelope with a right key among others: %v", err)
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvelopeWriteMismatch(t *testing.T) {
	data := []byte("скан приказа о депортации")
	for _, c := range []struct {
		name string
		give []byte
	}{
		{"other bytes", bytes.ToUpper(bytes.Clone(data))},
		{"same length, one bit", func() []byte { b := bytes.Clone(data); b[3] ^= 1; return b }()},
		{"shorter", data[:len(data)-1]},
		{"longer", append(bytes.Clone(data), '!')},
		{"empty", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := manifestFor(nil, file{"order.txt", data, "text/plain"}, file{"b", nil, ""})
			e, err := crypto.NewEnvelope(io.Discard, recipients3(t), m)
			if err != nil {
				t.Fatal(err)
			}
			err = e.WriteAttachment(bytes.NewReader(c.give))
			if !errors.Is(err, crypto.ErrDigestMismatch) {
				t.Fatalf("WriteAttachment = %v, want ErrDigestMismatch", err)
			}
			if err := e.WriteAttachment(bytes.NewReader(nil)); err == nil {
				t.Errorf("writing goes on after a mismatch")
			}
			if err := e.Close(); err == nil {
				t.Errorf("Close after a mismatch: no error, the object would look complete")
			}
		})
	}
	t.Run("count", func(t *testing.T) {
		m := manifestFor(nil, file{"a", data, ""})
		e, _ := crypto.NewEnvelope(io.Discard, recipients3(t), m)
		if err := e.Close(); err == nil {
			t.Errorf("Close with an attachment missing: no error")
		}
		e, _ = crypto.NewEnvelope(io.Discard, recipients3(t), manifestFor(nil, file{"a", data, ""}))
		if err := e.WriteAttachment(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if err := e.WriteAttachment(bytes.NewReader(data)); err == nil {
			t.Errorf("an attachment beyond the manifest was accepted")
		}
	})
}

func TestEnvelopeBadManifestRefused(t *testing.T) {
	for name, mod := range map[string]func(*crypto.Manifest){
		"kind":      func(m *crypto.Manifest) { m.Kind = "confession" },
		"day":       func(m *crypto.Manifest) { m.Day = "2026-08-27T10:31:00Z" },
		"no date":   func(m *crypto.Manifest) { m.Day = "2026-02-30" },
		"month":     func(m *crypto.Manifest) { m.Day = "2026-13-01" },
		"empty day": func(m *crypto.Manifest) { m.Day = "" },
		"format":    func(m *crypto.Manifest) { m.Format = "testimony/v0" },
		"sha256":    func(m *crypto.Manifest) { m.Attachments[0].SHA256 = strings.ToUpper(m.Attachments[0].SHA256) },
		"size":      func(m *crypto.Manifest) { m.Attachments[0].Size = -1 },
		"utf8":      func(m *crypto.Manifest) { m.Attachments[0].Name = "\xff.jpg" },
		"answer":    func(m *crypto.Manifest) { m.Answers["q"] = crypto.ListAnswer("ok", "\xfe") },
		"too many":  func(m *crypto.Manifest) { m.Attachments = make([]crypto.Attachment, crypto.MaxAttachments+1) },
		"huge answer": func(m *crypto.Manifest) {
			m.Answers["q"] = crypto.TextAnswer(strings.Repeat("x", crypto.MaxManifest))
		},
	} {
		m := manifestFor(map[string]crypto.Answer{}, file{"a.txt", []byte("a"), ""})
		if _, err := crypto.NewEnvelope(io.Discard, recipients3(t), m); err != nil {
			t.Fatalf("unmodified manifest refused: %v", err)
		}
		mod(m)
		if _, err := crypto.NewEnvelope(io.Discard, recipients3(t), m); !errors.Is(err, crypto.ErrBadManifest) {
			t.Errorf("%s: NewEnvelope = %v, want ErrBadManifest", name, err)
		}
	}
	if _, err := crypto.NewEnvelope(io.Discard, recipients3(t), nil); !errors.Is(err, crypto.ErrBadManifest) {
		t.Errorf("NewEnvelope(nil manifest) = %v, want ErrBadManifest", err)
	}
}

// plainManifest returns the JSON of a manifest listing files.
func plainManifest(t testing.TB, files ...file) []byte {
	m := manifestFor(map[string]crypto.Answer{"account": crypto.TextAnswer("ok")}, files...)
	m.Format = crypto.Format
	m.Attachments = append([]crypto.Attachment{}, m.Attachments...)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadEnvelopeRefuses(t *testing.T) {
	a := file{"скан.pdf", []byte("%PDF-1.7 scan of the deportation order"), "application/pdf"}
	mj := plainManifest(t, a)
	good := entry{crypto.AttachmentPath(0, a.name), a.data, 0}
	pad := make([]byte, 3000)
	if _, _, err := readAll(mustRead(t, rawTar(t, pad, entry{crypto.ManifestName, mj, 0}, good))); err != nil {
		t.Fatalf("hand-made valid envelope refused: %v", err)
	}
	liar := a
	liar.data = []byte("%PDF-1.7 scan of the deportation order, edited")
	lying := plainManifest(t, liar) // right name, wrong digest and size
	sameSize := bytes.Clone(a.data)
	sameSize[0] = 'X'

	for _, c := range []struct {
		name string
		pt   []byte
		want error
	}{
		{"empty", nil, crypto.ErrNotEnvelope},
		{"zeros", make([]byte, 20000), crypto.ErrNotEnvelope},
		{"not tar", []byte(strings.Repeat("testimony ", 200)), crypto.ErrNotEnvelope},
		{"manifest not first", rawTar(t, pad, good, entry{crypto.ManifestName, mj, 0}), crypto.ErrNotEnvelope},
		{"manifest a directory", rawTar(t, pad, entry{crypto.ManifestName, nil, tar.TypeDir}), crypto.ErrNotEnvelope},
		{"bad json", rawTar(t, pad, entry{crypto.ManifestName, mj[:len(mj)-1], 0}, good), crypto.ErrBadManifest},
		{"json then garbage", rawTar(t, pad, entry{crypto.ManifestName, append(bytes.Clone(mj), "{}"...), 0}, good), crypto.ErrBadManifest},
		{"invalid manifest", rawTar(t, pad, entry{crypto.ManifestName, []byte(`{"format":"testimony/v1","kind":"x"}`), 0}), crypto.ErrBadManifest},
		{"attachment missing", rawTar(t, pad, entry{crypto.ManifestName, mj, 0}), crypto.ErrNotEnvelope},
		{"wrong size", rawTar(t, pad, entry{crypto.ManifestName, lying, 0}, good), crypto.ErrNotEnvelope},
		{"wrong digest", rawTar(t, pad, entry{crypto.ManifestName, mj, 0}, entry{good.name, sameSize, 0}), crypto.ErrDigestMismatch},
		{"traversal name", rawTar(t, pad, entry{crypto.ManifestName, mj, 0}, entry{"../../etc/passwd", a.data, 0}), crypto.ErrNotEnvelope},
		{"nested name", rawTar(t, pad, entry{crypto.ManifestName, mj, 0}, entry{"attachments/01-x/../../y", a.data, 0}), crypto.ErrNotEnvelope},
		{"dot-dot name", rawTar(t, pad, entry{crypto.ManifestName, mj, 0}, entry{"attachments/01-..", a.data, 0}), crypto.ErrNotEnvelope},
		{"wrong number", rawTar(t, pad, entry{crypto.ManifestName, mj, 0}, entry{crypto.AttachmentPath(1, a.name), a.data, 0}), crypto.ErrNotEnvelope},
		{"symlink", rawTar(t, pad, entry{crypto.ManifestName, mj, 0}, entry{good.name, nil, tar.TypeSymlink}), crypto.ErrNotEnvelope},
		{"extra entry", rawTar(t, pad, entry{crypto.ManifestName, mj, 0}, good, entry{"attachments/02-more", []byte("x"), 0}), crypto.ErrNotEnvelope},
		{"data in padding", rawTar(t, append(bytes.Clone(pad), 'x'), entry{crypto.ManifestName, mj, 0}, good), crypto.ErrNotEnvelope},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := readPlain(c.pt)
			if !errors.Is(err, c.want) {
				t.Errorf("reading = %v, want %v", err, c.want)
			}
		})
	}
	// An unread attachment is still checked, by Finish.
	r := mustRead(t, rawTar(t, pad, entry{crypto.ManifestName, mj, 0}, entry{good.name, sameSize, 0}))
	if err := r.Finish(); !errors.Is(err, crypto.ErrDigestMismatch) {
		t.Errorf("Finish over an unread tampered attachment = %v, want ErrDigestMismatch", err)
	}
	// A name written by another version of SafeName is still read.
	r = mustRead(t, rawTar(t, pad, entry{crypto.ManifestName, mj, 0}, entry{"attachments/01-scan (1).pdf", a.data, 0}))
	if _, _, err := readAll(r); err != nil {
		t.Errorf("older safe name refused: %v", err)
	}
}

func mustRead(t testing.TB, pt []byte) *crypto.EnvelopeReader {
	t.Helper()
	r, err := crypto.ReadEnvelope(bytes.NewReader(pt))
	if err != nil {
		t.Fatalf("ReadEnvelope: %v", err)
	}
	return r
}

func readPlain(pt []byte) error {
	r, err := crypto.ReadEnvelope(bytes.NewReader(pt))
	if err != nil {
		return err
	}
	_, _, err = readAll(r)
	return err
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
