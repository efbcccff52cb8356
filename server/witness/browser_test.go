package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"testimony/crypto"
	"testimony/form"
	"testimony/internal/testutil"
	"testimony/server/web"
)

// newBrowser starts a headless Chromium with JavaScript disabled for the
// page, as Tor Browser's "Safest" mode has it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return testutil.Chromium(t, chromedp.WindowSize(1280, 900))
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserSubmitReplyFollowup is a witness's whole visit in a real
// Chromium with JavaScript off: the form with two files, the codename, a
// reply read with it, a follow-up.
func TestBrowserSubmitReplyFollowup(t *testing.T) { browserVisit(t, false) }

// TestBrowserStreamedSubmission is the same visit with the files streamed
// into the store, as a large upload's are: the browser sends the form's
// last answers after the files, which the room kept for the manifest must
// hold.
func TestBrowserStreamedSubmission(t *testing.T) { browserVisit(t, true) }

func browserVisit(t *testing.T, streamed bool) {
	ctx := newBrowser(t)
	e := newWitEnv(t, Config{})
	if streamed {
		e.streamAll()
	}
	dir := t.TempDir()
	photo := bytes.Repeat([]byte("JPEGDATA"), 40<<10)
	doc := []byte("%PDF-1.4 a deportation order, scanned")
	files := []string{filepath.Join(dir, "photo.jpg"), filepath.Join(dir, "order.pdf")}
	os.WriteFile(files[0], photo, 0o600)
	os.WriteFile(files[1], doc, 0o600)
	const account = "They put us in shackles at Alexandria.\nWe landed in Cairo, then Moscow. BROWSER-MARKER"

	// A phone-sized view first, for the screenshots of the form.
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 360, Height: 780, DeviceScaleFactor: 1, Mobile: true}); err != nil {
		t.Fatal(err)
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("a.button")),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "1-landing-360px")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a.button[href^="/form"]`)),
		chromedp.WaitVisible(chromedp.ID("f-account")),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "2-form-360px")
	if _, err := chromedp.Call(ctx, emulation.ClearDeviceMetricsOverride, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	openSections(t, ctx)
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`input[name="role"][value="self"]`)),
		chromedp.SendKeys(chromedp.ID("f-facility"), "A county detention centre"),
		chromedp.SendKeys(chromedp.ID("f-detention_from"), "2025-03"),
		chromedp.Click(chromedp.CSS(`input[name="conditions"][value="overcrowding"]`)),
		chromedp.Click(chromedp.CSS(`input[name="conditions"][value="restraints"]`)),
		chromedp.SendKeys(chromedp.ID("f-deport_date"), "2025-08-27"),
		chromedp.Click(chromedp.CSS(`input[name="flight_treatment"][value="shackled"]`)),
		chromedp.Click(chromedp.CSS(`input[name="arrival_questioned"][value="yes"]`)),
		chromedp.SendKeys(chromedp.ID("f-account"), account),
		chromedp.SetUploadFiles(chromedp.ID("f-files"), files),
		chromedp.Click(chromedp.CSS(`input[name="consent_use"][value="quote_anonymised"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "3-form-filled")
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form[action^="/submit"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("codename")),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "4-receipt")
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("codename")))
	if err != nil {
		t.Fatal(err)
	}
	codename, err := crypto.CheckCodename(text)
	if err != nil || len(strings.Fields(codename)) != crypto.CodenameWords {
		t.Fatalf("the receipt shows %q, not an eight-word codename", text)
	}

	subs := e.items(crypto.KindSubmission)
	if len(subs) != 1 {
		t.Fatalf("%d submissions stored", len(subs))
	}
	m, got := e.open(subs[0])
	if m.Answers["account"].Text != account || m.Answers["role"].Text != "self" || m.Answers["detention_from"].Text != "2025-03" {
		t.Errorf("answers %+v", m.Answers)
	}
	if c := m.Answers["conditions"].List; len(c) != 2 {
		t.Errorf("conditions %v", c)
	}
	if len(got) != 2 || !bytes.Equal(got[0], photo) || !bytes.Equal(got[1], doc) ||
		m.Attachments[0].Name != "photo.jpg" || m.Attachments[1].Name != "order.pdf" {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	if m.Answers["consent_use"].Text != "quote_anonymised" {
		t.Errorf("consent_use %+v: the answer after the files is lost", m.Answers["consent_use"])
	}
	if entry, json := e.manifestRoom(subs[0].ID); (entry > json) != streamed {
		t.Errorf("streamed %v, but the manifest entry is %d bytes for %d of JSON", streamed, entry, json)
	}

	const reply = "Thank you for writing. Which flight was it?"
	e.plantReply(codename, reply)
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.ts.URL+"/codename"),
		chromedp.WaitVisible(chromedp.ID("f-codename")),
		chromedp.SendKeys(chromedp.ID("f-codename"), strings.ToUpper(text)),
		chromedp.Click(chromedp.CSS(`form[action^="/thread"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".reply .message")),
	)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".reply .message")))
	if err != nil || msg != reply {
		t.Fatalf("reply shown: %q, %v", msg, err)
	}
	screenshot(t, ctx, "5-thread")

	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("f-message"), "The flight of 27 August."),
		chromedp.SetUploadFiles(chromedp.ID("f-files"), files[1:]),
		chromedp.Click(chromedp.CSS(`form[action^="/followup"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice.ok")),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "6-followup-sent")
	fus := e.items(crypto.KindFollowup)
	if len(fus) != 1 || fus[0].Source != subs[0].Source {
		t.Fatalf("follow-ups %+v", fus)
	}
	fm, ff := e.open(fus[0])
	if fm.Answers["message"].Text != "The flight of 27 August." || len(ff) != 1 || !bytes.Equal(ff[0], doc) {
		t.Errorf("follow-up %+v", fm)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<script") {
		t.Error("the page holds a script")
	}
}

// updateDocs makes TestBrowserSubmitInRussianAndUkrainian write the
// README's screenshots, docs/form-ru.png and docs/receipt-ru.png:
// go test ./server -run TestBrowserSubmitInRussianAndUkrainian -docs
var updateDocs = flag.Bool("docs", false, "write the README's screenshots under docs/")

// phone is the view of the language tests and the README's screenshots.
var phone = emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 1, Mobile: true}

// shot saves a PNG of the top height pixels of the page (all of it if
// height is 0) as name in the test's artifacts, and returns it.
func shot(t *testing.T, ctx context.Context, name string, height float64) []byte {
	t.Helper()
	p := page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng, CaptureBeyondViewport: ptrTo(true)}
	if height > 0 {
		p.Clip = &page.Viewport{X: 0, Y: 0, Width: float64(phone.Width), Height: height, Scale: 1}
	}
	// A capture beyond the viewport sometimes never answers in headless
	// Chromium; the page is there all the same. The picture is for a
	// person to look at: its own time-out, and the test goes on without.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err := chromedp.Call(sctx, page.CaptureScreenshot, p)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		t.Logf("screenshot %s: not taken: %v", name, err)
		return nil
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), r.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	return r.Data
}

func ptrTo[T any](v T) *T { return &v }

// attr returns an attribute of the first element sel matches.
func attr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil || !v.Exists {
		t.Fatalf("%s[%s]: %v", sel, name, err)
	}
	return v.Value
}

// TestBrowserSubmitInRussianAndUkrainian: a witness on a phone, in a real
// Chromium with JavaScript off, starts on the English landing page, picks
// their language by clicking its link, fills the form, sends it and reads
// the receipt in that language; the stored item records the language.
func TestBrowserSubmitInRussianAndUkrainian(t *testing.T) {
	ctx := newBrowser(t)
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, phone); err != nil {
		t.Fatal(err)
	}
	accounts := map[string]string{
		"ru": "Нас держали в переполненной камере, потом депортировали через Каир в Москву. МАРКЕР-RU",
		"uk": "Нас тримали в переповненій камері, потім депортували через Каїр. МАРКЕР-UK",
	}
	for _, lang := range []string{"ru", "uk"} {
		t.Run(lang, func(t *testing.T) {
			e := newWitEnv(t, Config{})
			cat := witnessCatalog(t, lang)
			openLanding(t, ctx, e.ts.URL)
			err := chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`nav.langs a[hreflang="`+lang+`"]`)),
				chromedp.WaitVisible(chromedp.CSS(`html[lang="`+lang+`"] a.button[href^="/form"]`)),
			)
			if err != nil {
				t.Fatal(err)
			}
			shot(t, ctx, "1-landing-"+lang, 0)
			h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
			if err != nil || h1 != cat["w.landing.title"] {
				t.Fatalf("landing title %q, want %q (%v)", h1, cat["w.landing.title"], err)
			}
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`a.button[href^="/form"]`)),
				chromedp.WaitVisible(chromedp.ID("f-account")),
			)
			if err != nil {
				t.Fatal(err)
			}
			if l := attr(t, ctx, "html", "lang"); l != lang {
				t.Fatalf("the form is in %q", l)
			}
			// The form down to its last folded section: the account first,
			// then what each optional section asks.
			last, err := chromedp.Run(ctx, chromedp.Dimensions(chromedp.CSS("details.section:last-of-type")))
			if err != nil {
				t.Fatal(err)
			}
			form := shot(t, ctx, "2-form-"+lang, last.Border[5]+16)
			openSections(t, ctx)
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`input[name="role"][value="self"]`)),
				chromedp.SendKeys(chromedp.ID("f-facility"), "Krome"),
				chromedp.SendKeys(chromedp.ID("f-detention_from"), "2025-03"),
				chromedp.Click(chromedp.CSS(`input[name="conditions"][value="overcrowding"]`)),
				chromedp.Click(chromedp.CSS(`input[name="conditions"][value="no_lawyer"]`)),
				chromedp.SendKeys(chromedp.ID("f-deport_date"), "2025-08"),
				chromedp.Click(chromedp.CSS(`input[name="arrival_questioned"][value="yes"]`)),
				chromedp.SendKeys(chromedp.ID("f-account"), accounts[lang]),
				chromedp.Click(chromedp.CSS(`input[name="consent_use"][value="quote_anonymised"]`)),
				chromedp.Click(chromedp.CSS(`form[action^="/submit"] button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.ID("codename")),
			)
			if err != nil {
				t.Fatal(err)
			}
			if l := attr(t, ctx, "html", "lang"); l != lang {
				t.Fatalf("the receipt is in %q", l)
			}
			h1, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
			note, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".codename-box .help")))
			if h1 != cat["w.receipt.title"] || note != cat["w.receipt.english"] {
				t.Errorf("receipt: %q / %q, want the %s texts", h1, note, lang)
			}
			words, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("codename")))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := crypto.CheckCodename(words); err != nil || len(strings.Fields(words)) != crypto.CodenameWords {
				t.Fatalf("the receipt shows %q, not a codename", words)
			}
			receipt := shot(t, ctx, "3-receipt-"+lang, 0)
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
			if strings.Contains(strings.ToLower(html), "<script") {
				t.Error("the receipt holds a script")
			}

			subs := e.items(crypto.KindSubmission)
			if len(subs) != 1 {
				t.Fatalf("%d submissions stored", len(subs))
			}
			m, _ := e.open(subs[0])
			if m.Lang != lang || m.Answers["account"].Text != accounts[lang] || m.Answers["role"].Text != "self" ||
				!slices.Equal(m.Answers["conditions"].List, []string{"overcrowding", "no_lawyer"}) || m.Answers["arrival_questioned"].Text != "yes" {
				t.Errorf("manifest: lang %q, answers %+v", m.Lang, m.Answers)
			}
			if lang == "ru" && *updateDocs {
				for name, b := range map[string][]byte{"form-ru.png": form, "receipt-ru.png": receipt} {
					if len(b) > 150<<10 {
						t.Errorf("%s is %d KB, more than 150", name, len(b)>>10)
					}
					if err := os.WriteFile(filepath.Join("..", "docs", name), b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// pseudoRTL makes a right-to-left test language, "ar", out of the English
// texts: an Arabic-script marker before each, so that the site has to
// handle it as any organisation's added Arabic would be handled (a
// catalog in DATA/locales, texts in DATA/questionnaire.json), with no code.
func pseudoRTL(t *testing.T, e *witEnv) {
	t.Helper()
	const mark = "عربي "
	en := witnessCatalog(t, web.DefaultLang)
	ar := map[string]string{}
	for k, v := range en {
		ar[k] = mark + v
	}
	ar["w.lang.name"] = "العربية"
	b, _ := json.Marshal(ar)
	if err := os.MkdirAll(filepath.Join(e.dir, localesDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, localesDir, "witness.ar.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	var q map[string]any
	if err := json.Unmarshal(form.DefaultJSON(), &q); err != nil {
		t.Fatal(err)
	}
	addLang(q, "ar", func(s string) string { return mark + s })
	b, _ = json.Marshal(q)
	if err := os.WriteFile(filepath.Join(e.dir, form.File), b, 0o600); err != nil {
		t.Fatal(err)
	}
	e.reload()
}

// box returns the left and right edges of the first element sel matches.
func box(t *testing.T, ctx context.Context, sel string) (float64, float64) {
	t.Helper()
	m, err := chromedp.Run(ctx, chromedp.Dimensions(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	q := m.Border // x1 y1 x2 y2 x3 y3 x4 y4, clockwise from the top left
	return min(q[0], q[6]), max(q[2], q[4])
}

// TestBrowserRightToLeft: a right-to-left language added by an
// organisation renders with dir="rtl", and the layout mirrors: what sits
// at the left edge in English sits at the right edge in it. Real Chromium,
// JavaScript off.
func TestBrowserRightToLeft(t *testing.T) {
	ctx := newBrowser(t)
	e := newWitEnv(t, Config{})
	pseudoRTL(t, e)
	_, page := e.get("/form?lang=ar")
	if lang, dir := pageLangDir(t, page); lang != "ar" || dir != "rtl" {
		t.Fatalf("the ar page is lang %q dir %q", lang, dir)
	}
	if !strings.Contains(page, `hreflang="en" lang="en" dir="ltr">English</a>`) || !strings.Contains(page, `lang="ar" dir="rtl" aria-current="true">العربية</span>`) {
		t.Fatal("the language menu does not offer ar beside English")
	}
	if _, en := e.get("/form?lang=en"); !strings.Contains(en, `hreflang="ar" lang="ar" dir="rtl">العربية</a>`) {
		t.Fatal("the English menu does not offer ar")
	}

	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 1000, Height: 900, DeviceScaleFactor: 1}); err != nil {
		t.Fatal(err)
	}
	type edges struct{ header, brand, radio, radioText [2]float64 }
	measure := func(lang string) edges {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.Navigate(e.ts.URL+"/form?lang="+lang),
			chromedp.WaitVisible(chromedp.CSS(`html[lang="`+lang+`"] #f-account`)),
		)
		if err != nil {
			t.Fatal(err)
		}
		openSections(t, ctx)
		shot(t, ctx, "form-"+lang, 900)
		var g edges
		g.header[0], g.header[1] = box(t, ctx, "header.site")
		g.brand[0], g.brand[1] = box(t, ctx, "header.site a.brand")
		g.radio[0], g.radio[1] = box(t, ctx, `input[name="role"][value="self"]`)
		g.radioText[0], g.radioText[1] = box(t, ctx, `input[name="role"][value="self"] + span`)
		return g
	}
	ltr, rtl := measure("en"), measure("ar")
	t.Logf("en: %+v\nar: %+v", ltr, rtl)
	near := func(a, b float64) bool { return a-b < 40 && b-a < 40 }
	// In English the brand starts at the header's left; in ar it ends at
	// its right.
	if !near(ltr.brand[0], ltr.header[0]+16) || ltr.brand[1] > (ltr.header[0]+ltr.header[1])/2 {
		t.Errorf("English: the brand %v is not at the left of the header %v", ltr.brand, ltr.header)
	}
	if !near(rtl.brand[1], rtl.header[1]-16) || rtl.brand[0] < (rtl.header[0]+rtl.header[1])/2 {
		t.Errorf("ar: the brand %v is not at the right of the header %v: the layout is not mirrored", rtl.brand, rtl.header)
	}
	// A choice's radio button comes before its text: left of it in
	// English, right of it in ar.
	if ltr.radio[1] > ltr.radioText[0] {
		t.Errorf("English: the radio button %v is not left of its text %v", ltr.radio, ltr.radioText)
	}
	if rtl.radio[0] < rtl.radioText[1] {
		t.Errorf("ar: the radio button %v is not right of its text %v", rtl.radio, rtl.radioText)
	}

	// The receipt of a submission in ar: the codename's English words stay
	// left to right, in order, inside the mirrored page.
	err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("f-account"), "x"),
		chromedp.Click(chromedp.CSS(`form[action^="/submit"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("codename")),
	)
	if err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, "receipt-ar", 0)
	if dir := attr(t, ctx, "html", "dir"); dir != "rtl" {
		t.Fatalf("the receipt is dir %q", dir)
	}
	if dir := attr(t, ctx, ".codename-words", "dir"); dir != "ltr" {
		t.Errorf("the codename's box is dir %q", dir)
	}
	style, err := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS("#codename span")))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range style {
		if p.Name == "direction" && p.Value != "ltr" {
			t.Errorf("the codename's words are laid out %s", p.Value)
		}
	}
	if d, _ := chromedp.Run(ctx, chromedp.ComputedStyle(chromedp.CSS("main h1"))); !slices.ContainsFunc(d, func(p *css.ComputedStyleProperty) bool { return p.Name == "direction" && p.Value == "rtl" }) {
		t.Error("the receipt's title is not laid out right to left")
	}
	if m, _ := e.open(e.items(crypto.KindSubmission)[0]); m.Lang != "ar" {
		t.Errorf("manifest lang %q", m.Lang)
	}
}

// openLanding opens the home page as a browser that asks for English (Tor
// Browser's default) and checks that it comes in English.
func openLanding(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("nav.langs")),
	)
	if err != nil {
		t.Fatal(err)
	}
	if l := attr(t, ctx, "html", "lang"); l != "en" {
		t.Fatalf("asked for English, the landing page is in %q", l)
	}
}
