package witness

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"testimony/crypto"
)

// TestBrowserWithdrawal: in a real Chromium with JavaScript off, in
// English and in Russian, a witness types their codename with a word
// mistyped and gets the "check the words" page, types it right, and from
// the thread page withdraws consent (en) or asks for deletion (ru): the
// request is stored as an item of its kind under their source.
func TestBrowserWithdrawal(t *testing.T) {
	for _, c := range []struct{ lang, request, kind, check, sent string }{
		{"en", "withdraw", crypto.KindWithdrawal, "These words do not make a codename", "you withdrew your consent"},
		{"ru", "erase", crypto.KindErasure, "Эти слова не складываются в кодовую фразу", "вы попросили удалить ваш рассказ"},
	} {
		t.Run(c.lang, func(t *testing.T) {
			ctx := newBrowser(t)
			if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, phone); err != nil {
				t.Fatal(err)
			}
			e := newWitEnv(t, Config{})
			_, page := e.submit(fullTestimony("x")...)
			codename := codenameOf(t, page)
			login := func(typed string, wait string) string {
				t.Helper()
				err := chromedp.Do(ctx,
					chromedp.Navigate(e.ts.URL+"/codename?lang="+c.lang),
					chromedp.WaitVisible(chromedp.ID("f-codename")),
					chromedp.SendKeys(chromedp.ID("f-codename"), typed),
					chromedp.Click(chromedp.CSS(`form[action^="/thread"] button[type="submit"]`)),
					chromedp.WaitVisible(chromedp.CSS(wait)),
				)
				if err != nil {
					t.Fatal(err)
				}
				html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
				if err != nil {
					t.Fatal(err)
				}
				return html
			}
			html := login(mistype(t, codename, 4), ".notice.error")
			if !strings.Contains(html, c.check) {
				t.Fatalf("a mistyped codename:\n%s", html)
			}
			shot(t, ctx, "1-check-"+c.lang, 0)
			html = login(codename, `form[action^="/withdraw"]`)
			shot(t, ctx, "2-thread-"+c.lang, 0)
			err := chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`input[name="request"][value="`+c.request+`"]`)),
				chromedp.SendKeys(chromedp.ID("f-withdraw-message"), "BROWSER-WITHDRAWAL"),
				chromedp.Click(chromedp.ID("withdraw-send")),
				chromedp.WaitVisible(chromedp.CSS(".notice.ok")),
			)
			if err != nil {
				t.Fatal(err)
			}
			shot(t, ctx, "3-withdrawn-"+c.lang, 0)
			done, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".notice.ok")))
			if err != nil || !strings.Contains(done, c.sent) {
				t.Fatalf("the notice: %q, %v", done, err)
			}
			after, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{html, after} {
				if strings.Contains(h, "<script") || strings.Contains(h, "javascript:") || strings.Contains(h, " onclick=") {
					t.Fatal("the page holds script")
				}
			}
			items := e.items(c.kind)
			if len(items) != 1 || items[0].Source != crypto.Pseudonym(e.s.key, codename) {
				t.Fatalf("%s items: %+v", c.kind, items)
			}
			if m, _ := e.open(items[0]); m.Answers["message"].Text != "BROWSER-WITHDRAWAL" || m.Lang != c.lang || m.Answers["request"].Text != c.request {
				t.Fatalf("manifest %+v", m)
			}
		})
	}
}
