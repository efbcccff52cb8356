package crypto

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/cryptotest"
)

func TestNewCodename(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := NewCodename()
		if err != nil {
			t.Fatal(err)
		}
		words := strings.Split(c, " ")
		if len(words) != CodenameWords {
			t.Fatalf("%q: %d words", c, len(words))
		}
		if got, err := CheckCodename(c); err != nil || got != c {
			t.Fatalf("CheckCodename(%q) = %q, %v", c, got, err)
		}
		if IsLegacyCodename(c) {
			t.Fatalf("%q is taken for a codename of the old format", c)
		}
		if seen[c] {
			t.Fatalf("codename %q drawn twice", c)
		}
		seen[c] = true
	}
	if n := len(wordList()); n != 7772 {
		t.Errorf("the EFF large list gave %d plain words, want 7,772 (7,776 less 4 with hyphens)", n)
	}
}

// TestCodenameSecretBits: a codename keeps at least 77 bits of secret,
// the check word counted out: seven words, each one of 7,759, are 90.45
// bits (docs/design.md says so too).
func TestCodenameSecretBits(t *testing.T) {
	if CodenameSecretBits < 77 {
		t.Fatalf("%.2f bits of secret, want at least 77", CodenameSecretBits)
	}
	if s := fmt.Sprintf("%.2f", CodenameSecretBits); s != "90.45" {
		t.Errorf("%s bits of secret; docs/design.md says 90.45", s)
	}
	for p := 2; p*p <= checkPrime; p++ {
		if checkPrime%p == 0 {
			t.Fatalf("P = %d is not prime: the check would miss substitutions", checkPrime)
		}
	}
	if checkPrime > len(wordList()) {
		t.Fatalf("P = %d is more than the list's %d words", checkPrime, len(wordList()))
	}
}

// TestCodenameCheckCatchesTypos draws 10,000 codenames from a seeded
// random source. In each it replaces every word in turn by words drawn at
// random (four per word, through CheckCodename itself), and swaps every two
// different words; in the first 300 it replaces every word by every other
// word of the list (18 million codenames; all 10,000 would take minutes on
// a shared machine, and the arithmetic guarantees it anyway: the weights
// are non-zero mod a prime). Every one fails the check.
func TestCodenameCheckCatchesTypos(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 19)
	l := wordList()
	pick := rand.New(rand.NewPCG(19, 5))
	for n := range 10000 {
		c, err := NewCodename()
		if err != nil {
			t.Fatal(err)
		}
		words := strings.Fields(c)
		idx := make([]int, len(words))
		for i, w := range words {
			idx[i] = wordIndex()[w]
		}
		if !checksOut(idx) {
			t.Fatalf("%q fails its own check", c)
		}
		for i := range idx {
			if n < 300 {
				was := idx[i]
				for v := range l {
					if v == was {
						continue
					}
					idx[i] = v
					if checksOut(idx) {
						t.Fatalf("%q with word %d made %q passes the check", c, i+1, l[v])
					}
				}
				idx[i] = was
			}
			for range 4 {
				typo := slices.Clone(words)
				for typo[i] == words[i] {
					typo[i] = l[pick.IntN(len(l))]
				}
				if _, err := CheckCodename(strings.Join(typo, " ")); !errors.Is(err, ErrCodenameCheck) {
					t.Fatalf("%q with word %d made %q: %v, want ErrCodenameCheck", c, i+1, typo[i], err)
				}
			}
			for j := i + 1; j < len(idx); j++ {
				if idx[i] == idx[j] {
					continue
				}
				idx[i], idx[j] = idx[j], idx[i]
				if checksOut(idx) {
					t.Fatalf("%q with words %d and %d swapped passes the check", c, i+1, j+1)
				}
				idx[i], idx[j] = idx[j], idx[i]
			}
		}
	}
}

// TestCodenameCheckVector pins the check so that a codename issued today
// checks out under any later version: its arithmetic is a format.
func TestCodenameCheckVector(t *testing.T) {
	c := codenameOf([7]int{0, 1, 2, 3, 4, 5, 7758})
	// 1·0 + 2·1 + 3·2 + 4·3 + 5·4 + 6·5 + 7·7758 = 54,376 ≡ 54,376 − 7·7,759 = 63.
	want := strings.Join([]string{l(0), l(1), l(2), l(3), l(4), l(5), l(7758), l(63)}, " ")
	if c != want {
		t.Fatalf("codenameOf = %q, want %q", c, want)
	}
	if !strings.HasPrefix(c, "abacus abdomen abdominal abide abiding ability ") {
		t.Fatalf("the list's order changed: %q", c)
	}
	if _, err := CheckCodename(c); err != nil {
		t.Fatal(err)
	}
}

func l(i int) string { return wordList()[i] }

func TestLegacyCodenamesSkipTheCheck(t *testing.T) {
	legacy := "abacus bagful cabana dab ebony fable gab" // seven words, as issued before the check
	got, err := CheckCodename(" Abacus BAGFUL cabana-dab ebony fable gab")
	if err != nil || got != legacy || !IsLegacyCodename(got) {
		t.Fatalf("a seven-word codename: %q, %v", got, err)
	}
	// A word past the first P of the list was possible in an old codename.
	old := strings.Join([]string{"abacus", "bagful", "cabana", "dab", "ebony", "fable", l(len(wordList()) - 1)}, " ")
	if _, err := CheckCodename(old); err != nil {
		t.Fatalf("%q: %v", old, err)
	}
}

func TestUnknownWordsSuggestNearest(t *testing.T) {
	c := codenameOf([7]int{10, 200, 3000, 4000, 5000, 6000, 7000})
	words := strings.Fields(c)
	typo := slices.Clone(words)
	typo[1] = words[1][:len(words[1])-1] + "q" // one letter changed
	typo[4] = "zzzzzzzzzzzz"                   // nothing near
	_, err := CheckCodename(strings.Join(typo, " "))
	var uw *UnknownWordsError
	if !errors.As(err, &uw) || !errors.Is(err, ErrNotCodename) {
		t.Fatalf("%v", err)
	}
	if len(uw.Words) != 2 || uw.Words[0].Word != typo[1] || uw.Words[1].Word != "zzzzzzzzzzzz" {
		t.Fatalf("%+v", uw.Words)
	}
	if !slices.Contains(uw.Words[0].Near, words[1]) || len(uw.Words[0].Near) > maxSuggestions {
		t.Errorf("%q: suggestions %q, want %q among at most %d", typo[1], uw.Words[0].Near, words[1], maxSuggestions)
	}
	if len(uw.Words[1].Near) != 0 {
		t.Errorf("suggestions for a word far from any: %q", uw.Words[1].Near)
	}
	for in, want := range map[string][]string{
		"abacsu":  {"abacus"}, // two letters swapped: two edits
		"tripd":   {"tripod"}, // a letter left out
		"velvett": {"velvet"}, // a letter too many
	} {
		if got := nearWords(in); !slices.Contains(got, want[0]) {
			t.Errorf("nearWords(%q) = %q, want %q among them", in, got, want[0])
		}
	}
	if got := nearWords("abacus"); got[0] != "abacus" {
		t.Errorf("nearWords of a list word: %q", got)
	}
}

func TestNormalizeCodename(t *testing.T) {
	want := "abacus bagful cabana dab eager fable gab"
	for _, in := range []string{
		want,
		"  Abacus  BAGFUL\tcabana\ndab-eager.fable,gab ",
		"abacus\u00a0bagful cabana dab eager fable gab", // no-break space
		"ａｂａｃｕｓ bagful cabana dab eager fable gab",      // full-width letters (NFKC)
	} {
		if got := NormalizeCodename(in); got != want {
			t.Errorf("NormalizeCodename(%q) = %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"", "abacus bagful", "abacus bagful cabana dab eager fable gab extra more",
		"abacus bagful cabana dab eager fable zzzzzz", "abacus bagful cabana dab eager fable gab gag"} {
		if _, err := CheckCodename(bad); err == nil {
			t.Errorf("CheckCodename(%q) accepted", bad)
		}
	}
}

func TestPseudonym(t *testing.T) {
	k1, k2 := NewServerKeyForTest(1), NewServerKeyForTest(2)
	c := "abacus bagful cabana dab eager fable gab"
	p := Pseudonym(k1, c)
	if !regexp.MustCompile(`^s-[a-z2-7]{16}$`).MatchString(p) {
		t.Fatalf("pseudonym %q is not s- and 16 base32 characters", p)
	}
	if Pseudonym(k1, " ABACUS bagful-cabana dab eager fable gab") != p {
		t.Error("the same codename typed differently gives another pseudonym")
	}
	if Pseudonym(k2, c) == p {
		t.Error("the pseudonym does not depend on the server key")
	}
	if Pseudonym(k1, "abacus bagful cabana dab eager fable gag") == p {
		t.Error("two codenames give one pseudonym")
	}
}
