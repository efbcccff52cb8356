package deploy_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo: scripts/demo.sh (make demo) starts both sites on loopback and
// prints the URLs and credentials; the printed passphrase and a TOTP code
// computed by Debian's oathtool from the printed secret log in.
func TestDemo(t *testing.T) {
	oathtool := need(t, "oathtool", "oathtool")
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	if out, err := exec.Command("go", "build", "-o", bin+"/", "testimony/cmd/testimonyd", "testimony/cmd/testimony").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command("../scripts/demo.sh")
	cmd.Env = append(os.Environ(), "BIN="+bin, "DEMO="+filepath.Join(tmp, "demo"),
		"WITNESS_ADDR=127.0.0.1:0", "INVESTIGATOR_ADDR=127.0.0.1:0")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })

	var out strings.Builder
	addrs := map[string]string{}
	sc := bufio.NewScanner(pr)
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for len(addrs) < 2 && sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		var l struct{ Msg, Listener, Addr string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "serving" && l.Listener != "control" {
			addrs[l.Listener] = l.Addr
		}
	}
	go io.Copy(io.Discard, pr)
	text := out.String()
	if len(addrs) < 2 {
		t.Fatalf("demo did not start both sites:\n%s", text)
	}
	for _, want := range []string{"witness site", "investigator site", "user        demo", "oathtool --totp -b "} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	pass := regexp.MustCompile(`passphrase  (.+)`).FindStringSubmatch(text)
	secret := regexp.MustCompile(`oathtool --totp -b ([A-Z2-7]+)`).FindStringSubmatch(text)
	if pass == nil || secret == nil {
		t.Fatalf("no credentials in:\n%s", text)
	}
	if res, err := http.Get("http://" + addrs["witness"] + "/"); err != nil || res.StatusCode != 200 {
		t.Fatalf("witness site: %v %v", res, err)
	}
	code, err := exec.Command(oathtool, "--totp", "-b", secret[1]).Output()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm("http://"+addrs["investigator"]+"/login", url.Values{
		"account": {"demo"}, "passphrase": {pass[1]}, "code": {strings.TrimSpace(string(code))}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || len(res.Cookies()) == 0 {
		t.Errorf("login with the demo credentials: %d, cookies %v\n%.1000s", res.StatusCode, res.Cookies(), body)
	}
}
