package crypto_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"testimony/crypto"
)

func TestServerKeyCreateLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "server.key")
	k, err := crypto.CreateServerKey(p)
	if err != nil {
		t.Fatalf("CreateServerKey: %v", err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Errorf("key file mode %v size %d, want -rw------- and 32 bytes", st.Mode().Perm(), st.Size())
	}
	before, _ := os.ReadFile(p)

	if _, err := crypto.CreateServerKey(p); !errors.Is(err, crypto.ErrKeyExists) {
		t.Errorf("second CreateServerKey = %v, want ErrKeyExists", err)
	}
	if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
		t.Fatalf("the existing key was overwritten")
	}

	l, err := crypto.LoadServerKey(p)
	if err != nil {
		t.Fatalf("LoadServerKey: %v", err)
	}
	if !bytes.Equal(l.Derive("codename", 32), k.Derive("codename", 32)) {
		t.Errorf("loaded key derives differently from the created one")
	}

	other, err := crypto.CreateServerKey(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.Derive("codename", 32), k.Derive("codename", 32)) {
		t.Errorf("two new keys derive the same bytes: not random")
	}
	if bytes.Equal(before, make([]byte, 32)) {
		t.Errorf("key is all zeros")
	}
}

func TestServerKeyLoadRefusesOpenModes(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "server.key")
	if _, err := crypto.CreateServerKey(p); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660, 0o606, 0o666, 0o610, 0o601} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := crypto.LoadServerKey(p); err == nil {
			t.Errorf("LoadServerKey accepted a key file of mode %v", mode)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		os.Chmod(p, mode)
		if _, err := crypto.LoadServerKey(p); err != nil {
			t.Errorf("LoadServerKey refused mode %v: %v", mode, err)
		}
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, make([]byte, 31), 0o600)
	if _, err := crypto.LoadServerKey(short); err == nil {
		t.Errorf("LoadServerKey accepted a 31-byte key")
	}
	if _, err := crypto.LoadServerKey(filepath.Join(dir, "missing.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadServerKey of a missing file = %v, want ErrNotExist", err)
	}
}

func TestServerKeyDerive(t *testing.T) {
	k := crypto.NewServerKeyForTest(7)
	labels := []string{"codename", "totp", "codename ", "Codename", "", "source-id", "totp-seal"}
	seen := map[string]string{}
	for _, l := range labels {
		out := k.Derive(l, 32)
		if len(out) != 32 {
			t.Fatalf("Derive(%q, 32) gave %d bytes", l, len(out))
		}
		if prev, ok := seen[string(out)]; ok {
			t.Errorf("labels %q and %q derive the same key", prev, l)
		}
		seen[string(out)] = l
		if !bytes.Equal(out, k.Derive(l, 32)) {
			t.Errorf("Derive(%q) not deterministic", l)
		}
	}
	if bytes.Equal(k.Derive("totp", 32), crypto.NewServerKeyForTest(8).Derive("totp", 32)) {
		t.Errorf("different server keys derive the same bytes")
	}
	if n := len(k.Derive("long", 64)); n != 64 {
		t.Errorf("Derive(_, 64) gave %d bytes", n)
	}
}

// A key that cannot be created says so, and never replaces what is there.
func TestServerKeyCreateFails(t *testing.T) {
	dir := t.TempDir()
	if _, err := crypto.CreateServerKey(filepath.Join(dir, "missing", "server.key")); err == nil {
		t.Errorf("CreateServerKey in a missing directory succeeded")
	}
	// O_EXCL refuses an existing name, even a dangling symlink.
	link := filepath.Join(dir, "server.key")
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.CreateServerKey(link); !errors.Is(err, crypto.ErrKeyExists) {
		t.Errorf("CreateServerKey over a symlink = %v, want ErrKeyExists", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "elsewhere")); err == nil {
		t.Errorf("the symlink was followed")
	}
}
