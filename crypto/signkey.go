package crypto

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The signing key is the server's Ed25519 key that signs the day roots and
// each bundle's listing (package bundle, evidence.go). Its file holds the
// 32-byte seed, mode 0600, beside the server key; investigators note its
// public key at enrolment. It signs; it decrypts nothing.

// CreateSigningKey makes a new signing key and writes its seed to path,
// mode 0600, refusing to overwrite a file (an error wrapping
// [ErrKeyExists]).
func CreateSigningKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	if err := writeKeyFile(path, priv.Seed()); err != nil {
		return nil, fmt.Errorf("writing signing key %s: %w", path, err)
	}
	return priv, nil
}

// LoadSigningKey reads a signing key file, refusing one that others than
// its owner can read or write.
func LoadSigningKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s has mode %v; it must be readable by its owner only (chmod 600)", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key %s: %d bytes, want %d", path, len(b), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// LoadOrCreateSigningKey loads the signing key at path, making it first if
// there is none; created says which.
func LoadOrCreateSigningKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	key, err = LoadSigningKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = CreateSigningKey(path)
		if errors.Is(err, ErrKeyExists) { // made meanwhile by another command
			key, err = LoadSigningKey(path)
			return key, false, err
		}
		return key, err == nil, err
	}
	return key, false, err
}
