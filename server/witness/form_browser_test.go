package witness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"

	"testimony/server/web"
)

// torBrowserUA is what Tor Browser (desktop, ESR 128) sends; it asks for
// English whatever the witness's own language when they accept its
// "request English pages for privacy".
const (
	torBrowserUA     = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0"
	torBrowserAccept = "en-US,en;q=0.5"
)

// liveDOM is the page as the browser holds it now (a <details> a click
// opened has its open attribute), parsed.
func liveDOM(t *testing.T, ctx context.Context) *html.Node {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	return parsePage(t, s)
}

// openSections opens every folded section of the form page, as a witness
// taps each summary, so that a test can fill in any field.
func openSections(t *testing.T, ctx context.Context) {
	t.Helper()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("details.section > summary")))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.NodeIDs{n.NodeID})); err != nil {
			t.Fatal(err)
		}
	}
}

// openSection opens the folded section that holds the field of id.
func openSection(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(`details.section:has(#` + id + `) > summary`))
}

// checkLangMenu: the page's first element is the language menu, at the
// very top, each of the four languages named in its own script, each
// entry at least 44 px tall and wide.
func checkLangMenu(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	doc := liveDOM(t, ctx)
	body := find(doc, func(n *html.Node) bool { return n.Data == "body" })
	first := body.FirstChild
	for first != nil && first.Type != html.ElementNode {
		first = first.NextSibling
	}
	if first == nil || first.Data != "nav" || !hasClass(first, "langs") {
		what := "nothing"
		if first != nil {
			what = "<" + first.Data + " class=\"" + attrOf(first, "class") + "\">"
		}
		t.Errorf("%s: the first thing in the body is %s, not the language menu", page, what)
	}
	for _, l := range web.WitnessLangs() {
		name := witnessCatalog(t, l)["w.lang.name"]
		if find(first, func(n *html.Node) bool { return attrOf(n, "lang") == l && textOf(n) == name }) == nil {
			t.Errorf("%s: the language menu does not offer %s as %q", page, l, name)
		}
	}
	m, err := chromedp.Run(ctx, chromedp.Dimensions(chromedp.CSS("nav.langs")))
	if err != nil {
		t.Fatal(err)
	}
	if top := m.Border[1]; top > 1 {
		t.Errorf("%s: the language menu starts %v px down the page, not at the top", page, top)
	}
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("nav.langs li > a, nav.langs li > span, nav.langs li button")))
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != len(web.WitnessLangs()) {
		t.Fatalf("%s: %d entries in the language menu", page, len(nodes))
	}
	for _, n := range nodes {
		b, err := chromedp.Call(ctx, dom.GetBoxModel, dom.GetBoxModelParams{NodeID: n.NodeID})
		if err != nil {
			t.Fatal(err)
		}
		if b.Model.Height < 44 || b.Model.Width < 44 {
			t.Errorf("%s: the menu entry %s is %d×%d px, smaller than a 44 px target", page, n.AttributeValue("lang"), b.Model.Width, b.Model.Height)
		}
	}
}

// TestBrowserFormOnArrival is a witness's first visit in each language on
// a 390 px phone, in a real Chromium with JavaScript off, whose browser
// asks for English as Tor Browser does: the language menu is the first
// thing on the page, big enough to tap; the form puts the account first
// and folds the optional sections; a form sent with mistakes comes back
// with a summary whose links lead to each field, the field's own message,
// the sections in question open and every answer kept; "choose your
// files again" only when files were chosen; the limit in the language's
// units.
func TestBrowserFormOnArrival(t *testing.T) {
	ctx := newBrowser(t)
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, phone); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: torBrowserUA, AcceptLanguage: torBrowserAccept}); err != nil {
		t.Fatal(err)
	}
	e := newWitEnv(t, Config{})
	file := filepath.Join(t.TempDir(), "order.pdf")
	if err := os.WriteFile(file, []byte("%PDF-1.4 an order"), 0o600); err != nil {
		t.Fatal(err)
	}
	limits := map[string]string{"en": "500\u00a0MB", "ru": "500\u00a0МБ", "uk": "500\u00a0МБ", "es": "500\u00a0MB"}
	for _, lang := range web.WitnessLangs() {
		t.Run(lang, func(t *testing.T) {
			cat := witnessCatalog(t, lang)
			openLanding(t, ctx, e.ts.URL)
			var err error
			checkLangMenu(t, ctx, "landing")
			if lang != "en" {
				err = chromedp.Do(ctx,
					chromedp.Click(chromedp.CSS(`nav.langs a[hreflang="`+lang+`"]`)),
					chromedp.WaitVisible(chromedp.CSS(`html[lang="`+lang+`"] nav.langs`)),
				)
				if err != nil {
					t.Fatal(err)
				}
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
			checkLangMenu(t, ctx, "form")
			shot(t, ctx, "form-"+lang, 0)

			// A fresh form: the account first, then the folded sections, all
			// closed.
			doc := liveDOM(t, ctx)
			account := byID(doc, "f-account")
			var details []*html.Node
			walk(doc, func(n *html.Node) {
				if n.Type == html.ElementNode && n.Data == "details" {
					details = append(details, n)
				}
			})
			if len(details) < 5 {
				t.Fatalf("%d folded sections", len(details))
			}
			if account == nil || !before(doc, account, details[0]) {
				t.Error("the account does not come before the first folded section")
			}
			for _, d := range details {
				if _, open := attrOK(d, "open"); open {
					t.Errorf("section %q is open on a fresh form", textOf(find(d, func(n *html.Node) bool { return n.Data == "summary" })))
				}
				if s := find(d, func(n *html.Node) bool { return hasClass(n, "asks") }); s == nil || textOf(s) == "" {
					t.Error("a folded section's summary does not say what it asks")
				}
			}
			if ay, dy := boxTop(t, ctx, "#f-account"), boxTop(t, ctx, "details.section"); ay >= dy {
				t.Errorf("the account is drawn at %v px, below the first folded section at %v", ay, dy)
			}
			if l := find(doc, func(n *html.Node) bool { return hasClass(n, "limit") }); l == nil || l.FirstChild == nil || l.FirstChild.Data != limits[lang] {
				t.Errorf("the upload limit is %q, want %q", textOf(l), limits[lang])
			}

			// Answers in folded sections, two mistakes: a date the site cannot
			// read, and an account of spaces (which the browser lets through
			// but the site refuses).
			err = chromedp.Do(ctx,
				openSection("f-role"),
				chromedp.Click(chromedp.CSS(`input[name="role"][value="relative"]`)),
				openSection("f-facility"),
				chromedp.SendKeys(chromedp.ID("f-facility"), "Krome "+lang),
				chromedp.Click(chromedp.CSS(`input[name="conditions"][value="no_lawyer"]`)),
				openSection("f-deport_date"),
				chromedp.SendKeys(chromedp.ID("f-deport_date"), "27.08"),
				chromedp.SendKeys(chromedp.ID("f-transit_country"), "Egypt "+lang),
				openSection("f-charges"),
				chromedp.SendKeys(chromedp.ID("f-charges"), "desertion\n"+lang),
				openSection("f-consent_use"),
				chromedp.Click(chromedp.CSS(`input[name="consent_use"][value="statistics_only"]`)),
				chromedp.SendKeys(chromedp.ID("f-account"), "   "),
			)
			if err != nil {
				t.Fatal(err)
			}
			sendAndCheck := func(withFile bool) {
				t.Helper()
				if withFile {
					if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("f-files"), []string{file})); err != nil {
						t.Fatal(err)
					}
				}
				err := chromedp.Do(ctx,
					chromedp.Click(chromedp.CSS(`form[action^="/submit"] button[type="submit"]`)),
					chromedp.WaitVisible(chromedp.CSS(".error-summary")),
				)
				if err != nil {
					t.Fatal(err)
				}
				shot(t, ctx, fmt.Sprintf("errors-%s-file-%v", lang, withFile), 0)
				if l := attr(t, ctx, "html", "lang"); l != lang {
					t.Fatalf("the form came back in %q", l)
				}
				doc := liveDOM(t, ctx)
				checkErrorSummary(t, doc, []string{"account", "deport_date"})
				if msg := textOf(byID(doc, "e-deport_date")); msg != cat["w.form.err.date"] {
					t.Errorf("the date's message is %q, want %q", msg, cat["w.form.err.date"])
				}
				for id, want := range map[string]string{"f-facility": "Krome " + lang, "f-deport_date": "27.08", "f-transit_country": "Egypt " + lang} {
					if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(id), chromedp.NodeReady)); err != nil || v != want {
						t.Errorf("%s: %q kept, want %q (%v)", id, v, want, err)
					}
				}
				if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("f-charges"), chromedp.NodeReady)); err != nil || v != "desertion\n"+lang {
					t.Errorf("the text area kept %q, %v", v, err)
				}
				for _, sel := range []string{`input[name="role"][value="relative"]`, `input[name="conditions"][value="no_lawyer"]`, `input[name="consent_use"][value="statistics_only"]`} {
					if n := find(doc, func(n *html.Node) bool {
						return n.Data == "input" && strings.Contains(sel, `"`+attrOf(n, "name")+`"`) && strings.Contains(sel, `"`+attrOf(n, "value")+`"`)
					}); n == nil {
						t.Fatalf("no %s", sel)
					} else if _, ok := attrOK(n, "checked"); !ok {
						t.Errorf("%s: the choice was not kept", sel)
					}
				}
				page := strings.Join(strings.Fields(textOf(doc)), " ")
				if got := strings.Contains(page, cat["w.form.refiles"]); got != withFile {
					t.Errorf("a file chosen %v, the page asks to choose files again %v", withFile, got)
				}
				if l := find(doc, func(n *html.Node) bool { return hasClass(n, "limit") }); l == nil || l.FirstChild == nil || l.FirstChild.Data != limits[lang] {
					t.Errorf("after the errors the upload limit is %q, want %q", textOf(l), limits[lang])
				}
			}
			sendAndCheck(false)
			// The summary's link leads to the field, which the open section
			// shows.
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`.error-summary a[href="#f-deport_date"]`)),
				chromedp.WaitVisible(chromedp.ID("f-deport_date")),
			)
			if err != nil {
				t.Fatal(err)
			}
			if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "#f-deport_date") {
				t.Errorf("the summary's link led to %s", loc)
			}
			sendAndCheck(true)
			if n := len(e.items("")); n != 0 {
				t.Fatalf("%d items stored from forms with errors", n)
			}
		})
	}
}

// boxTop is the top edge of the first element sel matches.
func boxTop(t *testing.T, ctx context.Context, sel string) float64 {
	t.Helper()
	m, err := chromedp.Run(ctx, chromedp.Dimensions(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return m.Border[1]
}
