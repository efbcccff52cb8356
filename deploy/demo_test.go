package deploy_test

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"testimony/internal/testutil"
)

// startDemo runs scripts/demo.sh with the binaries of bin in its own
// process group: whatever happens, nothing of the demo outlives the test.
func startDemo(t *testing.T, bin, demo string, env ...string) *testutil.Proc {
	t.Helper()
	cmd := exec.Command("../scripts/demo.sh")
	cmd.Env = append(os.Environ(), append([]string{"BIN=" + bin, "DEMO=" + demo}, env...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return testutil.Start(t, cmd)
}

// demoWaitFor waits for the demo to print s; it returns the output.
func demoWaitFor(t *testing.T, d *testutil.Proc, s string) string {
	t.Helper()
	return d.Await(t, fmt.Sprintf("print %q", s), 90*time.Second, func(out string) bool { return strings.Contains(out, s) })
}

// demoBinaries builds testimonyd and testimony once, side by side in the
// directory it returns.
func demoBinaries(t *testing.T) string {
	t.Helper()
	bin := filepath.Dir(testutil.Testimonyd(t))
	if filepath.Dir(testutil.Testimony(t)) != bin {
		t.Fatal("testutil built testimonyd and testimony in two directories")
	}
	return bin
}

// TestDemo walks the newcomer's path through what make demo prints: both
// sites answer at the printed addresses; the printed passphrase and a
// code from Debian's oathtool log in, and the first login asks for a new
// passphrase, as printed; a witness's testimony comes back in a bundle
// whose file name is the printed one; the printed "testimony open" and
// "testimony report" lines write index.html, testimonies.csv and
// report.html where the printout says. A second run makes a new data
// directory and keeps the key and the opened cases.
func TestDemo(t *testing.T) {
	oathtool := need(t, "oathtool", "oathtool")
	tmp := t.TempDir()
	bin := demoBinaries(t)
	demo := filepath.Join(tmp, "demo")
	ports := []string{"WITNESS_ADDR=127.0.0.1:0", "INVESTIGATOR_ADDR=127.0.0.1:0"}
	d := startDemo(t, bin, demo, ports...)
	text := demoWaitFor(t, d, "The server's log:")

	for _, want := range []string{"user        demo", "oathtool --totp -b ",
		"The first login asks you to choose a new passphrase", "testimony-YYYY-MM-DD.tar",
		bin + "/testimony report " + demo + "/cases\n",
		"file://" + demo + "/cases/index.html", "file://" + demo + "/cases/report.html",
		demo + "/cases/testimonies.csv",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo's printout lacks %q:\n%s", want, text)
		}
	}
	find := func(re string) string {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %s in the demo's printout:\n%s", re, text)
		}
		return m[1]
	}
	witness := find(`witness site +(http://127\.0\.0\.1:[1-9][0-9]*/)\n`)
	inv := find(`investigator site +(http://127\.0\.0\.1:[1-9][0-9]*/)\n`)
	pass := find(`passphrase  (.+)\n`)
	secret := find(`oathtool --totp -b ([A-Z2-7]+)\n`)
	printedName := find(`\(today: (testimony-\d{4}-\d\d-\d\d\.tar)\)`)
	openLine := find(`\n +(\S+/testimony open .*)\n`)

	// A witness sends a testimony.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range [][2]string{{"lang", "en"}, {"role", "relative"}, {"consent_proxy", "yes"},
		{"facility", "A county detention centre"}, {"account", "My brother was held for months."},
		{"consent_use", "statistics_only"}, {"contact", "codename_only"}} {
		mw.WriteField(kv[0], kv[1])
	}
	mw.Close()
	res, err := http.Post(witness+"submit", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("witness submission: %d\n%.1000s", res.StatusCode, page)
	}

	// The investigator logs in with what was printed.
	var cookies []*http.Cookie
	client := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, v url.Values) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", inv+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if c := res.Cookies(); len(c) > 0 {
			cookies = c
		}
		return res, b
	}
	code, err := exec.Command(oathtool, "--totp", "-b", secret).Output()
	if err != nil {
		t.Fatal(err)
	}
	res, page = post("login", url.Values{"account": {"demo"}, "passphrase": {pass}, "code": {strings.TrimSpace(string(code))}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/passphrase" {
		t.Fatalf("first login with the printed credentials: %d to %q, want 303 to /passphrase (the printout says it asks for a new one)\n%.1000s",
			res.StatusCode, res.Header.Get("Location"), page)
	}
	np := "harbour lantern meadow quartz"
	if res, page = post("passphrase", url.Values{"current": {pass}, "new": {np}, "confirm": {np}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("choosing the new passphrase: %d\n%.1000s", res.StatusCode, page)
	}
	res, bundle := post("bundle", url.Values{"scope": {"all"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("bundle download: %d\n%.1000s", res.StatusCode, bundle)
	}
	_, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition"))
	if err != nil {
		t.Fatal(err)
	}
	served := params["filename"]
	if !regexp.MustCompile(`^testimony-\d{4}-\d\d-\d\d\.tar$`).MatchString(served) {
		t.Errorf("the site names the bundle %q, not testimony-YYYY-MM-DD.tar as the demo says", served)
	}
	if served != printedName && printedName[10:20] == time.Now().UTC().Format(time.DateOnly) {
		t.Errorf("the site names today's bundle %q, the demo says %q", served, printedName)
	}

	// The printed lines, as typed, with the browser's download folder.
	downloads := filepath.Join(tmp, "Downloads")
	os.Mkdir(downloads, 0o700)
	if err := os.WriteFile(filepath.Join(downloads, printedName), bundle, 0o600); err != nil {
		t.Fatal(err)
	}
	openArgs := strings.Fields(strings.Replace(openLine, "~/Downloads", downloads, 1))
	if out, err := exec.Command(openArgs[0], openArgs[1:]...).CombinedOutput(); err != nil || !strings.Contains(string(out), "1 opened") {
		t.Fatalf("%s: %v\n%s", openLine, err, out)
	}
	if out, err := exec.Command(bin+"/testimony", "report", demo+"/cases").CombinedOutput(); err != nil {
		t.Fatalf("testimony report: %v\n%s", err, out)
	}
	for _, f := range []string{"index.html", "report.html", "testimonies.csv"} {
		if _, err := os.Stat(filepath.Join(demo, "cases", f)); err != nil {
			t.Errorf("after the printed open and report lines: %v", err)
		}
	}
	d.Stop(t, os.Interrupt) // Ctrl-C: the script stops the server and exits

	// A second run: a new data directory, the same key, the cases kept.
	key, _ := os.ReadFile(filepath.Join(demo, "investigator-key.txt"))
	marker := filepath.Join(demo, "data", "marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDemo(t, bin, demo, ports...)
	demoWaitFor(t, d, "The server's log:")
	d.Stop(t, os.Interrupt) // Ctrl-C: the script stops the server and exits
	if _, err := os.Stat(marker); err == nil {
		t.Error("the second run kept the old data directory")
	}
	if key2, _ := os.ReadFile(filepath.Join(demo, "investigator-key.txt")); len(key) == 0 || !bytes.Equal(key, key2) {
		t.Error("the second run changed the investigator's key")
	}
	if _, err := os.Stat(filepath.Join(demo, "cases", "index.html")); err != nil {
		t.Errorf("the second run lost the opened cases: %v", err)
	}
}

// TestDemoPortTaken: a port already in use (a demo still running, say)
// stops the demo at once with a message that names the port and how to
// choose others, before it prints any instructions or touches the data
// directory, which may be the running demo's.
func TestDemoPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	demo := t.TempDir()
	marker := filepath.Join(demo, "data", "marker")
	os.Mkdir(filepath.Dir(marker), 0o700)
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, env := range [][]string{
		{"WITNESS_ADDR=" + l.Addr().String(), "INVESTIGATOR_ADDR=127.0.0.1:0"},
		{"WITNESS_ADDR=127.0.0.1:0", "INVESTIGATOR_ADDR=" + l.Addr().String()},
	} {
		// No binaries at all: nothing may run before the check.
		d := startDemo(t, filepath.Join(demo, "no-bin"), demo, env...)
		err := d.Wait(t, 60*time.Second)
		out := d.Out.String()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%v: exit %v, want status 1", env, err)
		}
		if !strings.Contains(out, l.Addr().String()+" (the ") || !strings.Contains(out, "already in use") ||
			!strings.Contains(out, "make demo WITNESS_ADDR=") {
			t.Errorf("%v: the message does not name the port and how to choose others:\n%s", env, out)
		}
		if strings.Contains(out, "investigator login") {
			t.Errorf("%v: instructions printed although a port is taken:\n%s", env, out)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Fatalf("%v: the demo touched the data directory although a port is taken: %v", env, err)
		}
	}
}
