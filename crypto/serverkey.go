package crypto

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"testimony/internal/atomicfile"
)

// ServerKey is the server's own secret, kept in a file of its own beside
// the database. Keys for separate purposes are derived from it with HKDF:
// the salt that turns codenames into source ids, and the key that encrypts
// TOTP secrets at rest. It never decrypts a testimony.
type ServerKey struct{ k [32]byte }

// ErrKeyExists is returned by [CreateServerKey] and [CreateSigningKey]
// when the file exists.
var ErrKeyExists = errors.New("the key file already exists; refusing to overwrite it")

// CreateServerKey makes a new random key and writes it to path, mode 0600.
// It refuses to overwrite an existing file.
func CreateServerKey(path string) (*ServerKey, error) {
	k := new(ServerKey)
	rand.Read(k.k[:])
	if err := writeKeyFile(path, k.k[:]); err != nil {
		return nil, fmt.Errorf("writing server key %s: %w", path, err)
	}
	return k, nil
}

// writeKeyFile writes a new key file, mode 0600, refusing to overwrite one
// (an error wrapping [ErrKeyExists]); the file and its directory entry are
// synced, since a power cut must not lose a key the database already
// depends on. On an error no file is left: a half-written key would be
// refused at the next start.
func writeKeyFile(path string, key []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ErrKeyExists
	}
	if err != nil {
		return err
	}
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// LoadServerKey reads the key file. It refuses a file that others than its
// owner can read or write.
func LoadServerKey(path string) (*ServerKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("server key %s has mode %v; it must be readable by its owner only (chmod 600)", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("server key %s: %d bytes, want 32", path, len(b))
	}
	k := new(ServerKey)
	copy(k.k[:], b)
	return k, nil
}

// NewServerKeyForTest returns a key made from seed, for tests only.
func NewServerKeyForTest(seed byte) *ServerKey {
	k := new(ServerKey)
	for i := range k.k {
		k.k[i] = seed
	}
	return k
}

// Derive returns n bytes for the purpose named by label. Distinct labels
// give independent keys.
func (k *ServerKey) Derive(label string, n int) []byte {
	out, err := hkdf.Key(sha256.New, k.k[:], nil, "testimony/v1 "+label, n)
	if err != nil {
		panic(err) // only for n > 255*32
	}
	return out
}
