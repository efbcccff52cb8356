package crypto

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSigningKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sign.key")
	k, created, err := LoadOrCreateSigningKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode().Perm(), err)
	}
	k2, created, err := LoadOrCreateSigningKey(path)
	if err != nil || created || !k.Equal(k2) {
		t.Fatalf("load: created=%v equal=%v %v", created, k.Equal(k2), err)
	}
	if _, err := CreateSigningKey(path); !errors.Is(err, ErrKeyExists) {
		t.Errorf("overwrote the key: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := LoadSigningKey(path); err == nil {
		t.Error("loaded a key others can read")
	}
}
