package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"testimony/internal/testutil"
)

// updateDocs writes the README's screenshot of the invitation:
// go test -run TestInviteBrowser ./cmd/testimonyd/ -args -docs
var updateDocs = flag.Bool("docs", false, "write docs/invite-ru.png, the README's screenshot of the invitation")

// TestInviteBrowser opens the invitation in each language from file:// in
// a real headless Chromium with JavaScript off, on a phone-sized screen:
// the page is in its language and fits the screen's width, the onion
// address shows in full, the QR code is drawn at a size a camera can read,
// and the screenshot decodes (with zbarimg, where installed) to the
// onion's URL. Nothing on the page asks for JavaScript; the static checks
// of TestInviteWritesEveryLanguage prove it ships none.
func TestInviteBrowser(t *testing.T) {
	ctx := testutil.Chromium(t)
	onion := newOnion(t)
	dir := filepath.Join(t.TempDir(), "out")
	mustRun(t, "invite", "-o", dir, "--config", inviteConfig(t, true), "--onion", onion)

	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 360, Height: 780, DeviceScaleFactor: 2, Mobile: true}); err != nil {
		t.Fatal(err)
	}
	for _, lang := range inviteLangs {
		checkInvitePage(t, ctx, dir, lang, onion)
	}

	if *updateDocs {
		// The README's picture: the first phone screen of the same page
		// without the private bridge, as a group would publish it.
		pub := filepath.Join(t.TempDir(), "pub")
		mustRun(t, "invite", "-o", pub, "--config", inviteConfig(t, false), "--onion", onion)
		err := chromedp.Do(ctx,
			chromedp.Navigate("file://"+filepath.Join(pub, "invite-ru.html")),
			chromedp.WaitVisible(chromedp.ID("qr")),
		)
		if err != nil {
			t.Fatal(err)
		}
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "invite-ru.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkInvitePage opens invite-LANG.html of dir and checks it.
func checkInvitePage(t *testing.T, ctx context.Context, dir, lang, onion string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate("file://"+filepath.Join(dir, "invite-"+lang+".html")),
		chromedp.WaitVisible(chromedp.ID("onion")),
		chromedp.WaitVisible(chromedp.ID("qr")),
		chromedp.WaitVisible(chromedp.ID("bridge")),
	)
	if err != nil {
		t.Fatal(err)
	}
	l, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("html"), "lang"))
	if err != nil || l.Value != lang {
		t.Errorf("%s: the page says lang=%q (%v)", lang, l.Value, err)
	}
	m, err := chromedp.Call(ctx, page.GetLayoutMetrics, struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if w := m.CSSContentSize.Width; w > 360.5 {
		t.Errorf("%s: the page is %v px wide on a 360 px screen", lang, w)
	}
	addr, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("onion")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(addr) != onion+".onion" {
		t.Errorf(lang+": the page shows the address %q, want %q", addr, onion+".onion")
	}
	box, err := chromedp.Run(ctx, chromedp.Dimensions(chromedp.ID("qr")))
	if err != nil {
		t.Fatal(err)
	}
	if box.Width < 200 || box.Height < 200 || box.Width > 360 {
		t.Errorf(lang+": the QR code is %dx%d CSS pixels on a 360-pixel screen; want at least 200 and within the screen", box.Width, box.Height)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil {
		t.Fatal(err)
	}
	if lang == "ru" && !strings.Contains(heading, "свидетельство") {
		t.Errorf("the heading %q is not the Russian one", heading)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.ArtifactDir(), "invite-"+lang+"-360px.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}

	if zbar, err := exec.LookPath("zbarimg"); err != nil {
		t.Log("zbarimg is not installed (apt-get install zbar-tools): the QR code was checked by re-encoding only")
	} else {
		out, err := exec.Command(zbar, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", shot).Output()
		if err != nil {
			t.Fatalf(lang+": zbarimg found no QR code in the screenshot: %v", err)
		}
		if got := strings.TrimSpace(string(out)); got != "http://"+onion+".onion/" {
			t.Errorf(lang+": the QR code reads %q, want the onion's URL", got)
		}
	}
}
