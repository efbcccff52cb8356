package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"testimony/crypto"
	"testimony/gazetteer"
)

// Issue 20 §3: corroboration on answers as witnesses write them.

// answers are a submission's answers by key, choices joined with ",".
type answers map[string]string

// caseFolder writes a case folder as open leaves it (manifest.json and
// item.json per item), without encrypting anything: report reads only
// those. Each spec is a submission unless its Kind says otherwise.
func caseFolder(t testing.TB, specs []*itemSpec) string {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for i, s := range specs {
		if s.Kind == "" {
			s.Kind = crypto.KindSubmission
		}
		if s.Day == "" {
			s.Day = "2026-01-10"
		}
		if s.Lang == "" {
			s.Lang = "ru"
		}
		m, err := s.manifest()
		if err != nil {
			t.Fatal(err)
		}
		m.Format = crypto.Format
		m.Attachments = []crypto.Attachment{}
		id := fmt.Sprintf("%032x", i+1)
		folder := itemFolder(s.Source, m.Day, m.Kind, id)
		if err := root.MkdirAll(folder, 0o700); err != nil {
			t.Fatal(err)
		}
		mj, _ := json.Marshal(m)
		ij, _ := json.Marshal(itemInfo{ID: id, Source: s.Source, Kind: m.Kind, Day: m.Day})
		if err := root.WriteFile(folder+"/manifest.json", mj, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := root.WriteFile(folder+"/item.json", ij, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sub(source string, a answers) *itemSpec {
	s := &itemSpec{Source: source, Answers: map[string]crypto.Answer{"account": crypto.TextAnswer("…")}}
	for k, v := range a {
		if k == "conditions" || k == "flight_treatment" {
			s.Answers[k] = crypto.ListAnswer(strings.Split(v, ",")...)
		} else {
			s.Answers[k] = crypto.TextAnswer(v)
		}
	}
	return s
}

// runReportT runs the report command on dir and returns report.html and
// corroboration.csv.
func runReportT(t *testing.T, dir string, flags ...string) (string, string) {
	t.Helper()
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()
	if code := run(append([]string{"report", dir}, flags...)); code != 0 {
		t.Fatalf("report exited %d:\n%s", code, out.String())
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	table, err := os.ReadFile(filepath.Join(dir, "corroboration.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return string(page), string(table)
}

func loaded(t *testing.T, dir string) []*caseItem {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	items, err := loadCases(root)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func bar(cs []count, label string) int {
	for _, c := range cs {
		if c.Label == label {
			return c.N
		}
	}
	return 0
}

// TestKromeIsOneFacility: four spellings of Krome, in two scripts, are one
// facility in the chart and one detention group of four sources; a name
// the gazetteer does not know is kept as written.
func TestKromeIsOneFacility(t *testing.T) {
	dir := caseFolder(t, []*itemSpec{
		sub("src-a", answers{"facility": "Krome", "detention_from": "2025-03-10", "detention_to": "2025-03-20"}),
		sub("src-b", answers{"facility": "Krome Detention Center", "detention_from": "2025-03-14"}),
		sub("src-c", answers{"facility": "Krome, Майами", "detention_from": "2025-03", "detention_to": "2025-04"}),
		sub("src-d", answers{"facility": "Кроум", "detention_from": "2025-04-02", "detention_to": "2025-04-09"}),
		sub("src-e", answers{"facility": "ЦВСИГ  Сахарово", "detention_from": "2025-03-14"}),
	})
	a := analyse(loaded(t, dir))
	if n := bar(a.Facilities, "Krome North Service Processing Center"); n != 4 {
		t.Errorf("Krome counted %d times: %+v", n, a.Facilities)
	}
	if n := bar(a.Facilities, "ЦВСИГ Сахарово"); n != 1 {
		t.Errorf("the unknown name is not kept as written: %+v", a.Facilities)
	}
	if got, want := sourceSets(a.Detentions), []string{"src-a,src-b,src-c,src-d"}; !slices.Equal(got, want) {
		t.Errorf("detention groups %q, want %q", got, want)
	}
	page, _ := runReportT(t, dir)
	for _, s := range []string{"Krome North Service Processing Center", "“Krome, Майами”", "“Кроум”", "“Krome Detention Center”", "ЦВСИГ Сахарово"} {
		if !strings.Contains(page, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
}

// TestEgyptIsOneCountry: the transit chart counts one country for its
// names in three languages.
func TestEgyptIsOneCountry(t *testing.T) {
	dir := caseFolder(t, []*itemSpec{
		sub("src-a", answers{"transit_country": "Египет"}),
		sub("src-b", answers{"transit_country": "Egypt"}),
		sub("src-c", answers{"transit_country": "Єгипет"}),
		sub("src-d", answers{"transit_country": "Turkey"}),
	})
	a := analyse(loaded(t, dir))
	if n := bar(a.Transit, "Egypt"); n != 3 || len(a.Transit) != 2 {
		t.Errorf("transit: %+v", a.Transit)
	}
	a = analyseWith(loaded(t, dir), "ru", gazetteer.Default())
	if n := bar(a.Transit, "Египет"); n != 3 {
		t.Errorf("transit in Russian: %+v", a.Transit)
	}
}

// TestSharedFlightWhy: two sources on one flight, one writing its month
// only and the airports in Russian, are one group that says why; a third
// with a different departure is grouped with them by arrival only.
func TestSharedFlightWhy(t *testing.T) {
	dir := caseFolder(t, []*itemSpec{
		sub("src-a", answers{"deport_date": "2025-03-14", "depart_airport": "Alexandria, LA", "transit_country": "Egypt", "arrival_airport": "Sheremetyevo", "flight_treatment": "shackled"}),
		sub("src-b", answers{"deport_date": "2025-03", "depart_airport": "Александрия", "transit_country": "Египет", "arrival_airport": "Москва (Шереметьево)"}),
		sub("src-c", answers{"deport_date": "14.03.2025", "depart_airport": "ELP", "arrival_airport": "SVO"}),
		sub("src-d", answers{"deport_date": "2025-04-01", "depart_airport": "AEX", "transit_country": "Egypt", "arrival_airport": "SVO"}),
	})
	a := analyse(loaded(t, dir))
	if got, want := sourceSets(a.Flights), []string{"src-a,src-b"}; !slices.Equal(got, want) {
		t.Fatalf("flight groups %q, want %q", got, want)
	}
	g := a.Flights[0]
	if g.What != "2025-03-14, AEX → Egypt → SVO" || g.Sources != 2 {
		t.Errorf("flight group: %q, %d sources", g.What, g.Sources)
	}
	want := []reason{
		{"Date of the deportation flight", "2025-03-14", []string{"2025-03", "2025-03-14"}},
		{"The flight left from (airport or town)", "AEX", []string{"Alexandria, LA", "Александрия"}},
		{"Stop-over country, if any", "Egypt", []string{"Egypt", "Египет"}},
		{"Where did you land in the end (airport or town)?", "SVO", []string{"Sheremetyevo", "Москва (Шереметьево)"}},
	}
	if fmt.Sprint(g.Why) != fmt.Sprint(want) {
		t.Errorf("why:\n got %q\nwant %q", g.Why, want)
	}
	if len(g.Rows) != 2 || g.Rows[0].Note != "shackled (legs or waist chain)" {
		t.Errorf("rows: %+v", g.Rows)
	}
	if got, want := sourceSets(a.Arrivals), []string{"src-a,src-b,src-c"}; !slices.Equal(got, want) {
		t.Errorf("arrival groups %q, want %q", got, want)
	}
	page, table := runReportT(t, dir)
	for _, s := range []string{"2025-03-14, AEX → Egypt → SVO", "“Москва (Шереметьево)”", "Shared arrival (1)"} {
		if !strings.Contains(page, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(table, "\uFEFF"))).ReadAll()
	if err != nil || len(rows) != 1+2+3 {
		t.Fatalf("corroboration.csv: %d rows, %v", len(rows), err)
	}
	if rows[1][0] != "flight" || rows[1][4] != "src-a" || !strings.Contains(rows[1][3], "as written: Alexandria, LA; Александрия") {
		t.Errorf("corroboration.csv row: %q", rows[1])
	}
}

// TestFollowupsCountOnce: a source whose follow-up repeats its flight is
// one source, so it makes no group alone, and counts once in one.
func TestFollowupsCountOnce(t *testing.T) {
	flight := answers{"deport_date": "2025-05-02", "depart_airport": "IAH", "arrival_airport": "DME"}
	follow := sub("src-a", flight)
	follow.Kind, follow.Day = crypto.KindFollowup, "2026-02-01"
	alone := caseFolder(t, []*itemSpec{sub("src-a", flight), follow})
	if a := analyse(loaded(t, alone)); len(a.Flights)+len(a.Arrivals) != 0 {
		t.Errorf("one source made a group: %q %q", sourceSets(a.Flights), sourceSets(a.Arrivals))
	}
	follow2 := sub("src-a", flight)
	follow2.Kind, follow2.Day = crypto.KindFollowup, "2026-02-01"
	two := caseFolder(t, []*itemSpec{sub("src-a", flight), follow2, sub("src-b", flight)})
	a := analyse(loaded(t, two))
	if len(a.Flights) != 1 || a.Flights[0].Sources != 2 || len(a.Flights[0].Rows) != 2 || len(a.Flights[0].Rows[0].Items) != 2 {
		t.Fatalf("flights: %+v", a.Flights)
	}
}

// TestChartsLabelled: the charts take their titles and choices from the
// questionnaire in the language asked for, never the raw keys, and the
// months are those of the events told.
func TestChartsLabelled(t *testing.T) {
	s1 := sub("src-a", answers{"conditions": "weight_loss,overcrowding", "flight_treatment": "tied_to_seat", "deport_date": "2024-11-20"})
	s1.Day = "2026-01-10"
	s2 := sub("src-b", answers{"conditions": "weight_loss", "detention_from": "2024-09"})
	s2.Day = "2026-01-12"
	dir := caseFolder(t, []*itemSpec{s1, s2, sub("src-c", answers{})})
	page, _ := runReportT(t, dir, "--lang", "ru")
	for _, s := range []string{"сильно похудел(а)", "переполненные камеры", "привязывали к креслу", "Задержание: Что там происходило?",
		"By the month of the events told", "1 give no month", "2024-09: 1", "2024-11: 1"} {
		if !strings.Contains(page, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	for _, raw := range []string{"weight_loss", "overcrowding", "tied_to_seat", "2026-01: "} {
		if strings.Contains(page, raw) {
			t.Errorf("report.html shows %q", raw)
		}
	}
	if code := run([]string{"report", dir, "--lang", "xx"}); code == 0 {
		t.Error("report --lang xx went through")
	}
}

// TestCorroborationInert: a witness's markup and formulas reach the
// report's page escaped and its spreadsheet neutralised.
func TestCorroborationInert(t *testing.T) {
	const evil = `<script>alert(1)</script>=HYPERLINK("x")`
	dir := caseFolder(t, []*itemSpec{
		sub("src-a", answers{"facility": evil, "detention_from": "2025-01-01", "depart_airport": evil, "arrival_airport": "=1+1", "deport_date": "2025-01-05"}),
		sub("src-b", answers{"facility": evil, "detention_from": "2025-01-02", "depart_airport": evil, "arrival_airport": "=1+1", "deport_date": "2025-01-05"}),
	})
	page, table := runReportT(t, dir)
	if strings.Contains(page, "<script") || !strings.Contains(page, "&lt;script&gt;") {
		t.Error("report.html does not escape a witness's markup")
	}
	checkStatic(t, "report.html", []byte(page))
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(table, "\uFEFF"))).ReadAll()
	if err != nil || len(rows) < 3 {
		t.Fatalf("corroboration.csv: %d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		for _, c := range r {
			for _, piece := range strings.FieldsFunc(c, func(r rune) bool { return strings.ContainsRune(",;\t\r\n", r) }) {
				if formulaAt(piece) {
					t.Errorf("corroboration.csv cell %q: piece %q starts like a formula", c, piece)
				}
			}
		}
	}
}

// TestGroupGazetteer: the folder's gazetteer.json is laid over the
// shipped one, and --gazetteer names another; a broken one is refused.
func TestGroupGazetteer(t *testing.T) {
	dir := caseFolder(t, []*itemSpec{
		sub("src-a", answers{"facility": "Сахарово", "detention_from": "2025-02"}),
		sub("src-b", answers{"facility": "ЦВСИГ в Сахарово", "detention_from": "2025-02-11"}),
	})
	g := `{"format":"testimony-gazetteer/v1","places":[{"id":"sakharovo","kind":"facility","name":{"en":"Sakharovo detention centre for foreigners","ru":"ЦВСИГ Сахарово"},"city":"Moscow","country":"RU","aliases":["Сахарово","ЦВСИГ в Сахарово"]}]}`
	if err := os.WriteFile(filepath.Join(dir, "gazetteer.json"), []byte(g), 0o600); err != nil {
		t.Fatal(err)
	}
	page, _ := runReportT(t, dir)
	if !strings.Contains(page, "Sakharovo detention centre for foreigners, 2025-02<") {
		t.Errorf("the group's gazetteer was not used:\n%s", page)
	}
	other := filepath.Join(t.TempDir(), "g.json")
	os.WriteFile(other, []byte(`{"format":"testimony-gazetteer/v1","places":[{"id":"x","kind":"facility","name":{"en":"X"},"aliases":["Krome"]}]}`), 0o600)
	if code := run([]string{"report", dir, "--gazetteer", other}); code == 0 {
		t.Error("a gazetteer that gives Krome's name to another place went through")
	}
}
