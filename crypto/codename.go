package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"sync"
	"unicode"

	"github.com/sethvargo/go-diceware/diceware"
	"golang.org/x/text/unicode/norm"
)

// CodenameWords is the number of words in a codename. Each word of the
// EFF large list (7,776 words) carries 12.9 bits: seven give about 90.
const CodenameWords = 7

// NewCodename makes a witness's codename: seven words of the EFF large
// diceware list, drawn with crypto/rand, lower-case, separated by spaces.
// The few words of the list that hold a hyphen are drawn again, so that a
// codename is plain words a witness can say and type on any keyboard.
func NewCodename() (string, error) {
	g, err := diceware.NewGenerator(nil) // EFF large list, crypto/rand
	if err != nil {
		return "", err
	}
	words := make([]string, 0, CodenameWords)
	for len(words) < CodenameWords {
		w, err := g.Generate(1)
		if err != nil {
			return "", err
		}
		if isPlainWord(w[0]) {
			words = append(words, w[0])
		}
	}
	return strings.Join(words, " "), nil
}

func isPlainWord(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// NormalizeCodename returns the canonical form of a typed codename:
// Unicode NFKC, lower case, and the words joined by single spaces, whatever
// separated them (spaces, new lines, hyphens, dots, commas). Two ways of
// typing the same words give the same result.
func NormalizeCodename(s string) string {
	s = strings.ToLower(norm.NFKC.String(s))
	f := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
	return strings.Join(f, " ")
}

// ErrNotCodename is returned for text that cannot be a codename: not seven
// words of the list. It says nothing about whether a codename exists.
var ErrNotCodename = errors.New("a codename is seven words of the list")

var effWords = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	wl := diceware.WordListEffLarge()
	for i := 11111; i <= 66666; i++ {
		if w := wl.WordAt(i); isPlainWord(w) {
			m[w] = true
		}
	}
	return m
})

// CheckCodename normalises s and checks that it is seven words of the EFF
// large list. It returns the canonical form.
func CheckCodename(s string) (string, error) {
	c := NormalizeCodename(s)
	f := strings.Fields(c)
	if len(f) != CodenameWords {
		return "", ErrNotCodename
	}
	words := effWords()
	for _, w := range f {
		if !words[w] {
			return "", ErrNotCodename
		}
	}
	return c, nil
}

var pseudonymEnc = base32.StdEncoding.WithPadding(base32.NoPadding)

// Pseudonym returns the source id of a codename: "s-" and 16 lower-case
// base32 characters (80 bits) of an HMAC-SHA256 of the normalised codename
// keyed by the server key. It is safe in file names and reveals nothing of
// the codename without the server key. No memory-hard KDF: a codename is
// machine-made with about 90 bits of entropy.
func Pseudonym(k *ServerKey, codename string) string {
	m := hmac.New(sha256.New, k.Derive("codename", 32))
	m.Write([]byte(NormalizeCodename(codename)))
	return "s-" + strings.ToLower(pseudonymEnc.EncodeToString(m.Sum(nil)[:10]))
}
