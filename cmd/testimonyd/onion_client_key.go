package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha3"
	"encoding/base32"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
)

const onionClientKeyUsage = `Usage: testimonyd onion-client-key [--name NAME] [--onion ADDRESS | --hostname-file FILE]

Makes an x25519 key pair for Tor onion-service client authorization and
prints two lines:

  - for the server: "descriptor:x25519:PUBLIC", to be saved as
    HiddenServiceDir/authorized_clients/NAME.auth of the investigator onion
    service (see deploy/tor/torrc), readable by tor; then reload tor;
  - for the investigator's Tor Browser: "ADDRESS:descriptor:x25519:PRIVATE",
    the content of NAME.auth_private in its ClientOnionAuthDir (Tor Browser
    also asks for the private key itself when it first opens the address).

ADDRESS is the investigator onion's address without ".onion", from --onion or
from tor's hostname file (--hostname-file
/var/lib/tor/testimony-investigator/hostname); without either, a placeholder
is printed to replace by hand. The private key is printed once and kept
nowhere: hand it to the investigator over a safe channel.`

// onionBase32 is the base32 Tor uses for client-auth keys: RFC 4648,
// upper case, no padding.
var onionBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

var clientNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func runOnionClientKey(args []string) error {
	fl := flag.NewFlagSet("onion-client-key", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, onionClientKeyUsage); fl.PrintDefaults() }
	name := fl.String("name", "investigator", "client name: the file name of the .auth file")
	onion := fl.String("onion", "", "the investigator onion address (with or without .onion)")
	hostFile := fl.String("hostname-file", "", "read the onion address from this file (tor's HiddenServiceDir/hostname)")
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	if !clientNameRE.MatchString(*name) {
		return fmt.Errorf("onion-client-key: --name %q: use letters, digits, - and _ only", *name)
	}
	addr := *onion
	if *hostFile != "" {
		if addr != "" {
			return errors.New("onion-client-key: pass --onion or --hostname-file, not both")
		}
		b, err := os.ReadFile(*hostFile)
		if err != nil {
			return fmt.Errorf("onion-client-key: %w", err)
		}
		addr = strings.TrimSpace(string(b))
	}
	if addr != "" {
		var err error
		if addr, err = parseOnionAddress(addr); err != nil {
			return fmt.Errorf("onion-client-key: %w", err)
		}
	}
	pub, priv, err := newClientAuthKey()
	if err != nil {
		return err
	}
	shown := addr
	if shown == "" {
		shown = "<onion-address-without-.onion>"
	}
	outf("# For the server: save the next line as the file\n")
	outf("#   HiddenServiceDir/authorized_clients/%s.auth\n", *name)
	outf("# of the investigator onion service (e.g. /var/lib/tor/testimony-investigator/authorized_clients/%s.auth),\n", *name)
	outf("# owned by debian-tor, mode 0600; then: systemctl reload tor\n")
	outf("descriptor:x25519:%s\n\n", pub)
	outf("# For the investigator's Tor Browser: the private key, to give them over a safe channel.\n")
	outf("# Tor Browser asks for it when it opens the address (paste the key after \"x25519:\"), or\n")
	outf("# save the next line as %s.auth_private in the ClientOnionAuthDir of a tor client.\n", *name)
	if addr == "" {
		outf("# Replace the placeholder with the onion address (the investigator onion's\n")
		outf("# HiddenServiceDir/hostname, without \".onion\"), or run again with --onion ADDRESS.\n")
	}
	outf("%s:descriptor:x25519:%s\n", shown, priv)
	return nil
}

// newClientAuthKey makes an x25519 pair, base32 encoded as Tor wants.
func newClientAuthKey() (pub, priv string, err error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	return onionBase32.EncodeToString(k.PublicKey().Bytes()), onionBase32.EncodeToString(k.Bytes()), nil
}

// parseOnionAddress checks a v3 onion address (56 base32 characters: the
// ed25519 key, a two-byte checksum and the version 3) and returns it lower
// case without ".onion".
func parseOnionAddress(s string) (string, error) {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".onion")
	if i := strings.LastIndexByte(s, '.'); i >= 0 { // a subdomain
		s = s[i+1:]
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(s))
	if err != nil || len(s) != 56 || len(raw) != 35 {
		return "", fmt.Errorf("%q is not a v3 onion address (56 characters)", s)
	}
	pubkey, sum, ver := raw[:32], raw[32:34], raw[34]
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pubkey)
	h.Write([]byte{ver})
	if ver != 3 || !bytes.Equal(h.Sum(nil)[:2], sum) {
		return "", fmt.Errorf("%q is not a v3 onion address (bad checksum or version)", s)
	}
	return s, nil
}
