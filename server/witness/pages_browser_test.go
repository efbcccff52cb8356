package witness

import (
	"html"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"testimony/server/web"
)

// TestBrowserEveryWitnessPage walks every page a witness can reach — the
// landing page, the form, the receipt, the codename page, a thread, its
// withdrawal notice, the "check the words" and "unknown words" pages, the
// thread of an old seven-word codename, the "not accepting yet" page — in
// each of the four languages, in a real Chromium with JavaScript off on a
// 390 px phone. Each page must be in its language, show its own heading
// from the catalog, fit the phone's width, and load nothing from another
// origin.
func TestBrowserEveryWitnessPage(t *testing.T) {
	ctx := newBrowser(t)
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, phone); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var requested []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	e := newWitEnv(t, Config{})
	closed := newWitEnv(t, Config{Escrow: []string{}})
	const legacy = "abacus ladder nimble quarry sandal tripod velvet"
	ct, body := multipartBody(t, part{name: "codename", body: legacy}, part{name: "message", body: "old"})
	if st, _ := e.post("/followup", ct, body); st != 200 {
		t.Fatalf("a follow-up under a seven-word codename: %d", st)
	}

	for _, lang := range web.WitnessLangs() {
		t.Run(lang, func(t *testing.T) {
			cat := witnessCatalog(t, lang)
			check := func(name, heading string, also ...string) {
				t.Helper()
				if l := attr(t, ctx, "html", "lang"); l != lang {
					t.Errorf("%s: the page is in %q", name, l)
				}
				h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
				if err != nil || strings.TrimSpace(h1) != heading {
					t.Errorf("%s: heading %q, want %q (%v)", name, h1, heading, err)
				}
				m, err := chromedp.Call(ctx, page.GetLayoutMetrics, struct{}{})
				if err != nil {
					t.Fatal(err)
				}
				if w := m.CSSContentSize.Width; w > float64(phone.Width)+0.5 {
					t.Errorf("%s: %v px wide on a %d px phone: the witness must scroll sideways", name, w, phone.Width)
					shot(t, ctx, lang+"-"+name+"-too-wide", 0)
				}
				doc, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
				if err != nil {
					t.Fatal(err)
				}
				for _, want := range also {
					if !strings.Contains(doc, html.EscapeString(want)) {
						t.Errorf("%s: the page lacks %q", name, want)
					}
				}
			}
			do := func(steps ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				if err := chromedp.Do(ctx, steps...); err != nil {
					t.Fatal(err)
				}
			}
			login := func(codename, wait string) {
				t.Helper()
				do(chromedp.Navigate(e.ts.URL+"/codename?lang="+lang),
					chromedp.WaitVisible(chromedp.ID("f-codename")),
					chromedp.SendKeys(chromedp.ID("f-codename"), codename),
					chromedp.Click(chromedp.CSS(`form[action^="/thread"] button[type="submit"]`)),
					chromedp.WaitVisible(chromedp.CSS(wait)))
			}

			do(chromedp.Navigate(e.ts.URL+"/?lang="+lang), chromedp.WaitVisible(chromedp.CSS("nav.langs")))
			check("landing", cat["w.landing.title"])
			do(chromedp.Click(chromedp.CSS(`a.button[href^="/form"]`)), chromedp.WaitVisible(chromedp.ID("f-account")))
			check("form", e.s.quest.Title.In(lang))
			do(chromedp.SendKeys(chromedp.ID("f-account"), "They shackled us on the flight. PAGE-WALK"),
				chromedp.Click(chromedp.CSS(`form[action^="/submit"] button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.ID("codename")))
			check("receipt", cat["w.receipt.title"])
			words, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("codename")))
			if err != nil {
				t.Fatal(err)
			}
			codename := strings.Join(strings.Fields(strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r == ' ' || r == '\n' {
					return r
				}
				return ' '
			}, words)), " ")
			if len(strings.Fields(codename)) != 8 {
				t.Fatalf("the receipt's codename reads %q", codename)
			}
			do(chromedp.Navigate(e.ts.URL+"/codename?lang="+lang), chromedp.WaitVisible(chromedp.ID("f-codename")))
			check("codename", cat["w.login.title"])
			login(codename, `form[action^="/withdraw"]`)
			check("thread", cat["w.thread.title"])
			do(chromedp.Click(chromedp.CSS(`input[name="request"][value="withdraw"]`)),
				chromedp.Click(chromedp.ID("withdraw-send")),
				chromedp.WaitVisible(chromedp.CSS(".notice.ok")))
			check("withdrawn", cat["w.thread.title"], cat["w.withdraw.sent.withdrawal"])
			login(mistype(t, codename, 3), ".notice.error")
			check("check the words", cat["w.login.title"], cat["w.login.checkwords"])
			w := strings.Fields(codename)
			w[2] = "zzyzxq"
			login(strings.Join(w, " "), ".unknown-words")
			check("unknown words", cat["w.login.title"], cat["w.login.unknownwords"])
			login(legacy, `form[action^="/followup"]`)
			check("old codename", cat["w.thread.title"], cat["w.thread.legacy"])
			do(chromedp.Navigate(closed.ts.URL+"/?lang="+lang), chromedp.WaitVisible(chromedp.CSS("h1")))
			check("landing, not accepting", cat["w.landing.title"], cat["w.closed.notyet"])
			do(chromedp.Navigate(closed.ts.URL+"/form?lang="+lang), chromedp.WaitVisible(chromedp.CSS("h1")))
			check("form, not accepting", cat["w.closed.title"], cat["w.closed.nothing"])
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requested) < 10*len(web.WitnessLangs()) {
		t.Fatalf("only %d requests seen: the listener is not working", len(requested))
	}
	for _, u := range requested {
		if !strings.HasPrefix(u, e.ts.URL+"/") && !strings.HasPrefix(u, closed.ts.URL+"/") {
			t.Errorf("a request to another origin: %s", u)
		}
	}
}
