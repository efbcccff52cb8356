package crypto

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"strings"

	"github.com/sethvargo/go-diceware/diceware"
	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of an argon2id passphrase hash. They
// are recorded with every hash, so they can be raised later without
// invalidating existing hashes.
type Argon2Params struct {
	Time    uint32 `json:"t"`
	Memory  uint32 `json:"m"` // KiB
	Threads uint8  `json:"p"`
}

// DefaultArgon2 is chosen to cost a small server a noticeable fraction of a
// second and 64 MiB per login: dear for a guesser, cheap for a person.
var DefaultArgon2 = Argon2Params{Time: 3, Memory: 64 << 10, Threads: 4}

// PassphraseHash is a stored argon2id hash with its salt and parameters.
type PassphraseHash struct {
	Alg    string       `json:"alg"` // "argon2id"
	Params Argon2Params `json:"params"`
	Salt   []byte       `json:"salt"`
	Hash   []byte       `json:"hash"`
}

const (
	argonAlg     = "argon2id"
	argonKeyLen  = 32
	argonSaltLen = 16
	// MaxPassphrase bounds what is hashed: longer input is refused before
	// any work, so a huge form field costs nothing.
	MaxPassphrase = 1024
)

// ErrBadHash is returned for a stored hash that cannot be checked.
var ErrBadHash = errors.New("unusable passphrase hash")

// HashPassphrase hashes pass with argon2id under p and a fresh salt.
func HashPassphrase(pass string, p Argon2Params) (*PassphraseHash, error) {
	if len(pass) > MaxPassphrase {
		return nil, errors.New("passphrase too long")
	}
	if p.Time == 0 || p.Memory < 8*uint32(max(p.Threads, 1)) || p.Threads == 0 {
		return nil, ErrBadHash
	}
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	return &PassphraseHash{Alg: argonAlg, Params: p, Salt: salt,
		Hash: argon2.IDKey([]byte(pass), salt, p.Time, p.Memory, p.Threads, argonKeyLen)}, nil
}

// VerifyPassphrase reports whether pass matches h, comparing in constant
// time. It always does the full argon2id work of h's parameters, also for
// an over-long passphrase, so its time does not depend on the input.
func VerifyPassphrase(h *PassphraseHash, pass string) bool {
	if h == nil || h.Alg != argonAlg || len(h.Hash) == 0 || h.Params.Time == 0 || h.Params.Threads == 0 {
		return false
	}
	tooLong := len(pass) > MaxPassphrase
	if tooLong {
		pass = pass[:MaxPassphrase]
	}
	got := argon2.IDKey([]byte(pass), h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, uint32(len(h.Hash)))
	return subtle.ConstantTimeCompare(got, h.Hash) == 1 && !tooLong
}

// PassphraseWords is the number of diceware words of a generated
// passphrase: 7 words of the EFF large list hold about 90 bits.
const PassphraseWords = 7

// GeneratePassphrase returns a new random passphrase of diceware words
// joined by spaces.
func GeneratePassphrase() (string, error) {
	w, err := diceware.Generate(PassphraseWords)
	if err != nil {
		return "", err
	}
	return strings.Join(w, " "), nil
}

// MinPassphrase is the shortest passphrase an investigator may choose.
const MinPassphrase = 12
