package crypto_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
)

// validPlaintexts returns envelope plaintexts written by our own writer,
// through age and back.
func validPlaintexts(t testing.TB) [][]byte {
	id := identities(t)[0]
	rs := recipients3(t)
	small := []file{{"скан.pdf", []byte("%PDF-1.7 order"), "application/pdf"}, {"empty", nil, ""}}
	hostile := []file{{"../../etc/passwd", []byte("root:x:0:0"), ""}, {"a\x00b", []byte{0}, ""},
		{"фото\u202Egpj.exe", []byte{0xff, 0xd8}, "image/jpeg"}, {strings.Repeat("д", 80) + ".jpg", []byte("j"), ""}}
	var out [][]byte
	for _, c := range []struct {
		m     *crypto.Manifest
		files []file
	}{
		{manifestFor(map[string]crypto.Answer{"account": crypto.TextAnswer("Нас держали в наручниках.")}), nil},
		{manifestFor(map[string]crypto.Answer{"conditions": crypto.ListAnswer("restraints", "threats")}, small...), small},
		{manifestFor(map[string]crypto.Answer{}, hostile...), hostile},
	} {
		out = append(out, decrypt(t, seal(t, rs, c.m, c.files...), id))
	}
	return out
}

// tarEnd returns the length of the tar at the start of pt.
func tarEnd(pt []byte) int {
	zero := make([]byte, 1024)
	for off := 0; off+1024 <= len(pt); off += 512 {
		if bytes.Equal(pt[off:off+1024], zero) {
			return off + 1024
		}
	}
	return -1
}

// FuzzReadEnvelope feeds any plaintext to the reader: it must never panic
// or hang, and whatever it accepts must hold exactly what its manifest says.
func FuzzReadEnvelope(f *testing.F) {
	// Seeds are cut after the tar, with a little of the padding: the fuzzer
	// minimises every input that finds new coverage, and a 17 KiB one eats
	// the whole run.
	for _, pt := range validPlaintexts(f) {
		if end := tarEnd(pt); end > 0 && end+700 < len(pt) {
			pt = pt[:end+700]
		}
		f.Add(pt)
		// Mutations: a flipped byte in the manifest, in a header, in the
		// padding; a cut in the middle.
		for _, off := range []int{20, 300, 600, len(pt) / 2, len(pt) - 1} {
			if off < len(pt) {
				m := bytes.Clone(pt)
				m[off] ^= 0x20
				f.Add(m)
			}
		}
		f.Add(pt[:len(pt)/3])
	}
	f.Add([]byte{})
	f.Add(make([]byte, 1024))
	f.Add([]byte("not a tar at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			checkReader(t, data)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("reading %d bytes did not finish in 20 s", len(data))
		}
	})
}

func checkReader(t *testing.T, data []byte) {
	r, err := crypto.ReadEnvelope(bytes.NewReader(data))
	if err != nil {
		return
	}
	m := r.Manifest()
	if err := m.Validate(); err != nil {
		t.Errorf("ReadEnvelope accepted an invalid manifest: %v", err)
	}
	var got [][]byte
	for {
		a, ar, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
		b, err := io.ReadAll(ar)
		if err != nil {
			return
		}
		if int64(len(b)) != a.Size || sum(b) != a.SHA256 {
			t.Errorf("attachment %q read without error but does not match its manifest entry", a.Name)
		}
		got = append(got, b)
	}
	if err := r.Finish(); err != nil {
		return
	}
	if len(got) != len(m.Attachments) {
		t.Errorf("Finish succeeded after %d of %d attachments", len(got), len(m.Attachments))
	}
	for i, a := range m.Attachments {
		if sum(got[i]) != a.SHA256 {
			t.Errorf("attachment %d does not match its digest", i+1)
		}
	}
}

// FuzzManifestJSON: unmarshal → validate → marshal → unmarshal gives the
// same manifest and the same validity, in both the compact form and the
// indented, unescaped form the envelope writes.
func FuzzManifestJSON(f *testing.F) {
	// Small seeds: the fuzzer minimises every input that finds new
	// coverage, and a large one eats the whole run.
	small := []file{{"../../etc/passwd", []byte("x"), "text/plain"}, {"a\x00b\u202Etxt.exe", nil, ""}}
	for _, m := range []*crypto.Manifest{
		manifestFor(map[string]crypto.Answer{
			"account":    crypto.TextAnswer("Нас держали <в кандалах> & \"без врача\"\n"),
			"conditions": crypto.ListAnswer("restraints", "documents_taken"),
		}, small...),
		manifestFor(nil),
		{Format: crypto.Format, Kind: crypto.KindReply, Day: "2026-11-28", Answers: map[string]crypto.Answer{"reply": crypto.TextAnswer("Спасибо, мы получили ваш рассказ.")}},
	} {
		m.Format = crypto.Format
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"answers":{"a":null,"b":[null,"x"],"c":[]}}`,
		`{"format":"testimony/v1","kind":"followup","day":"2026-08-27","form":{"id":"x","version":2},"answers":{},"attachments":[]}`,
		`{"attachments":[{"name":"a","size":5}],"attachments":[{"name":"b"}]}`,
		`{"answers":{"a":"x","a":["y"]}}`,
		`{"answers":{"\u0000":"\ud800<>&"}}`,
		`"text"`, `["a","b"]`, `[]`, `null`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Answer alone: a string or a list of strings.
		var a crypto.Answer
		if json.Unmarshal(data, &a) == nil {
			b1 := marshal(t, a)
			var a2 crypto.Answer
			if err := json.Unmarshal(b1, &a2); err != nil {
				t.Fatalf("answer %s does not parse back: %v", b1, err)
			}
			if b2 := marshal(t, a2); !bytes.Equal(b1, b2) {
				t.Fatalf("answer round trip unstable: %s → %s", b1, b2)
			}
			if a2.IsList != a.IsList || len(a2.Values()) != len(a.Values()) {
				t.Fatalf("answer %s changed kind or length", b1)
			}
		}

		var m crypto.Manifest
		if json.Unmarshal(data, &m) != nil {
			return
		}
		valid := m.Validate() == nil
		b1 := marshal(t, &m)
		var m2 crypto.Manifest
		if err := json.Unmarshal(b1, &m2); err != nil {
			t.Fatalf("manifest %s does not parse back: %v", b1, err)
		}
		if (m2.Validate() == nil) != valid {
			t.Fatalf("validity changed on a round trip: %v then %v", m.Validate(), m2.Validate())
		}
		if b2 := marshal(t, &m2); !bytes.Equal(b1, b2) {
			t.Fatalf("manifest round trip unstable:\n%s\n%s", b1, b2)
		}
		// The envelope's own form: indented, HTML characters unescaped.
		var ind bytes.Buffer
		enc := json.NewEncoder(&ind)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&m); err != nil {
			t.Fatal(err)
		}
		var m3 crypto.Manifest
		if err := json.Unmarshal(ind.Bytes(), &m3); err != nil {
			t.Fatalf("indented manifest does not parse back: %v", err)
		}
		if b3 := marshal(t, &m3); !bytes.Equal(b1, b3) {
			t.Fatalf("indented form differs:\n%s\n%s", b1, b3)
		}
	})
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}
