package main

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/sha3"
	"encoding/base32"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// onionAddressOf computes a v3 onion address from an ed25519 public key,
// as rend-spec-v3 says: base32(PUBKEY | CHECKSUM | VERSION).
func onionAddressOf(pub ed25519.PublicKey) string {
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub)
	h.Write([]byte{3})
	raw := append(append(bytes.Clone(pub), h.Sum(nil)[:2]...), 3)
	return strings.ToLower(base32.StdEncoding.EncodeToString(raw))
}

var authLineRE = regexp.MustCompile(`(?m)^descriptor:x25519:([A-Z2-7]{52})$`)
var authPrivateRE = regexp.MustCompile(`(?m)^([a-z2-7]{56}|<onion-address-without-\.onion>):descriptor:x25519:([A-Z2-7]{52})$`)

// TestOnionClientKey: the printed public key is the one the printed
// private key derives, both in Tor's base32; the onion address comes from
// the flag or tor's hostname file, and a bad one is refused.
func TestOnionClientKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	onion := onionAddressOf(pub)
	if _, err := parseOnionAddress(onion + ".onion"); err != nil {
		t.Fatalf("a good address refused: %v", err)
	}
	hostFile := filepath.Join(t.TempDir(), "hostname")
	os.WriteFile(hostFile, []byte(onion+".onion\n"), 0o600)

	seen := map[string]bool{}
	for _, args := range [][]string{
		{"onion-client-key", "--name", "alice", "--onion", onion + ".onion"},
		{"onion-client-key", "--hostname-file", hostFile},
		{"onion-client-key"},
	} {
		r := mustRun(t, args...)
		m1 := authLineRE.FindStringSubmatch(r.stdout)
		m2 := authPrivateRE.FindStringSubmatch(r.stdout)
		if m1 == nil || m2 == nil {
			t.Fatalf("%v: output lacks the two lines:\n%s", args, r.stdout)
		}
		wantAddr := onion
		if len(args) == 1 {
			wantAddr = "<onion-address-without-.onion>"
			if !strings.Contains(r.stdout, "Replace the placeholder") {
				t.Errorf("placeholder printed without an explanation:\n%s", r.stdout)
			}
		}
		if m2[1] != wantAddr {
			t.Errorf("%v: address %q, want %q", args, m2[1], wantAddr)
		}
		privRaw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(m2[2])
		if err != nil {
			t.Fatal(err)
		}
		priv, err := ecdh.X25519().NewPrivateKey(privRaw)
		if err != nil {
			t.Fatal(err)
		}
		if got := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(priv.PublicKey().Bytes()); got != m1[1] {
			t.Errorf("%v: public key %s does not derive from the private key (%s)", args, m1[1], got)
		}
		if seen[m2[2]] {
			t.Error("the same private key twice")
		}
		seen[m2[2]] = true
		if len(args) > 1 && args[1] == "--name" && !strings.Contains(r.stdout, "authorized_clients/alice.auth") {
			t.Errorf("the file name does not use --name:\n%s", r.stdout)
		}
	}

	bad := []byte(onion)
	bad[10] = 'a' + (bad[10]-'a'+1)%26
	for _, args := range [][]string{
		{"onion-client-key", "--onion", string(bad)},
		{"onion-client-key", "--onion", "example.org"},
		{"onion-client-key", "--name", "../x"},
	} {
		if r := runBin(t, args...); r.code != 1 {
			t.Errorf("%v: exit %d, want 1", args, r.code)
		}
	}
}
