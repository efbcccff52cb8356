package gazetteer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestResolve: the spellings of issue 20 §3, and the rules of the package
// comment, each with the place it must give ("" for not known).
func TestResolve(t *testing.T) {
	g := Default()
	fac := []string{Facility}
	air := []string{Airport, City}
	for _, c := range []struct {
		in    string
		kinds []string
		want  string
		fuzzy bool
	}{
		{"Krome", fac, "krome", false},
		{"Krome Detention Center", fac, "krome", false},
		{"Krome, Майами", fac, "krome", false},
		{"Кроум", fac, "krome", false},
		{"KROME NORTH SERVICE PROCESSING CENTER", fac, "krome", false},
		{"в Кроуме", fac, "", false}, // кроуме: 6 runes, but no name at one edit
		{"Кроум, Майами, Флорида", fac, "krome", false},
		{"ICE Krome", fac, "krome", false},
		{"Stewrat Detention Center", fac, "stewart", true}, // two letters swapped
		{"Stewartt", fac, "stewart", true},
		{"Adams County Correctional Center", fac, "adams-county", false},
		{"Адамс Каунти", fac, "adams-county", false},
		{"LaSalle", fac, "central-louisiana", false},
		{"Jena, LA", fac, "central-louisiana", false},
		{"Otay Mesa DC", fac, "otay-mesa", false},
		{"Отэй-Меса", fac, "otay-mesa", false},
		{"Port Isabel SPC", fac, "port-isabel", false},
		{"Порт-Изабель", fac, "port-isabel", false},
		{"Dilley", fac, "dilley", false},
		{"Florence SPC", fac, "florence", false},
		{"Eloy, Arizona", fac, "eloy", false},
		{"Krome and then Stewart", fac, "", false}, // two places: not known
		{"ЦВСИГ Сахарово", fac, "", false},
		{"Mesa", fac, "", false},
		{"Flore", fac, "", false}, // under FuzzyMin: no edit allowed
		{"AEX", air, "aex", false},
		{"Alexandria, LA", air, "aex", false},
		{"Александрия", air, "aex", false},
		{"Москва (Шереметьево)", air, "svo", false},
		{"Шереметьево", air, "svo", false},
		{"Sheremetyevo International Airport", air, "svo", false},
		{"Москва", air, "moscow", false},
		{"Moscow", air, "moscow", false},
		{"Istanbul", air, "istanbul", false},
		{"Istanbul New Airport", air, "ist", false},
		{"La Palma, Eloy", fac, "la-palma", false},
		{"Camp East Montana, El Paso", fac, "camp-east-montana", false},
		{"South Texas Faimly Residential", fac, "dilley", true},
		{"Moscow oDmodedovo", air, "dme", true},
		{"San nAtonio", air, "sat", true},
		{"Сабиха Гёкчен", air, "saw", false},
		{"Пулково", air, "led", false},
		{"Pulkovo", air, "led", false},
		{"Пулкого", air, "led", true},
		{"ELP", air, "elp", false},
		{"El Paso", air, "elp", false},
		{"El Paso", fac, "el-paso-spc", false},
		{"ЖЖЖ", air, "", false},
	} {
		m := g.Resolve(c.in, c.kinds...)
		got := ""
		if m.Place != nil {
			got = m.Place.ID
		}
		if got != c.want || m.Fuzzy != c.fuzzy {
			t.Errorf("Resolve(%q, %v) = %q (fuzzy %v), want %q (fuzzy %v)", c.in, c.kinds, got, m.Fuzzy, c.want, c.fuzzy)
		}
		if m.Written != strings.Join(strings.Fields(c.in), " ") {
			t.Errorf("Resolve(%q): written %q", c.in, m.Written)
		}
	}
}

func TestResolveCountry(t *testing.T) {
	g := Default()
	for in, want := range map[string]string{
		"Египет": "EG", "Egypt": "EG", "Єгипет": "EG", "Egipto": "EG", "египет": "EG", "Egipet": "EG",
		"Türkiye": "TR", "Турция": "TR", "Стамбул": "TR", "Istanbul (IST)": "TR", "Turquia": "TR",
		"ОАЭ": "AE", "Дубай": "AE", "U.A.E.": "AE",
		"Serbia": "RS", "Белград": "RS",
		"Казахстан": "KZ", "Армения": "AM", "Вірменія": "AM",
		"Атлантида": "", "": "",
	} {
		m := g.ResolveCountry(in)
		got := ""
		if m.Place != nil {
			got = m.Place.ID
		}
		if got != want {
			t.Errorf("ResolveCountry(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnknownKept: a name not in the gazetteer keeps its words, and
// answers that normalise alike share its key.
func TestUnknownKept(t *testing.T) {
	g := Default()
	a := g.Resolve("ЦВСИГ  Сахарово", Facility)
	b := g.Resolve("цвсиг сахарово!", Facility)
	if a.Place != nil || a.Written != "ЦВСИГ Сахарово" || a.Key != "?цвсиг сахарово" || a.Key != b.Key {
		t.Errorf("unknown: %+v, %+v", a, b)
	}
	if m := g.Resolve("  ", Facility); m.Key != "" || m.Place != nil {
		t.Errorf("blank: %+v", m)
	}
	// Only generic words: they stay, rather than leave nothing.
	if m := g.Resolve("Detention Center", Facility); m.Key != "?detention center" {
		t.Errorf("generic words only: %+v", m)
	}
}

func TestNormalise(t *testing.T) {
	for in, want := range map[string]string{
		"Krome Detention Center": "krome",
		"KROME":                  "krome",
		"Кроум":                  "кроум",
		"Ёлки":                   "елки",
		"Sabiha Gökçen":          "sabiha gokcen",
		"Ｋｒｏｍｅ":                  "krome", // NFKC: full-width letters
		"O'Hare":                 "ohare",
		"в’язниця Кроум":         "кроум",
		"Krome---(Miami)":        "krome miami",
		"Straße":                 "strasse",
		"ICE":                    "ice",
	} {
		if got := Normalise(in); got != want {
			t.Errorf("Normalise(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestShippedNames: every name and alias of the shipped file gives its
// own place when looked up with the kinds the report asks for, so no two
// places share a name a lookup would confuse.
func TestShippedNames(t *testing.T) {
	g := Default()
	if len(g.Places()) < 100 {
		t.Errorf("%d places", len(g.Places()))
	}
	for _, p := range g.Places() {
		kinds := map[string][]string{Facility: {Facility}, Airport: {Airport, City}, City: {Airport, City}, Country: {Country}}[p.Kind]
		names := append([]string{p.IATA}, p.Aliases...)
		for _, n := range p.Name {
			names = append(names, n)
		}
		for _, n := range names {
			if n == "" {
				continue
			}
			m := g.Resolve(n, kinds...)
			if m.Place != p && !(p.Kind == City && m.Place != nil && m.Place.City == p.Name["en"]) {
				got := "nothing"
				if m.Place != nil {
					got = m.Place.ID
				}
				t.Errorf("%s: %q gives %s", p.ID, n, got)
			}
		}
		if p.Kind != Country && g.Place(p.Country) == nil && p.Country != "" {
			t.Errorf("%s: country %q is not in the gazetteer", p.ID, p.Country)
		}
	}
}

// TestWith: a group's file adds places and names, and is refused when a
// name it gives is another place's.
func TestWith(t *testing.T) {
	g, err := Default().With([]byte(`{"format":"testimony-gazetteer/v1","places":[
		{"id":"krome","aliases":["Кромэ"]},
		{"id":"sakharovo","kind":"facility","name":{"en":"Sakharovo centre for foreign nationals","ru":"ЦВСИГ Сахарово"},"city":"Moscow","country":"RU","aliases":["Сахарово"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m := g.Resolve("Кромэ", Facility); m.Place == nil || m.Place.ID != "krome" {
		t.Errorf("added alias: %+v", m)
	}
	if m := g.Resolve("Сахарово", Facility); m.Place == nil || m.Place.ID != "sakharovo" || m.Place.In("ru") != "ЦВСИГ Сахарово" {
		t.Errorf("added place: %+v", m)
	}
	if m := Default().Resolve("Кромэ", Facility); m.Place != nil {
		t.Errorf("the shipped gazetteer changed: %+v", m)
	}
	for _, bad := range []string{
		`{"format":"testimony-gazetteer/v1","places":[{"id":"x","kind":"facility","name":{"en":"X"},"aliases":["Krome"]}]}`,
		`{"format":"testimony-gazetteer/v2","places":[]}`,
		`{"format":"testimony-gazetteer/v1","places":[{"id":"Bad Id","kind":"facility","name":{"en":"X"}}]}`,
		`{"format":"testimony-gazetteer/v1","places":[{"id":"y","kind":"airport","name":{"en":"Y"}}]}`,
		`{"format":"testimony-gazetteer/v1","places":[{"id":"z","kind":"planet","name":{"en":"Z"}}]}`,
		`{"format":"testimony-gazetteer/v1","places":[{"id":"krome","kind":"airport"}]}`,
		`{"format":"testimony-gazetteer/v1","places":[null]}`,
		`{"format":"testimony-gazetteer/v1","places":[],"extra":1}`,
		`not json`,
	} {
		if _, err := Default().With([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestOneEdit(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"stewart", "stewart", true}, {"stewart", "stewrat", true}, {"stewart", "stewar", true},
		{"stewart", "sstewart", true}, {"stewart", "stxwart", true}, {"stewart", "setwrat", false},
		{"stewart", "stew", false}, {"", "a", true}, {"ab", "ba", true}, {"abc", "cba", false},
	} {
		if got := oneEdit([]rune(c.a), []rune(c.b)); got != c.want {
			t.Errorf("oneEdit(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

// FuzzResolve: no answer makes the normaliser or the lookup panic, and
// what they give is valid UTF-8 that normalises to itself.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"Krome, Майами", "Москва (Шереметьево)", "Egypt", "\xff\xfe", "ё̈̈", strings.Repeat("a ", 40), "ǅ"} {
		f.Add(s)
	}
	g := Default()
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalise(s)
		if !utf8.ValidString(n) || Normalise(n) != n {
			t.Errorf("Normalise(%q) = %q, which normalises to %q", s, n, Normalise(n))
		}
		for _, k := range [][]string{{Facility}, {Airport, City}} {
			m := g.Resolve(s, k...)
			if m.Place == nil && m.Key != "" && m.Key != "?"+n {
				t.Errorf("Resolve(%q): key %q", s, m.Key)
			}
		}
		g.ResolveCountry(s)
	})
}

// TestFuzzyAmbiguous: a misspelling one edit from the names of two places
// names neither.
func TestFuzzyAmbiguous(t *testing.T) {
	g, err := Default().With([]byte(`{"format":"testimony-gazetteer/v1","places":[
		{"id":"one","kind":"facility","name":{"en":"Lindenwald"}},
		{"id":"two","kind":"facility","name":{"en":"Lindenwold"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m := g.Resolve("Lindenwald", Facility); m.Place == nil || m.Place.ID != "one" || m.Fuzzy {
		t.Errorf("exact: %+v", m)
	}
	if m := g.Resolve("Lindenwuld", Facility); m.Place != nil {
		t.Errorf("one edit from both: %+v", m.Place)
	}
	if m := g.Resolve("Lindenwaldd", Facility); m.Place == nil || m.Place.ID != "one" || !m.Fuzzy {
		t.Errorf("one edit from one: %+v", m)
	}
}
