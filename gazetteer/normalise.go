package gazetteer

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// stopWords are words that say what kind of place a name is, not which
// one, in the languages of the questionnaire; they are dropped from
// answers and names alike. Written here as a witness would, they go
// through the same normalisation as everything else.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		ice detention detained center centre processing service facility spc ipc cdf
		contract federal immigration the of in at near
		airport international intl
		центр центре центра центры тюрьма тюрьме тюрьмы лагерь лагере лагеря
		иммиграционный иммиграционном иммиграционного иммиграционной
		содержания задержания временного для мигрантов детеншн детеншен сентер центер
		аэропорт аэропорту аэропорта аэропорте международный международного международном
		в во на из г город городе штат
		утримання затримання іміграційний іміграційному вязниця вязниці табір таборі
		центрі аеропорт аеропорту аеропорті міжнародний міжнародного у місто місті
		centro de del detencion procesamiento carcel prision aeropuerto internacional
		ciudad en
	`) {
		m[fold(w)] = true
	}
	return m
}()

// Normalise gives the form in which answers and names are compared: NFKC,
// case-folded, without diacritics (so ё reads as е, й as и), apostrophes
// dropped, every other character that is not a letter or a digit read as
// a space, and the generic words of stopWords left out — unless nothing
// else is left, when they stay. Words are joined by one space.
func Normalise(s string) string {
	words := strings.Fields(fold(s))
	kept := make([]string, 0, len(words))
	for _, w := range words {
		if !stopWords[w] {
			kept = append(kept, w)
		}
	}
	if len(kept) == 0 {
		kept = words
	}
	return strings.Join(kept, " ")
}

// fold does all of Normalise but dropping words.
func fold(s string) string {
	s = cases.Fold().String(norm.NFKC.String(s))
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// a diacritic
		case r == '\'' || r == '’' || r == 'ʼ' || r == '‘' || r == '`':
			// O'Hare, в’язниця
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	return b.String()
}
