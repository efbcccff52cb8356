package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"testimony/crypto"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts a headless Chromium with JavaScript disabled for the
// page, as Tor Browser's "Safest" mode has it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s is not installed (apt-get install chromium): the real-browser test cannot run", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disabling scripts: %v", err)
	}
	return ctx
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
func TestBrowserSubmitReplyFollowup(t *testing.T) {
	ctx := newBrowser(t)
	e := newWitEnv(t, Config{})
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
	if err != nil || len(strings.Fields(codename)) != 7 {
		t.Fatalf("the receipt shows %q, not a seven-word codename", text)
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
