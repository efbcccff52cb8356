package main

import (
	"crypto/ed25519"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/skip2/go-qrcode"
)

// inviteLangs are the languages invite must write, each as a page and a
// plain text.
var inviteLangs = []string{"ru", "uk", "en", "es"}

const testBridge = "obfs4 203.0.113.5:8443 0123456789ABCDEF0123456789ABCDEF01234567 cert=Zm9vYmFyYmF6cXV4c2VjcmV0Y2VydGlmaWNhdGVkYXRh iat-mode=0"

// newOnion returns a fresh, valid v3 onion address without ".onion".
func newOnion(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return onionAddressOf(pub)
}

// inviteConfig writes a configuration with the organisation's texts and,
// when bridge, a private bridge line.
func inviteConfig(t *testing.T, bridge bool) string {
	t.Helper()
	lines := "bridge_lines = []\n"
	if bridge {
		lines = "bridge_lines = [\"" + testBridge + "\"]\n"
	}
	cfg := "data_dir = \"" + t.TempDir() + "\"\n" + lines + `
[organisation]
name.en = "Example Rights Group"
name.ru = "Правозащитная группа «Пример»"
description.en = "We document what happens to people deported from the United States."
retention.en = "We keep testimonies for two years, then delete them."
contacts = [
  { kind = "signal", value = "example.01" },
  { kind = "email", value = "testimony@example.org" },
]
`
	p := filepath.Join(t.TempDir(), "testimonyd.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readInvite(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("invite wrote no %s: %v", name, err)
	}
	return string(b)
}

// attrRE finds every attribute that can make a browser load or leave for
// an address.
var attrRE = regexp.MustCompile(`(?i)\b(src|href|action|formaction|srcset|poster|data|xlink:href|background|cite|ping)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)

// TestInviteWritesEveryLanguage: one page and one plain text per language,
// each with the onion address in full, no script, no event handler, no
// style or link that loads anything, and links only to the Tor Project
// and to the onion itself; the organisation's texts are there.
func TestInviteWritesEveryLanguage(t *testing.T) {
	onion := newOnion(t)
	dir := filepath.Join(t.TempDir(), "out")
	mustRun(t, "invite", "-o", dir, "--config", inviteConfig(t, false), "--onion", onion+".onion")
	for _, l := range inviteLangs {
		page := readInvite(t, dir, "invite-"+l+".html")
		text := readInvite(t, dir, "invite-"+l+".txt")
		for name, s := range map[string]string{"html": page, "txt": text} {
			if !strings.Contains(s, onion+".onion") {
				t.Errorf("%s %s lacks the onion address in full", l, name)
			}
			if !strings.Contains(s, "Example Rights Group") && !strings.Contains(s, "«Пример»") {
				t.Errorf("%s %s does not say who runs the service", l, name)
			}
			if !strings.Contains(s, "@GetBridgesBot") || !strings.Contains(s, "gettor@torproject.org") {
				t.Errorf("%s %s lacks the ways to get Tor Browser and bridges", l, name)
			}
		}
		if !strings.Contains(page, `<html lang="`+l+`"`) {
			t.Errorf("%s page is not marked as %s", l, l)
		}
		low := strings.ToLower(page)
		for _, bad := range []string{"<script", "<iframe", "<object", "<embed", "<link", "@import", "url(", "<base", "<form", "<meta http-equiv=\"refresh\""} {
			if strings.Contains(low, bad) {
				t.Errorf("%s page holds %q", l, bad)
			}
		}
		if m := regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`).FindString(page); m != "" {
			t.Errorf("%s page has an event handler: %s", l, m)
		}
		if !strings.Contains(page, `http-equiv="Content-Security-Policy" content="default-src 'none';`) {
			t.Errorf("%s page has no CSP of its own", l)
		}
		// A javascript: address is caught here: only https on the Tor
		// Project's site and http on the onion pass.
		for _, m := range attrRE.FindAllStringSubmatch(page, -1) {
			v := strings.Trim(m[2], `"'`)
			if !allowedInviteLink(v, onion) {
				t.Errorf("%s page: %s=%q points elsewhere than the Tor Project or the onion", l, m[1], v)
			}
		}
		if !strings.Contains(page, "<svg") || !strings.Contains(page, `id="qr"`) {
			t.Errorf("%s page has no inline QR code", l)
		}
	}
}

// allowedInviteLink: https on torproject.org, or the onion itself.
func allowedInviteLink(v, onion string) bool {
	u, err := url.Parse(v)
	if err != nil {
		return false
	}
	switch {
	case u.Scheme == "https" && (u.Host == "torproject.org" || strings.HasSuffix(u.Host, ".torproject.org")):
		return true
	case u.Scheme == "http" && u.Host == onion+".onion":
		return true
	}
	return false
}

// TestInviteBridgeLineOnlyWhenConfigured: the group's private bridge line
// is in every file when bridge_lines holds it, in none without it, and in
// none with --without-bridges (the invitation to publish).
func TestInviteBridgeLineOnlyWhenConfigured(t *testing.T) {
	onion := newOnion(t)
	for _, c := range []struct {
		name   string
		bridge bool
		extra  []string
		want   bool
	}{
		{"configured", true, nil, true},
		{"not configured", false, nil, false},
		{"--without-bridges", true, []string{"--without-bridges"}, false},
	} {
		dir := filepath.Join(t.TempDir(), "out")
		args := append([]string{"invite", "-o", dir, "--config", inviteConfig(t, c.bridge), "--onion", onion}, c.extra...)
		mustRun(t, args...)
		for _, l := range inviteLangs {
			for _, f := range []string{"invite-" + l + ".html", "invite-" + l + ".txt"} {
				s := readInvite(t, dir, f)
				if got := strings.Contains(s, "0123456789ABCDEF0123456789ABCDEF01234567"); got != c.want {
					t.Errorf("%s: %s holds the bridge line: %v, want %v", c.name, f, got, c.want)
				}
				if got := strings.Contains(s, `id="bridge"`) || strings.Contains(s, "iat-mode=0"); got != c.want && strings.HasSuffix(f, ".html") {
					t.Errorf("%s: %s has the bridge section: %v, want %v", c.name, f, got, c.want)
				}
			}
		}
	}
}

// TestInviteRefusesBadOnion: a malformed address (wrong length, bad
// checksum, a v2 address, no address at all) is refused and nothing is
// written.
func TestInviteRefusesBadOnion(t *testing.T) {
	good := newOnion(t)
	flipped := []byte(good)
	if flipped[10] == 'a' {
		flipped[10] = 'b'
	} else {
		flipped[10] = 'a'
	}
	for _, bad := range [][]string{
		{"--onion", good[:55] + ".onion"},
		{"--onion", string(flipped) + ".onion"},
		{"--onion", "expyuzz4wqqyqhjn.onion"},
		{"--onion", good + ".example.org"},
		{},
	} {
		dir := filepath.Join(t.TempDir(), "out")
		r := runBin(t, append([]string{"invite", "-o", dir, "--config", inviteConfig(t, false)}, bad...)...)
		if r.code == 0 {
			t.Errorf("invite %v: accepted", bad)
		}
		if !strings.Contains(r.stderr, "onion") {
			t.Errorf("invite %v: the error does not name the onion address: %s", bad, r.stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "invite-en.html")); err == nil {
			t.Errorf("invite %v: wrote files", bad)
		}
	}
}

// TestInviteTextsFromFactsFile: the texts and values come from the facts
// file: an edited copy passed with --facts changes the invitation, and a
// copy that lacks a translation or a source, or cites a source other than
// the Tor Project's own pages, is refused, naming it.
func TestInviteTextsFromFactsFile(t *testing.T) {
	orig, err := os.ReadFile("invite_facts.toml")
	if err != nil {
		t.Fatal(err)
	}
	onion := newOnion(t)
	cfg := inviteConfig(t, false)
	write := func(s string) string {
		p := filepath.Join(t.TempDir(), "facts.toml")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}

	edited := strings.Replace(string(orig), `gettor_bot = "@gettor_bot"`, `gettor_bot = "@marker_test_bot"`, 1)
	edited = strings.Replace(edited, `checked = "2026-12-07"`, `checked = "2031-01-02"`, 1)
	dir := filepath.Join(t.TempDir(), "out")
	mustRun(t, "invite", "-o", dir, "--config", cfg, "--onion", onion, "--facts", write(edited))
	for _, l := range inviteLangs {
		s := readInvite(t, dir, "invite-"+l+".html")
		if !strings.Contains(s, "@marker_test_bot") || strings.Contains(s, "@gettor_bot") {
			t.Errorf("%s: the bot's name does not come from the facts file", l)
		}
		if !strings.Contains(s, "2031-01-02") {
			t.Errorf("%s: the day of the check does not come from the facts file", l)
		}
	}

	for _, c := range []struct{ name, facts, want string }{
		{"missing translation", regexp.MustCompile(`(?m)^get_email = .*\n`).ReplaceAllStringFunc(string(orig), nth(2)), "get_email"},
		{"text without a source", strings.Replace(string(orig), `get_mirror = ["https://github.com/torproject/tor4zh"]`+"\n", "", 1), "get_mirror"},
		{"unknown placeholder", strings.Replace(string(orig), "{bridges_url}", "{bridges_urk}", 1), "bridges_urk"},
		{"source not the Tor Project's", strings.Replace(string(orig), `get_mirror = ["https://github.com/torproject/tor4zh"]`, `get_mirror = ["https://example.org/tor-mirrors"]`, 1), "example.org"},
	} {
		r := runBin(t, "invite", "-o", filepath.Join(t.TempDir(), "out"), "--config", cfg, "--onion", onion, "--facts", write(c.facts))
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want a refusal naming %s", c.name, r.code, r.stderr, c.want)
		}
	}
}

// nth returns a ReplaceAllStringFunc callback that deletes its n-th match
// only (the second is the Russian text's line), keeping the others.
func nth(n int) func(string) string {
	seen := 0
	return func(s string) string {
		if seen++; seen == n {
			return ""
		}
		return s
	}
}

var qrRunRE = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

// TestInviteQRCodeMatrix: the inline QR code is exactly the matrix of the
// onion's URL, re-encoded here with the same library (no pure-Go decoder
// is available to this module; the browser test decodes the picture with
// zbarimg where it is installed).
func TestInviteQRCodeMatrix(t *testing.T) {
	onion := newOnion(t)
	dir := filepath.Join(t.TempDir(), "out")
	mustRun(t, "invite", "-o", dir, "--config", inviteConfig(t, false), "--onion", onion)
	page := readInvite(t, dir, "invite-ru.html")
	q, err := qrcode.New("http://"+onion+".onion/", qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	want := q.Bitmap()
	got := make([][]bool, len(want))
	for i := range got {
		got[i] = make([]bool, len(want))
	}
	runs := qrRunRE.FindAllStringSubmatch(page, -1)
	if len(runs) == 0 {
		t.Fatal("no QR modules in the page")
	}
	for _, m := range runs {
		x, _ := strconv.Atoi(m[1])
		y, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		if m[3] != m[4] || y >= len(got) || x+n > len(got) {
			t.Fatalf("malformed run %q", m[0])
		}
		for i := range n {
			got[y][x+i] = true
		}
	}
	for y := range want {
		for x := range want[y] {
			if got[y][x] != want[y][x] {
				t.Fatalf("module (%d,%d) is %v, want %v", x, y, got[y][x], want[y][x])
			}
		}
	}
	if !strings.Contains(page, `viewBox="0 0 `+strconv.Itoa(len(want))+" "+strconv.Itoa(len(want))+`"`) {
		t.Error("the QR code's view box does not match its matrix")
	}
}
