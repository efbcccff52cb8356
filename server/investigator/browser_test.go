package investigator

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"testimony/bundle"
	"testimony/internal/testutil"
	"testimony/records"
)

// TestInvestigatorInChromium drives a real headless Chromium, scripts off,
// through the investigator site: log in with a TOTP code from oathtool,
// choose the new passphrase the first login asks for, see the case list,
// open an item, mark it seen, reply to its source and download a bundle.
// Every form is posted by the browser from our own pages under
// Referrer-Policy: no-referrer, through the cross-origin protection, and
// must succeed. Screenshots are kept as test artifacts.
func TestInvestigatorInChromium(t *testing.T) {
	ctx := testutil.Chromium(t)
	e := newInvEnv(t, Config{})
	alice := e.addInvestigator("alice")
	e.plantSource(src1)
	first := e.plantItem(src1, "submission", "Нас везли в наручниках через Каир")
	e.plantItem(src2, "submission", "фильтрация в аэропорту")

	art := t.ArtifactDir()
	shot := func(name string) {
		t.Helper()
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(art, name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	location := func() string {
		t.Helper()
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(loc, e.ts.URL)
	}
	html := func() string {
		t.Helper()
		h, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	// Log in.
	code := oathtool(t, alice.TOTPSecret, e.clock.Now())
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.ts.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("account")),
		chromedp.SendKeys(chromedp.ID("account"), "alice"),
		chromedp.SendKeys(chromedp.ID("passphrase"), alice.pass),
		chromedp.SendKeys(chromedp.ID("code"), code),
	)
	if err != nil {
		t.Fatal(err)
	}
	shot("01-login")
	newPass := "shackles cairo flight autumn"
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("current"))); err != nil {
		t.Fatalf("login: %v\n%s", err, html())
	}
	if loc := location(); loc != "/passphrase" {
		t.Fatalf("after the first login the browser is at %q, want /passphrase", loc)
	}
	shot("02-first-passphrase")

	// The first login forces a new passphrase.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("current"), alice.pass),
		chromedp.SendKeys(chromedp.ID("new"), newPass),
		chromedp.SendKeys(chromedp.ID("confirm"), newPass),
		chromedp.Click(chromedp.ID("change")),
		chromedp.WaitVisible(chromedp.CSS("table.cases")),
	)
	if err != nil {
		t.Fatalf("passphrase change: %v\n%s", err, html())
	}
	page := html()
	for _, want := range []string{first.ID, src1, src2, "new for you: 2"} {
		if !strings.Contains(page, want) {
			t.Fatalf("case list lacks %q", want)
		}
	}
	shot("03-case-list")

	// Open the first item and mark it seen.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/items/`+first.ID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("download")),
	)
	if err != nil {
		t.Fatal(err)
	}
	shot("04-item")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("seen")), chromedp.WaitVisible(chromedp.CSS("p.flash"))); err != nil {
		t.Fatalf("mark seen: %v\n%s", err, html())
	}

	// Reply to the source.
	reply := "Thank you for writing. Were you given your documents back in Cairo?"
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.ts.URL+"/sources/"+src1),
		chromedp.WaitVisible(chromedp.ID("message")),
		chromedp.SendKeys(chromedp.ID("message"), reply),
		chromedp.Click(chromedp.ID("reply")),
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	if err != nil {
		t.Fatalf("reply: %v\n%s", err, html())
	}
	if !strings.Contains(html(), "Your reply was encrypted") {
		t.Fatal("no confirmation of the reply")
	}
	shot("05-replied")

	// Download a bundle of everything.
	dir := t.TempDir()
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.ts.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("bundle")),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true)})
			return err
		}),
		chromedp.Click(chromedp.CSS(`input[name="scope"][value="all"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	shot("06-bundle-form")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("bundle"))); err != nil {
		t.Fatal(err)
	}
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("the bundle download was cancelled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			file = filepath.Join(dir, ev.GUID)
			break
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	br := bundle.NewReader(bytes.NewReader(b))
	n := 0
	for {
		_, r, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r)
		n++
	}
	if bad, err := br.Verify(); err != nil || len(bad) > 0 {
		t.Fatalf("downloaded bundle does not verify: %v %v", bad, err)
	}
	if n != 3 { // two testimonies and the reply
		t.Fatalf("bundle holds %d items, want 3", n)
	}

	// Each form went through: the audit log has every action, by alice.
	entries, err := records.ReadAudit(e.db, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, en := range slices.Backward(entries) {
		if en.Account == "alice" {
			events = append(events, en.Event)
		}
	}
	want := []string{"login", "passphrase_changed", "seen", "reply", "download_bundle"}
	if !slices.Equal(events, want) {
		t.Fatalf("audit of the browser session: %q, want %q", events, want)
	}
	if strings.Contains(page, "<script") {
		t.Fatal("an investigator page carries a script")
	}
}
