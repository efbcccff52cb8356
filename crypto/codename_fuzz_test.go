package crypto_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"testimony/crypto"
)

// FuzzCodename: whatever a witness types into the codename box, the
// codename parser returns ErrNotCodename (an *UnknownWordsError among
// them), ErrCodenameCheck, or the canonical form — eight (or, issued before
// the check, seven) lower-case words of the list joined by single spaces —
// which parses to itself and names the same source as what was typed. It
// never panics.
func FuzzCodename(f *testing.F) {
	c, err := crypto.NewCodename()
	if err != nil {
		f.Fatal(err)
	}
	words := strings.Fields(c)
	for _, s := range []string{
		c,
		strings.ToUpper(c),
		strings.Join(words, "-"),
		strings.Join(words, "\r\n"),
		"  " + strings.Join(words, " ,. ") + "\t",
		strings.Join(words[:7], " "),
		strings.Join(words[:6], " "),
		strings.Join(append(words[1:], words[0]), " "),
		c + " " + words[0],
		"ａｂａｃｕｓ ladder nimble quarry sandal tripod velvet", // full-width letters
		"abacus ladder nimble quarry sandal tripod velvet",
		"abacus ladder nimble quarry sandal tripod velvetx",
		"ABACUS LADDER NİMBLE QUARRY SANDAL TRIPOD VELVET", // Turkish dotted İ
		"abacus\u00adladder nimble quarry sandal tripod velvet",
		"ǅ ǈ ǋ ǲ ﬀ ﬁ ﬂ",
		"\xff\xfe abacus",
		"",
		strings.Repeat("a ", 5000),
	} {
		f.Add(s)
	}
	k := crypto.NewServerKeyForTest(7)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := crypto.CheckCodename(s)
		if err != nil {
			if !errors.Is(err, crypto.ErrNotCodename) && !errors.Is(err, crypto.ErrCodenameCheck) || got != "" {
				t.Fatalf("%q: %q, %v", s, got, err)
			}
			var uw *crypto.UnknownWordsError
			if errors.As(err, &uw) && len(uw.Words) == 0 {
				t.Fatalf("%q: an UnknownWordsError naming no word", s)
			}
			return
		}
		ws := strings.Split(got, " ")
		if len(ws) != crypto.CodenameWords && len(ws) != crypto.LegacyCodenameWords {
			t.Fatalf("%q → %q: %d words", s, got, len(ws))
		}
		for _, w := range ws {
			if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
				t.Fatalf("%q → %q: word %q is not plain lower-case letters", s, got, w)
			}
		}
		if !utf8.ValidString(got) {
			t.Fatalf("%q → invalid UTF-8", s)
		}
		again, err := crypto.CheckCodename(got)
		if err != nil || again != got {
			t.Fatalf("canonical %q re-parses to %q, %v", got, again, err)
		}
		if crypto.NormalizeCodename(got) != got {
			t.Fatalf("canonical %q normalises to %q", got, crypto.NormalizeCodename(got))
		}
		if crypto.Pseudonym(k, s) != crypto.Pseudonym(k, got) {
			t.Fatalf("%q and its canonical form %q name different sources", s, got)
		}
	})
}
