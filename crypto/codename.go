package crypto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"sync"
	"unicode"

	"github.com/sethvargo/go-diceware/diceware"
	"golang.org/x/text/unicode/norm"
)

// A codename issued now is eight words of the EFF large diceware list:
// seven secret words, drawn with crypto/rand, and a check word computed
// from them by a public function with no key, so that anyone (the server,
// or a witness's own offline tool) can tell a mistyped codename from a
// codename, without learning anything about which codenames exist.
//
// The check. Number the list's plain words (those of a–z only, 7,772 of
// them) from 0 in the list's published order, and let P = 7,759, the
// largest prime below that count. Secret words are drawn from the first P
// words only. The check word is the word numbered
//
//	c = 1·w₁ + 2·w₂ + … + 7·w₇  (mod P)
//
// where wᵢ is the number of the i-th word. As P is prime, every weight is
// non-zero mod P and the weights are distinct, a codename that differs
// from a good one in any single word, or by two different words swapped,
// fails the check: always, not with some probability.
//
// Codenames issued before the check have seven words (LegacyCodenameWords)
// and no check word. The word count tells the two formats apart, so an old
// codename is never put to the check: it takes the same path as ever, where
// a right codename with no replies and a wrong one get the same page.
const (
	// CodenameWords is the number of words in a codename issued now.
	CodenameWords = 8
	// LegacyCodenameWords is the number of words of a codename issued
	// before codenames carried a check word.
	LegacyCodenameWords = 7
	// codenameSecretWords is the number of secret words of a codename.
	codenameSecretWords = CodenameWords - 1
	// checkPrime is P above: the words a secret or check word may be.
	checkPrime = 7759
)

// CodenameSecretBits is the secret a codename carries: seven words, each
// one of P, about 90.45 bits. The check word adds none.
var CodenameSecretBits = codenameSecretWords * math.Log2(checkPrime)

// wordList is the EFF large list's plain words in the list's order, and
// wordIndex their numbers.
var wordList = sync.OnceValue(func() []string {
	var l []string
	wl := diceware.WordListEffLarge()
	for i := 11111; i <= 66666; i++ { // dice numbers; WordAt gives "" for the others
		if w := wl.WordAt(i); isPlainWord(w) {
			l = append(l, w)
		}
	}
	return l
})

var wordIndex = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	for i, w := range wordList() {
		m[w] = i
	}
	return m
})

// NewCodename makes a witness's codename: seven secret words drawn with
// crypto/rand and the check word, lower-case, separated by spaces.
func NewCodename() (string, error) {
	var idx [codenameSecretWords]int
	for i := range idx {
		n, err := randBelow(checkPrime)
		if err != nil {
			return "", err
		}
		idx[i] = n
	}
	return codenameOf(idx), nil
}

// codenameOf writes the codename of the secret word numbers idx.
func codenameOf(idx [codenameSecretWords]int) string {
	l := wordList()
	words := make([]string, 0, CodenameWords)
	for _, n := range idx {
		words = append(words, l[n])
	}
	words = append(words, l[checkOf(idx[:])])
	return strings.Join(words, " ")
}

// checkOf is the number of the check word of the secret words idx.
func checkOf(idx []int) int {
	c := 0
	for i, n := range idx {
		c = (c + (i+1)*n) % checkPrime
	}
	return c
}

// randBelow returns a uniform number in [0, n) from crypto/rand, for
// n ≤ 65536: two bytes, drawn again when in the last, partial stretch.
func randBelow(n int) (int, error) {
	limit := 65536 - 65536%n
	var b [2]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		if v := int(binary.BigEndian.Uint16(b[:])); v < limit {
			return v % n, nil
		}
	}
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

// ErrNotCodename is returned for text that cannot be a codename: not
// eight (or, for one issued before the check, seven) words of the list.
// It says nothing about whether a codename exists.
var ErrNotCodename = errors.New("a codename is eight words of the list")

// ErrCodenameCheck is returned for eight words of the list whose last
// word is not their check word: a word was mistyped or two were swapped.
// It is computed from the words alone and says nothing about whether a
// codename exists.
var ErrCodenameCheck = errors.New("the words of the codename do not match its check word")

// UnknownWordsError is returned for a codename with the right number of
// words some of which are not on the list. It matches ErrNotCodename
// under errors.Is.
type UnknownWordsError struct {
	Words []UnknownWord
}

// UnknownWord is a typed word that is not on the list, with the list's
// words nearest to it (fewest edits, at most maxSuggestEdits), in the
// list's order, at most maxSuggestions of them; Near may be empty.
type UnknownWord struct {
	Word string
	Near []string
}

func (e *UnknownWordsError) Error() string {
	return "words not on the list: " + strings.Join(e.words(), ", ")
}

func (e *UnknownWordsError) words() []string {
	var out []string
	for _, w := range e.Words {
		out = append(out, w.Word)
	}
	return out
}

// Is makes errors.Is(err, ErrNotCodename) true.
func (e *UnknownWordsError) Is(target error) bool { return target == ErrNotCodename }

const (
	maxSuggestions  = 3
	maxSuggestEdits = 2
	maxWordLen      = 64 // a longer word is no typo of a list word; no suggestion is sought
)

// CheckCodename normalises s and checks that it is a codename: eight
// words of the list whose last is their check word, or seven words of the
// list (a codename issued before the check, which cannot be checked). It
// returns the canonical form, or ErrNotCodename (for a wrong number of
// words), an *UnknownWordsError, or ErrCodenameCheck.
func CheckCodename(s string) (string, error) {
	c := NormalizeCodename(s)
	f := strings.Fields(c)
	if len(f) != CodenameWords && len(f) != LegacyCodenameWords {
		return "", ErrNotCodename
	}
	index := wordIndex()
	var unknown []UnknownWord
	idx := make([]int, 0, len(f))
	for _, w := range f {
		n, ok := index[w]
		if !ok {
			unknown = append(unknown, UnknownWord{Word: w, Near: nearWords(w)})
		}
		idx = append(idx, n)
	}
	if unknown != nil {
		return "", &UnknownWordsError{Words: unknown}
	}
	if len(f) == LegacyCodenameWords {
		return c, nil
	}
	if !checksOut(idx) {
		return "", ErrCodenameCheck
	}
	return c, nil
}

// checksOut reports whether the word numbers idx of an eight-word
// codename are all below P and the last is the check word of the others.
func checksOut(idx []int) bool {
	for _, n := range idx {
		if n >= checkPrime {
			return false
		}
	}
	return checkOf(idx[:codenameSecretWords]) == idx[codenameSecretWords]
}

// IsLegacyCodename reports whether the canonical codename c is of the
// format issued before the check: seven words.
func IsLegacyCodename(c string) bool {
	return len(strings.Fields(c)) == LegacyCodenameWords
}

// nearWords returns the list's words within maxSuggestEdits edits of w,
// the nearest first, at most maxSuggestions.
func nearWords(w string) []string {
	r := []rune(w)
	if len(r) > maxWordLen {
		return nil
	}
	var best [maxSuggestEdits + 1][]string
	for _, cand := range wordList() {
		if d := editDistance(r, cand, maxSuggestEdits); d <= maxSuggestEdits {
			best[d] = append(best[d], cand)
		}
	}
	var out []string
	for _, b := range best {
		out = append(out, b[:min(len(b), maxSuggestions-len(out))]...)
		if len(out) == maxSuggestions {
			break
		}
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (b is plain
// a–z), or more than limit when it exceeds limit.
func editDistance(a []rune, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == rune(b[j-1]) {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
