package main

import (
	"testing"
)

// TestParseWhen: the forms the questionnaire invites and those witnesses
// use, each kept at its precision; and what is not a date.
func TestParseWhen(t *testing.T) {
	for in, want := range map[string]string{
		"2025": "2025", "2025-03": "2025-03", "2025-3": "2025-03", "2025-03-14": "2025-03-14",
		" 2025-03-14 ": "2025-03-14", "2025/03/14": "2025-03-14", "14.03.2025": "2025-03-14",
		"03.2025": "2025-03", "3.2025": "2025-03", "март 2025": "2025-03", "марта 2025 г.": "2025-03",
		"14 марта 2025": "2025-03-14", "березень 2025": "2025-03", "14 березня 2025 року": "2025-03-14",
		"March 2025": "2025-03", "March 14, 2025": "2025-03-14", "Mar 2025": "2025-03",
		"14 de marzo de 2025": "2025-03-14", "marzo 2025": "2025-03", "май 2024": "2024-05", "2024 год": "2024",
		"2024-02-29": "2024-02-29",
		// Not dates.
		"": "", "2025-13": "", "2025-02-30": "", "2023-02-29": "", "1800": "", "25": "", "03-14": "",
		"early March 2025": "", "март": "", "2025 2026": "", "март апрель 2025": "", "14.03.25": "",
		"00.2025": "", "2025-00-10": "", "2025-01-00": "", "12345": "", "03/04/2025": "", "14/03/2025": "",
	} {
		w, ok := parseWhen(in)
		got := ""
		if ok {
			got = w.String()
		}
		if got != want {
			t.Errorf("parseWhen(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOverlap: dates overlap at the precision given.
func TestOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"2025-03", "2025-03-14", true}, {"2025-03", "2025-03-31", true}, {"2025-03", "2025-04-01", false},
		{"2025", "2025-12-31", true}, {"2025", "2026-01", false}, {"2025-03-14", "2025-03-14", true},
		{"2025-03-14", "2025-03-15", false}, {"2025-02", "2025-03", false}, {"2024-02", "2024-02-29", true},
	} {
		a, ok1 := parseWhen(c.a)
		b, ok2 := parseWhen(c.b)
		if !ok1 || !ok2 {
			t.Fatalf("%q, %q: not dates", c.a, c.b)
		}
		if a.overlaps(b) != c.want || b.overlaps(a) != c.want {
			t.Errorf("%s overlaps %s: %v, want %v", c.a, c.b, a.overlaps(b), c.want)
		}
	}
}

// FuzzParseWhen: no input makes the parser panic; a date it reads spans
// forwards, and reads back the same from how it is written.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"2025", "2025-03-14", "14.03.2025", "март 2025", "14 de marzo de 2025", "9999-99-99", "\xff", "2025-02-29"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, ok := parseWhen(s)
		if !ok {
			return
		}
		if w.to.Before(w.from) {
			t.Errorf("parseWhen(%q): %v before %v", s, w.to, w.from)
		}
		v, ok := parseWhen(w.String())
		if !ok || v != w {
			t.Errorf("parseWhen(%q) = %v, which reads back as %v, %v", s, w, v, ok)
		}
	})
}
