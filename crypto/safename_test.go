package crypto_test

import (
	"path"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"testimony/crypto"
)

func TestSafeName(t *testing.T) {
	long := strings.Repeat("д", 5000)
	for _, c := range []struct{ in, want string }{
		{"photo.jpg", "photo.jpg"},
		{"скан паспорта.PNG", "скан_паспорта.PNG"},
		{"../../etc/passwd", "passwd"},
		{`..\..\Windows\System32\cmd.exe`, "cmd.exe"},
		{"/", "file"},
		{"", "file"},
		{".", "file"},
		{"..", "file"},
		{"...", "file"},
		{".pdf", "file.pdf"},
		{"_.pdf", "file.pdf"},
		{".bashrc", "file.bashrc"},
		{"-rf", "rf"},
		{"--help.txt", "help.txt"},
		{"a\x00b.txt", "a_b.txt"},
		{"\x00", "file"},
		{"фото\u202Egpj.exe", "фото_gpj.exe"},
		{"evil\u202Efdp.exe", "evil_fdp.exe"},
		{"zero\u200Bwidth.doc", "zero_width.doc"},
		{"line\u2028break.txt", "line_break.txt"},
		{"bad\xffutf8.txt", "bad_utf8.txt"},
		{"name.", "name"},
		{"report.tar.gz", "report.tar.gz"},
		{"a..b.jpg", "a..b.jpg"},
		{"$(rm -rf ~).sh", "(rm_-rf__).sh"},
		{"<script>.html", "script_.html"},
		{"CON", "file-CON"},
		{"nul.txt", "file-nul.txt"},
		{"Com1.tar.gz", "file-Com1.tar.gz"},
		{"CONSOLE.txt", "CONSOLE.txt"},
		{"  spaced  .jpg", "spaced__.jpg"},
		{long + ".jpg", strings.Repeat("д", 48) + ".jpg"},
		{long, strings.Repeat("д", 50)},
		{"x." + strings.Repeat("e", 40), "x." + strings.Repeat("e", 40)},
	} {
		got := crypto.SafeName(c.in)
		if got != c.want {
			t.Errorf("SafeName(%.60q) = %q, want %q", c.in, got, c.want)
		}
		checkSafeName(t, c.in, got)
	}
}

func TestCleanName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"протокол допроса.pdf", "протокол допроса.pdf"},
		{"  report.pdf \n", "report.pdf"},
		{"../../etc/passwd", "../../etc/passwd"}, // not yet a path: SafeName's job
		{"a\x00b", "a_b"},
		{"фото\u202Egpj.exe", "фото_gpj.exe"},
		{"\u2066isolate\u2069", "_isolate_"},
		{"\ufeffbom.txt", "_bom.txt"},
		{"bad\xff\xfe.txt", "bad_.txt"},
		{"tab\there", "tab_here"},
		{strings.Repeat("a", 254) + " bcd", strings.Repeat("a", 254)},
		{strings.Repeat("ж", 200), strings.Repeat("ж", 127)},
	} {
		got := crypto.CleanName(c.in)
		if got != c.want {
			t.Errorf("CleanName(%.60q) = %.60q, want %.60q", c.in, got, c.want)
		}
		checkCleanName(t, c.in, got)
	}
}

// badRune is the oracle for characters no cleaned name may show, from the
// Unicode tables rather than from the code under test.
func badRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || unicode.Is(unicode.Cf, r) ||
		unicode.In(r, unicode.Zl, unicode.Zp) || r == utf8.RuneError
}

func checkCleanName(t *testing.T, in, got string) {
	t.Helper()
	switch {
	case !utf8.ValidString(got):
		t.Errorf("CleanName(%q) = %q: invalid UTF-8", in, got)
	case len(got) > 255:
		t.Errorf("CleanName(%.40q): %d bytes", in, len(got))
	case strings.ContainsFunc(got, badRune):
		t.Errorf("CleanName(%q) = %q: control, bidi or invisible character", in, got)
	case strings.TrimSpace(got) != got:
		t.Errorf("CleanName(%q) = %q: surrounding space", in, got)
	case crypto.CleanName(got) != got:
		t.Errorf("CleanName not idempotent: %q → %q → %q", in, got, crypto.CleanName(got))
	}
}

func checkSafeName(t *testing.T, in, got string) {
	t.Helper()
	fail := func(why string) { t.Errorf("SafeName(%.80q) = %q: %s", in, got, why) }
	switch {
	case got == "" || got == "." || got == "..":
		fail("empty or a dot name")
	case strings.ContainsAny(got, `/\`):
		fail("holds a path separator")
	case strings.HasPrefix(got, ".") || strings.HasPrefix(got, "-") || strings.HasSuffix(got, "."):
		fail("leading dot or dash, or trailing dot")
	case !utf8.ValidString(got):
		fail("invalid UTF-8")
	case len(got) > crypto.MaxNameBytes:
		fail("too long")
	case strings.ContainsFunc(got, badRune):
		fail("control, bidi or invisible character")
	case strings.ContainsFunc(got, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("._-()+,", r)
	}):
		fail("a character outside letters, digits and ._-()+,")
	case crypto.SafeName(got) != got:
		fail("not idempotent: then " + crypto.SafeName(got))
	case path.Base(got) != got || path.Clean(got) != got:
		fail("not a clean single path element")
	}
	// An extension of letters and digits, up to 15 of them, survives, as
	// does one given after a long name.
	el := in
	if i := strings.LastIndexAny(in, `/\`); i >= 0 {
		el = in[i+1:]
	}
	if ext := path.Ext(el); len(ext) >= 2 && len(ext) <= 16 && isAlnumASCII(ext[1:]) && !strings.HasSuffix(got, ext) {
		fail("extension " + ext + " lost")
	}
}

func isAlnumASCII(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// FuzzSafeName checks SafeName's and CleanName's promises on any input.
func FuzzSafeName(f *testing.F) {
	for _, s := range []string{
		"photo.jpg", "../../etc/passwd", `..\..\boot.ini`, "a\x00b.txt", "фото\u202Egpj.exe", ".", "..",
		"", ".pdf", "CON.txt", strings.Repeat("д", 300) + ".jpg", "x." + strings.Repeat("e", 90),
		"abc.." + strings.Repeat("e", 120), "\xff\xfe", " .", "-", "com9", "a/b/c/", "name.\u200B",
		strings.Repeat("a", 254) + " b", strings.Repeat("ab.", 50),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkSafeName(t, s, crypto.SafeName(s))
		checkCleanName(t, s, crypto.CleanName(s))
		// The manifest keeps CleanName; the path comes from it the same way.
		if crypto.SafeName(crypto.CleanName(s)) != crypto.SafeName(s) {
			t.Errorf("SafeName(CleanName(%q)) != SafeName(%q)", s, s)
		}
	})
}
