package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ptClient is a browser-like client: cookies kept by hand (they may be
// Secure, which a cookie jar would not send over http), redirects not
// followed.
type ptClient struct {
	t       *testing.T
	base    string
	cookies map[string]*http.Cookie
	hc      *http.Client
}

func newPTClient(t *testing.T, base string) *ptClient {
	return &ptClient{t: t, base: base, cookies: map[string]*http.Cookie{},
		hc: &http.Client{Timeout: 2 * time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *ptClient) do(method, path, ct string, body io.Reader) (int, http.Header, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return res.StatusCode, res.Header, b
}

func (c *ptClient) form(path string, v url.Values) (int, http.Header, []byte) {
	c.t.Helper()
	return c.do("POST", path, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
}

// oathtoolNow is the current TOTP code of secret, from Debian's oathtool.
func oathtoolNow(t *testing.T, secret string) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v (apt-get install oathtool)", err)
	}
	return strings.TrimSpace(string(out))
}

// enrolment is what "testimonyd investigator add --json" prints.
type enrolment struct {
	Passphrase string `json:"passphrase"`
	TOTPSecret string `json:"totp_secret"`
}

func parseEnrolment(t *testing.T, stdout string) enrolment {
	t.Helper()
	var en enrolment
	if err := json.Unmarshal([]byte(stdout), &en); err != nil || en.Passphrase == "" || en.TOTPSecret == "" {
		t.Fatalf("investigator add --json printed %q (%v)", stdout, err)
	}
	return en
}
