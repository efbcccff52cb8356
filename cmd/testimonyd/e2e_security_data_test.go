//go:build e2e

package main

// Attacks on what the real binary stores: hostile file names, request
// fields meant to slip past the encryption, and network use.

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"testimony/crypto"
	"testimony/internal/testutil"
	"testimony/store"
)

// secPart is one part of a hand-made multipart body.
type secPart struct {
	name, filename, ctype string
	star                  bool // send the file name as filename*=UTF-8''%XX (RFC 5987)
	body                  []byte
}

// secPercent encodes every byte but letters, digits and .-_ as %XX.
func secPercent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)) || strings.IndexByte(".-_", c) >= 0) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// secMultipart writes parts, with the Content-Disposition header written
// byte for byte as given (multipart.Writer would escape it).
func secMultipart(parts []secPart) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.name + `"`
		switch {
		case p.star:
			cd += `; filename*=UTF-8''` + secPercent(p.filename)
		case p.filename != "" || p.ctype != "":
			cd += `; filename="` + p.filename + `"`
		}
		h["Content-Disposition"] = []string{cd}
		if p.ctype != "" {
			h["Content-Type"] = []string{p.ctype}
		}
		w, _ := mw.CreatePart(h)
		w.Write(p.body)
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// secAnswers are the text parts of a valid submission, with text in the
// free-text answer.
func secAnswers(text string) []secPart {
	ct, body := witnessForm(text)
	mr := multipart.NewReader(bytes.NewReader(body), strings.TrimPrefix(ct, "multipart/form-data; boundary="))
	var out []secPart
	for {
		p, err := mr.NextPart()
		if err != nil {
			return out
		}
		v, _ := io.ReadAll(p)
		out = append(out, secPart{name: p.FormName(), body: v})
	}
}

// secItem is a stored item, decrypted with the stock age CLI.
type secItem struct {
	store.Item
	names    []string          // tar entry names, in order
	files    map[string][]byte // tar entry name → content
	manifest *crypto.Manifest
	plain    []byte
}

// secDecryptAll stops nothing: the server must be stopped. It decrypts
// every item of the data directory with the age CLI and the identity file,
// and reads the tar with archive/tar, not with our reader.
func secDecryptAll(t *testing.T, dataDir, keyFile string) []secItem {
	t.Helper()
	ageBin := testutil.Age(t)
	db, items := storedItems(t, filepath.Join(dataDir, dbFile), store.Options{LockTimeout: 5 * time.Second})
	defer db.Close()
	var out []secItem
	for _, it := range items {
		_, r, err := db.Open(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(ageBin, "-d", "-i", keyFile)
		cmd.Stdin = r
		var plain, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &plain, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("age -d of item %s: %v\n%s", it.ID, err, errb.Bytes())
		}
		si := secItem{Item: it, files: map[string][]byte{}, plain: plain.Bytes()}
		tr := tar.NewReader(bytes.NewReader(plain.Bytes()))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("item %s: tar: %v", it.ID, err)
			}
			b, _ := io.ReadAll(tr)
			si.names = append(si.names, h.Name)
			si.files[h.Name] = b
		}
		var m crypto.Manifest
		if err := json.Unmarshal(si.files["manifest.json"], &m); err != nil {
			t.Fatalf("item %s: manifest: %v", it.ID, err)
		}
		si.manifest = &m
		out = append(out, si)
	}
	return out
}

var (
	secEntryRE  = regexp.MustCompile(`^attachments/[0-9]{2}-([^/\\]+)$`)
	secDeviceRE = regexp.MustCompile(`(?i)^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$`)
)

// secUnsafeRune is a character no stored name may hold.
func secUnsafeRune(r rune) bool {
	return r == 0 || unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) || r == utf8.RuneError
}

// TestSecurityHostileFileNames: each hostile file name is sent in its own
// submission to the real server and accepted; decrypted with the stock age
// CLI, the item's tar has only manifest.json and attachments/NN-<name>
// entries, each name one safe path element (no separator, no "..", no
// control or bidi character, no leading dot or dash, not a Windows device
// name, bounded), GNU tar extracts it inside the target directory only, the
// manifest keeps a cleaned name (no control or bidi character, valid UTF-8,
// bounded), the content is what was sent, and a plain name is kept as is.
func TestSecurityHostileFileNames(t *testing.T) {
	d, dir, accs := secServeWith(t, []string{"names"})
	type hostile struct {
		name      string
		star      bool // sent percent-encoded, so that any byte reaches the server's name handling
		mayRefuse bool // raw control bytes in a header: a clean 400 is as good as a safe name
	}
	var names []hostile
	for _, n := range []string{
		"../../etc/passwd",
		"../../../../../../../../tmp/evil.sh",
		`..\..\Windows\System32\drivers\etc\hosts`,
		"/etc/shadow",
		"a/b/c.jpg",
		"invoice\u202Efdp.exe",
		"zero\u200Bwidth\u2028line.jpg",
		strings.Repeat("long-name-", 100) + ".pdf",
		strings.Repeat("я", 400) + ".txt",
		"CON", "con.txt", "LPT1.jpg", "NUL", "aux.tar.gz", "COM1",
		".bashrc", ".", "..", "...",
		"-rf", " spaces around.jpg ", "trailing.dots...", "a<b>c:d|e?f*.jpg",
		"фото 1.jpg",
	} {
		names = append(names, hostile{name: n})
	}
	for _, n := range []string{
		"nul\x00byte.jpg",
		"ctrl\x01\x1b[31mred\x7f.txt",
		"crlf\r\nX-Injected: 1.jpg",
		"invoice\u202Efdp.exe",
		"..\x00/../etc/passwd",
		"bad-utf8-\xff\xfe.jpg",
		`..\..\CON`,
	} {
		names = append(names, hostile{name: n, star: true})
	}
	names = append(names, hostile{name: "nul\x00byte.jpg", mayRefuse: true}, hostile{name: "ctrl\x01\x1b[31mred.txt", mayRefuse: true})
	sent := map[string]string{} // content → name sent
	for i, n := range names {
		content := fmt.Sprintf("hostile-name-%02d", i)
		ct, body := secMultipart(append(secAnswers("names"), secPart{name: "files", filename: n.name, star: n.star, ctype: "image/jpeg", body: []byte(content)}))
		r := secDo(t, secRequest(t, "POST", d.witness+"/submit", ct, body, ""))
		switch {
		case r.status == http.StatusOK:
			sent[content] = n.name
		case n.mayRefuse && r.status == http.StatusBadRequest:
			t.Logf("file name %q with raw control bytes in the part header: refused with 400", n.name)
		default:
			t.Errorf("file name %q (star %v): %d, want the submission accepted\n%.400s", n.name, n.star, r.status, r.body)
		}
	}
	defer func() {
		var secrets []string
		for _, n := range sent {
			if len(n) >= 10 { // short ones ("." or "CON") are in any log
				secrets = append(secrets, n)
			}
		}
		secLogsHoldNone(t, d, secrets...)
	}()
	// A name over the 1 KiB limit is refused cleanly.
	ct, body := secMultipart(append(secAnswers("names"), secPart{name: "files", filename: strings.Repeat("x", 2000), body: []byte("x")}))
	if r := secDo(t, secRequest(t, "POST", d.witness+"/submit", ct, body, "")); r.status != http.StatusBadRequest {
		t.Errorf("a 2000-byte file name: %d, want 400", r.status)
	}
	d.stop(t)

	ageBin := testutil.Age(t)
	found := 0
	for _, it := range secDecryptAll(t, dir, accs["names"].KeyFile) {
		if len(it.names) != 2 || it.names[0] != "manifest.json" || len(it.manifest.Attachments) != 1 {
			t.Errorf("item %s: tar entries %q, manifest attachments %d", it.ID, it.names, len(it.manifest.Attachments))
			continue
		}
		entry := it.names[1]
		content := string(it.files[entry])
		orig, ok := sent[content]
		if !ok {
			t.Errorf("item %s: unknown content %q", it.ID, content)
			continue
		}
		found++
		m := secEntryRE.FindStringSubmatch(entry)
		if m == nil {
			t.Errorf("%q → tar entry %q: not attachments/NN-<one element>", orig, entry)
			continue
		}
		elem := m[1]
		stem := strings.SplitN(elem, ".", 2)[0]
		switch {
		case elem == "." || elem == ".." || strings.Contains(elem, ".."):
			t.Errorf("%q → %q holds ..", orig, entry)
		case strings.IndexFunc(elem, secUnsafeRune) >= 0 || !utf8.ValidString(elem):
			t.Errorf("%q → %q holds a control, invisible or bidi character", orig, entry)
		case strings.HasPrefix(elem, ".") || strings.HasPrefix(elem, "-"):
			t.Errorf("%q → %q starts with a dot or a dash", orig, entry)
		case strings.HasSuffix(elem, ".") || strings.HasSuffix(elem, " "):
			t.Errorf("%q → %q ends with a dot or a space (Windows drops them)", orig, entry)
		case secDeviceRE.MatchString(elem) || secDeviceRE.MatchString(stem):
			t.Errorf("%q → %q is a Windows device name", orig, entry)
		case len(elem) > crypto.MaxNameBytes:
			t.Errorf("%q → %q is %d bytes long", orig, entry, len(elem))
		case strings.ContainsAny(elem, `<>:"|?*`+"\u202e"):
			t.Errorf("%q → %q holds a character Windows or a terminal mistreats", orig, entry)
		}
		mn := it.manifest.Attachments[0].Name
		t.Logf("%.60q → %.80s (manifest name %.60q)", orig, entry, mn)
		if strings.IndexFunc(mn, secUnsafeRune) >= 0 || !utf8.ValidString(mn) || len(mn) > 255 {
			t.Errorf("%q → manifest name %q", orig, mn)
		}
		if orig == "фото 1.jpg" && (mn != orig || elem != "фото_1.jpg") {
			t.Errorf("a plain name was mangled: manifest %q, entry %q", mn, elem)
		}
		// GNU tar extracts the decrypted item inside the target only.
		out := t.TempDir()
		cmd := exec.Command("tar", "-x", "-C", out)
		cmd.Stdin = bytes.NewReader(it.plain)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("tar -x of %q: %v %s", orig, err, b)
		}
		var got []string
		filepath.WalkDir(out, func(p string, de os.DirEntry, err error) error {
			if err == nil && de.Type().IsRegular() {
				rel, _ := filepath.Rel(out, p)
				got = append(got, rel)
			}
			return nil
		})
		if len(got) != 2 || got[0] != entry && got[1] != entry {
			t.Errorf("%q: tar extracted %q", orig, got)
		}
	}
	if found != len(sent) {
		t.Errorf("%d of %d accepted hostile names were stored", found, len(sent))
	}
	_ = ageBin
}

// secMarker is a fresh marker string, easy to grep.
func secMarker(what string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "SECMARK" + what + hex.EncodeToString(b)
}

// TestSecurityNoFieldSkipsEncryption: submissions with extra unknown
// fields, repeated fields, fields named like manifest keys, a huge field,
// markers in the language, a file's type and name, follow-ups and the
// codename form, and in the query, headers and cookies — then the whole
// data directory (bbolt file, spool, everything) and the server's TMPDIR
// and log are searched for every marker: none is found in clear. Controls:
// the same search finds a bucket name in the database file, and the
// accepted answers' markers are there after decryption, so they did reach
// the server.
func TestSecurityNoFieldSkipsEncryption(t *testing.T) {
	testutil.Age(t) // built before TMPDIR points at the directory searched
	dir := newDataDir(t)
	acc := secEnrol(t, dir, "markers")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the server's temporary directory
	d := startServe(t, dir, nil)

	var markers []string
	mark := func(what string) string { m := secMarker(what); markers = append(markers, m); return m }
	stored := map[string]bool{} // markers that must be in a decrypted item
	post := func(what string, parts []secPart, hdr ...string) secResp {
		t.Helper()
		ct, body := secMultipart(parts)
		r := secDo(t, secRequest(t, "POST", d.witness+"/submit?q="+mark("query"), ct, body, "", hdr...))
		t.Logf("%s: %d", what, r.status)
		return r
	}
	base := func() []secPart { return secAnswers("plain") }
	var r secResp

	// Control: an accepted submission with markers in an answer, a file's
	// content, its name and its type.
	ans, fcont, fname := mark("answer"), mark("filecontent"), mark("filename")
	p := secAnswers(ans)
	p = append(p, secPart{name: "files", filename: fname + ".jpg", ctype: "image/" + mark("ctype"), body: bytes.Repeat([]byte(fcont), 1000)})
	if r = post("control", p, "User-Agent", mark("ua"), "X-Forwarded-For", mark("xff"), "Cookie", "session="+mark("cookie")); r.status != http.StatusOK {
		t.Fatalf("the control submission was refused: %d\n%s", r.status, r.body)
	}
	stored[ans], stored[fcont], stored[fname] = true, true, true
	cnWords := regexp.MustCompile(`<span>([a-z]+)</span>`).FindAllSubmatch(r.body, -1)
	var cn []string
	for _, w := range cnWords {
		cn = append(cn, string(w[1]))
	}
	codename := strings.Join(cn, " ")

	post("unknown field", append(base(), secPart{name: "x_extra", body: []byte(mark("unknown"))}))
	post("unknown field after a file", append(append(base(), secPart{name: "files", filename: "a.jpg", body: []byte(mark("spooled"))}), secPart{name: "evil", body: []byte(mark("unknown2"))}))
	rep1, rep2 := mark("repeat1"), mark("repeat2")
	if r = post("repeated field", append(base(), secPart{name: "account", body: []byte(rep1)}, secPart{name: "account", body: []byte(rep2)})); r.status == http.StatusOK {
		stored[rep1] = true
	}
	for _, k := range []string{"format", "kind", "day", "answers", "attachments", "form", "manifest.json", "lang", "role", "source", "recipients"} {
		v := mark("key-" + strings.ReplaceAll(k, ".", ""))
		if r = post("field "+k, append(base(), secPart{name: k, body: []byte(v)})); r.status == http.StatusOK && k != "lang" && k != "role" {
			stored[v] = true
		}
	}
	huge := mark("huge")
	post("huge field", append(base(), secPart{name: "facility", body: []byte(strings.Repeat(huge, 400<<10/len(huge)))}))
	post("huge unknown field", append(base(), secPart{name: "zzz", body: []byte(strings.Repeat(mark("hugeunknown"), 20000))}))
	post("marker as a field name", append(base(), secPart{name: mark("fieldname"), body: []byte("x")}))
	post("text field with a file name", append(base(), secPart{name: "account", filename: mark("textfile"), body: []byte(mark("textfilebody"))}))
	if r := secDo(t, secRequest(t, "POST", d.witness+"/submit", "application/x-www-form-urlencoded", []byte("account="+mark("urlenc")), "")); r.status < 400 {
		t.Errorf("a url-encoded submission: %d", r.status)
	}
	// The returning witness's forms.
	secPostForm(t, d.witness+"/thread", url.Values{"codename": {mark("codename")}, "lang": {mark("threadlang")}}, "")
	fu := mark("followup")
	ct, body := secMultipart([]secPart{{name: "lang", body: []byte("en")}, {name: "codename", body: []byte(codename)}, {name: "message", body: []byte(fu)},
		{name: "files", filename: mark("fufile"), body: []byte(mark("fucontent"))}})
	if r = secDo(t, secRequest(t, "POST", d.witness+"/followup", ct, body, "")); r.status != http.StatusOK {
		t.Errorf("follow-up: %d\n%s", r.status, r.body)
	}
	stored[fu] = true
	ct, body = secMultipart([]secPart{{name: "lang", body: []byte("en")}, {name: "codename", body: []byte(codename)}, {name: "message", body: []byte("x")},
		{name: "extra", body: []byte(mark("fuextra"))}})
	secDo(t, secRequest(t, "POST", d.witness+"/followup", ct, body, ""))
	d.stop(t)

	for _, m := range markers {
		for _, where := range []string{dir, tmp} {
			if hits := secGrepDir(t, where, []byte(m)); len(hits) > 0 {
				t.Errorf("marker %s is in clear in %v", m, hits)
			}
		}
	}
	secLogsHoldNone(t, d, markers...)
	// Controls: the search sees the database's clear bytes, and the
	// accepted markers reached the server, encrypted.
	if hits := secGrepDir(t, dir, []byte("investigators")); len(hits) == 0 {
		t.Fatal("the search does not find the bucket name \"investigators\" in the data directory: it proves nothing")
	}
	var all bytes.Buffer
	items := secDecryptAll(t, dir, acc.KeyFile)
	for _, it := range items {
		all.Write(it.plain)
		if it.manifest.Format != "testimony/v1" || it.manifest.Day != time.Now().UTC().Format(time.DateOnly) ||
			(it.manifest.Kind != crypto.KindSubmission && it.manifest.Kind != crypto.KindFollowup) {
			t.Errorf("item %s: a form field changed the manifest: %+v", it.ID, it.manifest)
		}
	}
	for m := range stored {
		if !bytes.Contains(all.Bytes(), []byte(m)) {
			t.Errorf("the accepted marker %s is in no decrypted item", m)
		}
	}
	t.Logf("%d markers sent, %d items stored, none in clear", len(markers), len(items))
}

// TestSecurityNoOutbound: the no-network check of serve_nonet_test.go
// (strace in a network namespace with only lo: no connection off loopback,
// no name lookup — resolver files, any use of port 53, any UDP socket),
// run as part of this suite.
func TestSecurityNoOutbound(t *testing.T) {
	checkNoOutbound(t)
}
