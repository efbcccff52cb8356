package main

import (
	"bytes"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"

	"testimony/server/web"
)

const inviteUsage = `Usage: testimonyd invite -o DIR (--onion ADDRESS | --hostname-file FILE)
                        [--config FILE] [--facts FILE] [--without-bridges]

Writes the invitation a group publishes where witnesses can find it (its
clearnet site, a Telegram channel, a printed sheet): for each language of
the witness site, DIR/invite-LANG.html, one self-contained page (no script,
nothing loaded from anywhere, the onion address as text and as a QR code
drawn here), and DIR/invite-LANG.txt, the same as plain text for
messengers. They say how to get Tor Browser when its website is blocked and
check it is the real one, how to connect where Tor is blocked, how to check
the onion address, who runs the service ([organisation] in the
configuration) and, when bridge_lines is set, the group's own bridge.

The onion address is the witness onion's, from --onion or from tor's
hostname file (--hostname-file /var/lib/tor/testimony-witness/hostname).
What the pages say about Tor comes from a facts file built into the binary
(cmd/testimonyd/invite_facts.toml in the source), with the day it was
checked and the Tor Project's pages each fact rests on; --facts FILE uses
an edited copy instead.

An invitation that holds a private bridge line must be handed out
privately: --without-bridges writes the one to publish.`

// inviteFactsTOML is the built-in facts file.
//
//go:embed invite_facts.toml
var inviteFactsTOML []byte

// inviteKeys are the texts the invitation shows, in the order it shows
// them; the facts file gives each in every language.
var inviteKeys = []string{
	"title", "lead", "about_tor", "ui_note",
	"onion_h", "onion_intro", "qr_alt", "qr_note", "onion_check", "onion_bookmark", "onion_safest",
	"get_h", "get_intro", "get_telegram", "get_email", "get_mirror", "get_android", "get_iphone",
	"verify_h", "verify_text", "verify_good", "verify_android",
	"connect_h", "connect_assist", "connect_builtin",
	"ask_h", "ask_telegram", "ask_email", "ask_browser", "ask_web", "ask_add",
	"private_h", "private_text", "private_keep",
	"who_h", "contact_h",
	"contact_signal", "contact_email", "contact_website", "contact_telegram", "contact_phone", "contact_post",
	"sources_h", "sources_text",
}

// inviteFacts is the facts file: see invite_facts.toml for what each part
// means.
type inviteFacts struct {
	Checked   string                       `toml:"checked"`
	OwnAdvice []string                     `toml:"own_advice"`
	Values    map[string]string            `toml:"values"`
	Sources   map[string][]string          `toml:"sources"`
	Text      map[string]map[string]string `toml:"text"`
}

var placeholderRE = regexp.MustCompile(`\{([a-z0-9_]+)\}`)

// parseInviteFacts reads a facts file and checks it is whole: every text
// in every language of langs, every text about Tor with a source, every
// placeholder with a value. It names each problem.
func parseInviteFacts(b []byte, langs []string) (*inviteFacts, error) {
	var f inviteFacts
	md, err := toml.Decode(string(b), &f)
	if err != nil {
		return nil, fmt.Errorf("facts file: %v", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("facts file: "+format, args...)) }
	for _, k := range md.Undecoded() {
		bad("unknown entry %s", k)
	}
	if _, err := time.Parse(time.DateOnly, f.Checked); err != nil {
		bad("checked = %q is not the day the facts were checked (YYYY-MM-DD)", f.Checked)
	}
	for name, v := range f.Values {
		if strings.TrimSpace(v) == "" || strings.ContainsFunc(v, unicode.IsControl) {
			bad("values.%s is empty or holds a control character", name)
		}
	}
	for key, urls := range f.Sources {
		if !slices.Contains(inviteKeys, key) {
			bad("sources.%s: no such text", key)
		}
		for _, u := range urls {
			if !isTorProjectSource(u) {
				bad("sources.%s: %q is not one of the Tor Project's own pages (https on torproject.org, or its repositories under github.com/torproject/)", key, u)
			}
		}
	}
	for _, key := range inviteKeys {
		own, sourced := slices.Contains(f.OwnAdvice, key), len(f.Sources[key]) > 0
		switch {
		case own && sourced:
			bad("%s is both the group's own advice and sourced: say which", key)
		case !own && !sourced:
			bad("%s has no source: name the Tor Project's pages it rests on under [sources], or list it in own_advice", key)
		}
	}
	for _, key := range f.OwnAdvice {
		if !slices.Contains(inviteKeys, key) {
			bad("own_advice: %s: no such text", key)
		}
	}
	for _, lang := range langs {
		texts, ok := f.Text[lang]
		if !ok {
			bad("no [text.%s]: the invitation is written in %s", lang, strings.Join(langs, ", "))
			continue
		}
		for _, key := range inviteKeys {
			s, ok := texts[key]
			if !ok || strings.TrimSpace(s) == "" {
				bad("text.%s.%s is missing", lang, key)
				continue
			}
			if strings.ContainsFunc(s, unicode.IsControl) {
				bad("text.%s.%s holds a control character", lang, key)
			}
			for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
				if _, ok := f.Values[m[1]]; !ok && m[1] != "checked" {
					bad("text.%s.%s names {%s}, which is not in [values]", lang, key, m[1])
				}
			}
		}
		for key := range texts {
			if !slices.Contains(inviteKeys, key) {
				bad("text.%s.%s: no such text", lang, key)
			}
		}
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &f, nil
}

// isTorProjectSource reports whether u is one of the Tor Project's own
// pages: the facts must come from there, not from someone's retelling.
func isTorProjectSource(u string) bool {
	if isTorProjectURL(u) {
		return true
	}
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "https" && p.Host == "github.com" && strings.HasPrefix(p.Path, "/torproject/")
}

// sources are the distinct pages the invitation's texts rest on, in the
// order the texts come.
func (f *inviteFacts) sources() []string {
	var out []string
	for _, key := range inviteKeys {
		for _, u := range f.Sources[key] {
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}

func runInvite(args []string) error {
	fl := flag.NewFlagSet("invite", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, inviteUsage); fl.PrintDefaults() }
	sf := addSettingFlags(fl)
	out := fl.String("o", "", "write the invitation's files into this directory (made if missing)")
	onion := fl.String("onion", "", "the witness onion address (with or without .onion)")
	hostFile := fl.String("hostname-file", "", "read the onion address from this file (tor's HiddenServiceDir/hostname)")
	factsFile := fl.String("facts", "", "use this facts file instead of the built-in one")
	noBridges := fl.Bool("without-bridges", false, "leave bridge_lines out: the invitation to publish")
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("invite: unexpected argument %q", fl.Arg(0))
	}
	if *out == "" {
		fmt.Fprintln(os.Stderr, inviteUsage)
		return errors.New("invite: -o DIR is required")
	}
	addr, err := inviteOnion(*onion, *hostFile)
	if err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	facts := inviteFactsTOML
	if *factsFile != "" {
		if facts, err = os.ReadFile(*factsFile); err != nil {
			return fmt.Errorf("invite: %w", err)
		}
	}
	langs := web.WitnessLangs()
	f, err := parseInviteFacts(facts, langs)
	if err != nil {
		return err
	}
	s, err := sf.load()
	if err != nil {
		return err
	}
	if s.Organisation.IsZero() {
		warnf("organisation is not set in the configuration: the invitation will not say who runs the service")
	}
	var bridges []string
	if !*noBridges {
		for _, l := range s.BridgeLines {
			bridges = append(bridges, strings.Join(strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "Bridge ")), " "))
		}
	}

	// Render everything first, so that an error leaves nothing half written.
	files := map[string][]byte{}
	var names []string
	for _, lang := range langs {
		p := newInvitePage(f, lang, addr, s.Organisation, bridges)
		var page, text bytes.Buffer
		if err := inviteHTML.Execute(&page, p); err != nil {
			return fmt.Errorf("invite: %s page: %v", lang, err)
		}
		if err := inviteText.Execute(&text, p); err != nil {
			return fmt.Errorf("invite: %s text: %v", lang, err)
		}
		for name, b := range map[string][]byte{"invite-" + lang + ".html": page.Bytes(), "invite-" + lang + ".txt": text.Bytes()} {
			files[name] = b
			names = append(names, name)
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := writeFileAtomic(filepath.Join(*out, name), files[name]); err != nil {
			return fmt.Errorf("invite: %w", err)
		}
		outf("%s\n", filepath.Join(*out, name))
	}
	outf("# the onion address: %s.onion; facts checked on %s\n", addr, f.Checked)
	if len(bridges) > 0 {
		outf("# these files hold the group's private bridge line: hand them out privately, never publish them;\n")
		outf("# run again with --without-bridges for the invitation to publish\n")
	}
	return nil
}

// inviteOnion takes the witness onion's address from the flag or from tor's
// hostname file, and checks it is a v3 onion address.
func inviteOnion(onion, hostFile string) (string, error) {
	if hostFile != "" {
		if onion != "" {
			return "", errors.New("pass --onion or --hostname-file, not both")
		}
		b, err := os.ReadFile(hostFile)
		if err != nil {
			return "", err
		}
		onion = strings.TrimSpace(string(b))
	}
	if onion == "" {
		return "", errors.New("the witness onion address is needed: --onion ADDRESS, or --hostname-file /var/lib/tor/testimony-witness/hostname")
	}
	if s := strings.ToLower(strings.TrimSpace(onion)); strings.Count(strings.TrimSuffix(s, ".onion"), ".") > 0 {
		return "", fmt.Errorf("%q is not a v3 onion address: give the address alone", onion)
	}
	return parseOnionAddress(onion)
}

// writeFileAtomic writes b to path through a temporary file in the same
// directory, so that a reader never sees half a page.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".invite-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
