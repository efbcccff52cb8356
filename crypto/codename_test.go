package crypto

import (
	"regexp"
	"strings"
	"testing"
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
		if seen[c] {
			t.Fatalf("codename %q drawn twice", c)
		}
		seen[c] = true
	}
	if n := len(effWords()); n < 7700 {
		t.Errorf("the EFF large list gave %d plain words, want about 7,776", n)
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
	for _, bad := range []string{"", "abacus bagful", "abacus bagful cabana dab eager fable gab extra",
		"abacus bagful cabana dab eager fable zzzzzz"} {
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
