package main

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/internal/testutil"
	"testimony/store"
)

// The generated data set: 300 submissions from 300 sources (half in
// Russian), 20 follow-ups, and planted events: groups of witnesses on the
// same flight, and groups held in the same facility at overlapping dates.
// Every other testimony has its own flight and its own stay, so the only
// groups report may find are the planted ones.

var (
	facilities = []string{"ЦВСИГ Сахарово", "Florence SPC", "Port Isabel SPC", "ЦВСИГ Егорьевск", "Krome North SPC", "Otay Mesa DC"}
	departures = []string{"AUS", "HRL", "ELP", "MIA", "Москва (Шереметьево)"}
	transits   = []string{"Mexico", "Turkey", "Guatemala", ""}
	arrivals   = []string{"TAS", "FRU", "DYU", "GUA", "SAL"}
	conditions = []string{"overcrowding", "medical_denied", "restraints", "threats_violence", "documents_taken", "no_lawyer", "weight_loss"}
	treatments = []string{"shackled", "handcuffed", "tied_to_seat", "documents_confiscated", "no_food_water", "medical_denied"}
)

type dataset struct {
	specs      []*itemSpec // submissions first, then follow-ups
	flights    [][]string  // sources of each planted flight group
	detentions [][]string  // sources of each planted detention group
}

func day(base string, plus int) string {
	t, err := time.Parse(time.DateOnly, base)
	if err != nil {
		panic(err)
	}
	return t.AddDate(0, 0, plus).Format(time.DateOnly)
}

func pick(r *rand.Rand, from []string) []string {
	var out []string
	for _, s := range from {
		if r.IntN(3) == 0 {
			out = append(out, s)
		}
	}
	return out
}

func generate(seed uint64, n int) *dataset {
	r := rand.New(rand.NewPCG(seed, 7))
	d := &dataset{}
	for i := range n {
		lang, account, role := "en", "They kept us in a cold room for days.\nNobody told us where we were going.", "self"
		if i%2 == 0 {
			lang, account = "ru", "Нас держали в холодной комнате несколько дней.\nНикто не сказал, куда нас везут."
		}
		if i%7 == 0 {
			role = "relative"
		}
		fac := facilities[i%len(facilities)]
		slot := i / len(facilities)
		from := day("2024-01-01", slot*12) // each stay its own: 12-day slots, 10-day stays
		a := map[string]crypto.Answer{
			"role":               crypto.TextAnswer(role),
			"facility":           crypto.TextAnswer(fac),
			"detention_from":     crypto.TextAnswer(from),
			"detention_to":       crypto.TextAnswer(day(from, 10)),
			"conditions":         crypto.ListAnswer(pick(r, conditions)...),
			"deport_date":        crypto.TextAnswer(day("2025-03-01", i)), // each flight its own day
			"depart_airport":     crypto.TextAnswer(departures[r.IntN(len(departures))]),
			"transit_country":    crypto.TextAnswer(transits[r.IntN(len(transits))]),
			"arrival_airport":    crypto.TextAnswer(arrivals[r.IntN(len(arrivals))]),
			"flight_treatment":   crypto.ListAnswer(pick(r, treatments)...),
			"arrival_questioned": crypto.TextAnswer([]string{"yes", "no"}[r.IntN(2)]),
			"arrival_detained":   crypto.TextAnswer([]string{"yes", "no"}[r.IntN(2)]),
			"account":            crypto.TextAnswer(account),
			"consent_use":        crypto.TextAnswer([]string{"quote_anonymised", "statistics_only"}[i%2]),
			"contact":            crypto.TextAnswer("codename_only"),
		}
		if role == "relative" {
			a["consent_proxy"] = crypto.TextAnswer("yes")
		}
		d.specs = append(d.specs, &itemSpec{Kind: crypto.KindSubmission, Day: day("2025-06-01", i*2%730), Lang: lang,
			Source: fmt.Sprintf("src-%03d", i), Answers: a})
	}
	perm := r.Perm(n)
	next := 0
	for g, size := range []int{2, 3, 4, 5, 6, 8} {
		date := day("2024-06-01", g*3)
		dep, tr, arr := departures[g%len(departures)], transits[g%len(transits)], arrivals[g%len(arrivals)]
		var srcs []string
		for range size {
			s := d.specs[perm[next]]
			next++
			s.Answers["deport_date"] = crypto.TextAnswer(date)
			// Witnesses spell the same airport differently.
			s.Answers["depart_airport"] = crypto.TextAnswer([]string{dep, " " + strings.ToLower(dep) + " "}[len(srcs)%2])
			s.Answers["transit_country"] = crypto.TextAnswer(tr)
			s.Answers["arrival_airport"] = crypto.TextAnswer(arr)
			srcs = append(srcs, s.Source)
		}
		d.flights = append(d.flights, srcs)
	}
	for g, size := range []int{2, 3, 4, 5} {
		fac := facilities[g]
		var srcs []string
		for k := range size {
			s := d.specs[perm[next]]
			next++
			from := day("2023-01-01", g*40+k*2)
			s.Answers["facility"] = crypto.TextAnswer(fac)
			s.Answers["detention_from"] = crypto.TextAnswer(from)
			s.Answers["detention_to"] = crypto.TextAnswer(day(from, 8))
			srcs = append(srcs, s.Source)
		}
		d.detentions = append(d.detentions, srcs)
	}
	for i := range 20 {
		d.specs = append(d.specs, &itemSpec{Kind: crypto.KindFollowup, Day: day("2026-02-01", i), Lang: "ru",
			Source: fmt.Sprintf("src-%03d", i), Answers: map[string]crypto.Answer{"account": crypto.TextAnswer("Ещё одно.")}})
	}
	return d
}

// gpsJPEG is a small JPEG with EXIF holding GPS coordinates, XMP and a
// comment, as a phone camera writes them.
func gpsJPEG(t *testing.T) []byte {
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, testImage(), nil); err != nil {
		t.Fatal(err)
	}
	segment := func(marker byte, body []byte) []byte {
		s := []byte{0xFF, marker, 0, 0}
		binary.BigEndian.PutUint16(s[2:], uint16(len(body)+2))
		return append(s, body...)
	}
	var out []byte
	out = append(out, jb.Bytes()[:2]...)
	out = append(out, segment(0xE1, append([]byte("Exif\x00\x00"), gpsTIFF()...))...)
	out = append(out, segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description exif:GPSLatitude=\"55,45.0N\"/></x:xmpmeta>"))...)
	out = append(out, segment(0xFE, []byte("taken at Kalinina 12, flat 4"))...)
	return append(out, jb.Bytes()[2:]...)
}

// gpsTIFF is an EXIF TIFF structure whose first IFD points to a GPS IFD
// with latitude 55°45' N.
func gpsTIFF() []byte {
	le := binary.LittleEndian
	b := []byte("II\x2a\x00")
	b = le.AppendUint32(b, 8)
	b = le.AppendUint16(b, 1) // IFD0: one entry
	b = le.AppendUint16(b, 0x8825)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 1)
	b = le.AppendUint32(b, 26) // GPS IFD offset
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, 2) // GPS IFD: two entries
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint32(b, 2)
	b = append(b, 'N', 0, 0, 0)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 5)
	b = le.AppendUint32(b, 3)
	b = le.AppendUint32(b, 56)
	b = le.AppendUint32(b, 0)
	for _, v := range []uint32{55, 1, 45, 1, 0, 1} {
		b = le.AppendUint32(b, v)
	}
	return b
}

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 48, 32))
	for y := range 32 {
		for x := range 48 {
			img.Set(x, y, color.RGBA{uint8(x * 5), uint8(y * 7), 120, 255})
		}
	}
	return img
}

func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// gpsPNG is a PNG with a text chunk and an eXIf chunk holding GPS data.
func gpsPNG(t *testing.T) []byte {
	var pb bytes.Buffer
	if err := png.Encode(&pb, testImage()); err != nil {
		t.Fatal(err)
	}
	src := pb.Bytes()
	ihdrEnd := 8 + 12 + 13
	var out []byte
	out = append(out, src[:ihdrEnd]...)
	out = append(out, pngChunk("tEXt", []byte("Comment\x00flat 4, Kalinina 12"))...)
	out = append(out, pngChunk("eXIf", gpsTIFF())...)
	return append(out, src[ihdrEnd:]...)
}

// jpegMarkers lists the markers of a JPEG up to the start of scan,
// parsed independently of the code under test.
func jpegMarkers(t *testing.T, b []byte) []byte {
	var ms []byte
	p := 2
	for p+4 <= len(b) {
		if b[p] != 0xFF {
			t.Fatalf("no marker at %d", p)
		}
		m := b[p+1]
		ms = append(ms, m)
		if m == 0xDA {
			return ms
		}
		p += 2 + int(binary.BigEndian.Uint16(b[p+2:]))
	}
	t.Fatal("no start of scan")
	return nil
}

func pngChunks(t *testing.T, b []byte) []string {
	var cs []string
	for p := 8; p+12 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[p:]))
		cs = append(cs, string(b[p+4:p+8]))
		p += 12 + n
	}
	return cs
}

func newIdentity(t *testing.T, dir, name string) (string, *crypto.Recipients) {
	id, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	var b bytes.Buffer
	crypto.WriteIdentityFile(&b, id, "2026-11-28T00:00:00Z")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := crypto.NewRecipients(name, id.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	return path, rs
}

func sourceSets(groups []group) []string {
	var out []string
	for _, g := range groups {
		var s []string
		for _, it := range g.Items {
			s = append(s, it.Info.Source)
		}
		sort.Strings(s)
		out = append(out, strings.Join(s, ","))
	}
	sort.Strings(out)
	return out
}

func plantedSets(groups [][]string) []string {
	var out []string
	for _, g := range groups {
		s := slices.Clone(g)
		sort.Strings(s)
		out = append(out, strings.Join(s, ","))
	}
	sort.Strings(out)
	return out
}

var (
	attrRE    = regexp.MustCompile(`(?i)\b(href|src|action|srcset|xlink:href|data)\s*=\s*["']?([^"'\s>]*)`)
	handlerRE = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
)

// checkStatic fails if a page holds a script, an event handler, or any
// reference to another origin.
func checkStatic(t *testing.T, name string, page []byte) {
	t.Helper()
	s := string(page)
	low := strings.ToLower(s)
	for _, bad := range []string{"<script", "javascript:", "http://", "https://", "<iframe", "<object", "<embed", "@import", "url("} {
		if strings.Contains(low, bad) {
			t.Errorf("%s contains %q", name, bad)
		}
	}
	if handlerRE.MatchString(s) {
		t.Errorf("%s has an event handler attribute", name)
	}
	for _, m := range attrRE.FindAllStringSubmatch(s, -1) {
		if strings.Contains(m[2], ":") || strings.HasPrefix(m[2], "//") {
			t.Errorf("%s: %s=%q refers to another origin", name, m[1], m[2])
		}
	}
}

// TestCasework opens a bundle of 300 generated testimonies (written with
// the store's and the envelope's real code), then checks the spreadsheet,
// the pages, the photos' working copies, the report's groups against the
// planted ones, an incremental open and a share to a partner.
func TestCasework(t *testing.T) {
	dir := t.TempDir()
	keyFile, rs := newIdentity(t, dir, "key.txt")
	partnerFile, partnerRS := newIdentity(t, dir, "partner.txt")
	ds := generate(1, 300)

	jpg, pngb := gpsJPEG(t), gpsPNG(t)
	first := ds.specs[0]
	first.Attachments = []attachmentSpec{
		{Name: "photo.jpg", Type: "image/jpeg", Text: string(jpg)},
		{Name: "scan.png", Type: "image/png", Text: string(pngb)},
		{Name: "notes.txt", Type: "text/plain", Text: "=HYPERLINK(\"x\")"},
	}
	first.Answers["charges"] = crypto.TextAnswer("=cmd|' /C calc'!A0")

	db, err := store.Open(filepath.Join(dir, "store.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	same := func(*itemSpec) (*crypto.Recipients, error) { return rs, nil }
	ids, err := storeItems(db, ds.specs, same)
	if err != nil {
		t.Fatal(err)
	}
	b1 := filepath.Join(dir, "b1.tar")
	if err := exportBundle(db, b1, ids); err != nil {
		t.Fatal(err)
	}
	idents, err := readIdentities([]string{keyFile})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cases")
	res, err := openInto(idents, out, []string{b1})
	if err != nil || res.opened != 320 || res.failed != 0 {
		t.Fatalf("open: %+v, %v", res, err)
	}
	root, err := os.OpenRoot(out)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	items, err := loadCases(root)
	if err != nil || len(items) != 320 {
		t.Fatalf("loaded %d items, %v", len(items), err)
	}
	var firstDir string
	for _, it := range items {
		if it.Info.Source == "src-000" && it.M.Kind == crypto.KindSubmission {
			firstDir = filepath.Join(out, filepath.FromSlash(it.Dir))
		}
	}

	t.Run("csv", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(out, "testimonies.csv"))
		if err != nil {
			t.Fatal(err)
		}
		body, ok := bytes.CutPrefix(raw, []byte("\xEF\xBB\xBF"))
		if !ok {
			t.Fatal("testimonies.csv does not start with a UTF-8 byte order mark")
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 301 {
			t.Fatalf("%d rows, want a header and 300 submissions", len(rows))
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		for _, q := range questions {
			if _, ok := col[q.key]; !ok {
				t.Errorf("no column %q", q.key)
			}
		}
		bySource := map[string][]string{}
		for _, r := range rows[1:] {
			bySource[r[col["source"]]] = r
		}
		for _, s := range ds.specs[:300] {
			r := bySource[s.Source]
			if r == nil {
				t.Fatalf("no row for %s", s.Source)
			}
			for _, k := range []string{"facility", "account", "conditions", "depart_airport", "flight_treatment"} {
				want := strings.Join(s.Answers[k].Values(), ";")
				if got := r[col[k]]; got != want {
					t.Errorf("%s %s = %q, want %q", s.Source, k, got, want)
				}
			}
		}
		if got := bySource["src-000"][col["facility"]]; got != "ЦВСИГ Сахарово" {
			t.Errorf("Cyrillic facility read back as %q", got)
		}
		if got := bySource["src-000"][col["charges"]]; !strings.HasPrefix(got, "'=") {
			t.Errorf("a formula answer was not defused: %q", got)
		}
	})

	t.Run("photos", func(t *testing.T) {
		att := filepath.Join(firstDir, "attachments")
		orig, err := os.ReadFile(filepath.Join(att, "01-photo.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(orig, jpg) {
			t.Error("the original JPEG is not byte-identical to the upload")
		}
		clean, err := os.ReadFile(filepath.Join(att, "01-photo.clean.jpg"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range jpegMarkers(t, clean) {
			if m >= 0xE1 && m <= 0xEF || m == 0xFE {
				t.Errorf("working copy still has segment FF%02X", m)
			}
		}
		if !slices.Contains(jpegMarkers(t, jpg), 0xE1) {
			t.Fatal("the test JPEG has no EXIF")
		}
		for _, s := range []string{"Exif", "GPS", "Kalinina"} {
			if bytes.Contains(clean, []byte(s)) {
				t.Errorf("working copy still contains %q", s)
			}
		}
		ci, err := jpeg.Decode(bytes.NewReader(clean))
		if err != nil || ci.Bounds() != testImage().Bounds() {
			t.Errorf("working copy does not decode as the same image: %v", err)
		}
		porig, _ := os.ReadFile(filepath.Join(att, "02-scan.png"))
		if !bytes.Equal(porig, pngb) {
			t.Error("the original PNG is not byte-identical to the upload")
		}
		pclean, err := os.ReadFile(filepath.Join(att, "02-scan.clean.png"))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range pngChunks(t, pclean) {
			if c == "tEXt" || c == "zTXt" || c == "iTXt" || c == "eXIf" {
				t.Errorf("PNG working copy still has %s", c)
			}
		}
		if _, err := png.Decode(bytes.NewReader(pclean)); err != nil {
			t.Errorf("PNG working copy does not decode: %v", err)
		}
		page, _ := os.ReadFile(filepath.Join(firstDir, "testimony.html"))
		if n := strings.Count(string(page), `GPS present: <span class="gps">yes</span>`); n != 2 {
			t.Errorf("item page says GPS present: yes %d times, want 2", n)
		}
		text, _ := os.ReadFile(filepath.Join(firstDir, "testimony.txt"))
		if !strings.Contains(string(text), "JPEG; GPS present: yes") {
			t.Errorf("testimony.txt does not note the GPS data:\n%s", text)
		}
		if _, err := os.Stat(filepath.Join(att, "03-notes.clean.txt")); err == nil {
			t.Error("a working copy was made of a text file")
		}
	})

	// report, through the command line.
	var summary bytes.Buffer
	stdout = &summary
	code := run([]string{"report", out})
	stdout = os.Stdout
	if code != 0 {
		t.Fatalf("report exited %d", code)
	}

	t.Run("report", func(t *testing.T) {
		a := analyse(items)
		if got, want := sourceSets(a.Flights), plantedSets(ds.flights); !slices.Equal(got, want) {
			t.Errorf("flight groups:\n got %q\nwant %q", got, want)
		}
		if got, want := sourceSets(a.Detentions), plantedSets(ds.detentions); !slices.Equal(got, want) {
			t.Errorf("detention groups:\n got %q\nwant %q", got, want)
		}
		for _, s := range []string{
			"300 submissions from 300 sources",
			fmt.Sprintf("Shared flights (same deportation date and route, 2+ sources): %d\n", len(ds.flights)),
			fmt.Sprintf("Shared detention (same facility, overlapping dates, 2+ sources): %d\n", len(ds.detentions)),
			"  2024-06-16, AUS → Turkey → TAS: 8 testimonies from 8 sources\n",
			"  2024-06-04, HRL → Turkey → FRU: 3 testimonies from 3 sources\n",
		} {
			if !strings.Contains(summary.String(), s) {
				t.Errorf("summary lacks %q:\n%s", s, summary.String())
			}
		}
		page, err := os.ReadFile(filepath.Join(out, "report.html"))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(page), "<svg "); n != 5 {
			t.Errorf("report.html has %d charts, want 5", n)
		}
		for _, f := range facilities {
			if !strings.Contains(string(page), f) {
				t.Errorf("report.html does not name %s", f)
			}
		}
	})

	t.Run("static", func(t *testing.T) {
		for _, name := range []string{"index.html", "report.html", filepath.Join(firstDir, "testimony.html")} {
			if !filepath.IsAbs(name) {
				name = filepath.Join(out, name)
			}
			page, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			checkStatic(t, filepath.Base(name), page)
		}
		index, _ := os.ReadFile(filepath.Join(out, "index.html"))
		for _, s := range []string{"src-299", "ЦВСИГ Егорьевск", "01-photo.clean.jpg", "testimony.html"} {
			if !strings.Contains(string(index), s) {
				t.Errorf("index.html lacks %q", s)
			}
		}
		// Every link of the index leads to a file of the folder.
		for _, m := range attrRE.FindAllStringSubmatch(string(index), -1) {
			p := strings.NewReplacer("%20", " ").Replace(m[2])
			if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(p))); err != nil {
				t.Errorf("index.html links to %s, which is missing", m[2])
			}
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		screenshot(t, filepath.Join(out, "index.html"), "index.png")
		screenshot(t, filepath.Join(out, "report.html"), "report.png")
		screenshot(t, filepath.Join(firstDir, "testimony.html"), "item.png")
	})

	t.Run("incremental", func(t *testing.T) {
		before, err := os.Stat(filepath.Join(firstDir, "testimony.txt"))
		if err != nil {
			t.Fatal(err)
		}
		more := generate(2, 300).specs[:5]
		for i, s := range more {
			s.Source = fmt.Sprintf("new-%d", i)
		}
		newIDs, err := storeItems(db, more, same)
		if err != nil {
			t.Fatal(err)
		}
		b2 := filepath.Join(dir, "b2.tar")
		if err := exportBundle(db, b2, append(slices.Clone(ids), newIDs...)); err != nil {
			t.Fatal(err)
		}
		res, err := openInto(idents, out, []string{b2})
		if err != nil || res.opened != 5 || res.skipped != 320 || res.failed != 0 {
			t.Fatalf("second open: %+v, %v", res, err)
		}
		after, err := os.Stat(filepath.Join(firstDir, "testimony.txt"))
		if err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
			t.Error("an item already opened was rewritten")
		}
		items, _ := loadCases(root)
		if len(items) != 325 {
			t.Errorf("%d items after the second open, want 325", len(items))
		}
		raw, _ := os.ReadFile(filepath.Join(out, "testimonies.csv"))
		rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xEF\xBB\xBF")))).ReadAll()
		if err != nil || len(rows) != 306 {
			t.Errorf("testimonies.csv has %d rows after the second open, want 306 (%v)", len(rows), err)
		}
	})

	t.Run("share", func(t *testing.T) {
		pub := filepath.Join(dir, "partner.pub")
		os.WriteFile(pub, []byte(partnerRS.Keys()[0]+"\n"), 0o600)
		shared := filepath.Join(dir, "partner.tar")
		args := []string{"share", "-i", keyFile, "-R", pub, "-o", shared, b1, "-id", ids[0], "-id", ids[5]}
		if code := run(args); code != 0 {
			t.Fatalf("share exited %d", code)
		}
		pids, _ := readIdentities([]string{partnerFile})
		res, err := openInto(pids, filepath.Join(dir, "partner-cases"), []string{shared})
		if err != nil || res.opened != 2 || res.failed != 0 {
			t.Fatalf("partner's open: %+v, %v", res, err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "partner-cases", "src-000", filepath.Base(firstDir), "attachments", "01-photo.jpg"))
		if !bytes.Equal(got, jpg) {
			t.Error("the shared photo differs from the original")
		}
		res, err = openInto(idents, filepath.Join(dir, "our-try"), []string{shared})
		if err != nil || res.opened != 0 || res.failed != 2 {
			t.Fatalf("our identity opened the partner's bundle: %+v, %v", res, err)
		}
		log, _ := os.ReadFile(filepath.Join(dir, "shared.log"))
		if !strings.Contains(string(log), "shared 2 items with "+partnerRS.Fingerprint()) {
			t.Errorf("shared.log: %q", log)
		}
	})
}

// screenshot saves a headless Chromium screenshot of a page as a test
// artifact, and checks it is not blank.
func screenshot(t *testing.T, page, name string) {
	t.Helper()
	shot := filepath.Join(t.ArtifactDir(), name)
	cmd := testutil.ChromiumCommand(t, "--window-size=1280,3200", "--screenshot="+shot, "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	colors := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}] = true
		}
	}
	if len(colors) < 3 {
		t.Errorf("screenshot %s looks blank (%d colours)", name, len(colors))
	}
	t.Logf("screenshot saved: %s", shot)
	if d := os.Getenv("TESTIMONY_SHOTS"); d != "" {
		b, _ := os.ReadFile(shot)
		os.WriteFile(filepath.Join(d, name), b, 0o644)
	}
}

// TestShareOpensWithStockAge: what share writes is standard age, so a
// partner without our tool reads it with the stock age CLI and tar.
func TestShareOpensWithStockAge(t *testing.T) {
	dir := t.TempDir()
	ageBin := testutil.Age(t)
	keyFile, rs := newIdentity(t, dir, "key.txt")
	partnerFile, partnerRS := newIdentity(t, dir, "partner.txt")
	spec := &itemSpec{Day: "2026-05-01", Source: "s1", Answers: map[string]crypto.Answer{"account": crypto.TextAnswer("Нас было сорок.")},
		Attachments: []attachmentSpec{{Name: "photo.jpg", Text: "not really a photo"}}}
	bundle := filepath.Join(dir, "b.tar")
	if err := writeBundle(bundle, []*itemSpec{spec}, func(*itemSpec) (*crypto.Recipients, error) { return rs, nil }); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "partner.pub")
	os.WriteFile(pub, []byte(partnerRS.Keys()[0]+"\n"), 0o600)
	shared := filepath.Join(dir, "shared.tar")
	if code := run([]string{"share", "-i", keyFile, "-R", pub, "-o", shared, bundle}); code != 0 {
		t.Fatalf("share exited %d", code)
	}
	x := filepath.Join(dir, "x")
	os.Mkdir(x, 0o700)
	if out, err := exec.Command("tar", "-xf", shared, "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	items, _ := filepath.Glob(filepath.Join(x, "items", "*.age"))
	if len(items) != 1 {
		t.Fatalf("%d items in the shared bundle", len(items))
	}
	for _, c := range []struct {
		key  string
		fail bool
	}{{partnerFile, false}, {keyFile, true}} {
		cmd := exec.Command(ageBin, "-d", "-i", c.key, items[0])
		plain, err := cmd.Output()
		if c.fail {
			if err == nil {
				t.Error("the stock age CLI decrypted the shared item with our own key")
			}
			continue
		}
		if err != nil {
			t.Fatalf("age -d with the partner's key: %v", err)
		}
		er, err := crypto.ReadEnvelope(bytes.NewReader(plain))
		if err != nil {
			t.Fatal(err)
		}
		if got := er.Manifest().Answers["account"].Text; got != "Нас было сорок." {
			t.Errorf("account %q", got)
		}
		if err := er.Finish(); err != nil {
			t.Fatal(err)
		}
	}
}
