package main

import (
	"strconv"
	"strings"
	"time"

	"testimony/gazetteer"
)

// Dates as witnesses give them. The questionnaire's date fields invite
// "YYYY-MM-DD, or just YYYY-MM or YYYY", and people also write "03.2025",
// "14.03.2025" or "март 2025". A date is kept at the precision given: a
// month is the span of its days, and two dates overlap when their spans
// do, so "2025-03" overlaps "2025-03-14" and "2025" overlaps both.

// Precisions of a date.
const (
	precYear = 1 + iota
	precMonth
	precDay
)

// when is a date at the precision the witness gave: the span of days from
// from to to, both included.
type when struct {
	from, to time.Time
	prec     int
}

// overlaps reports whether the spans of w and v share a day.
func (w when) overlaps(v when) bool { return !w.from.After(v.to) && !v.from.After(w.to) }

// String writes w at its precision: "2025", "2025-03" or "2025-03-14".
func (w when) String() string {
	switch w.prec {
	case precYear:
		return w.from.Format("2006")
	case precMonth:
		return w.from.Format("2006-01")
	}
	return w.from.Format(time.DateOnly)
}

// monthNames are the months in the questionnaire's languages, in the
// forms a date is written with (nominative and genitive, abbreviations),
// as gazetteer.Normalise gives them.
var monthNames = func() map[string]int {
	m := map[string]int{}
	for i, names := range []string{
		"january jan январь января янв січень січня enero ene",
		"february feb февраль февраля фев лютий лютого febrero",
		"march mar март марта березень березня marzo",
		"april apr апрель апреля апр квітень квітня abril abr",
		"may май мая травень травня mayo",
		"june jun июнь июня червень червня junio",
		"july jul июль июля липень липня julio",
		"august aug август августа авг серпень серпня agosto ago",
		"september sep sept сентябрь сентября сен сент вересень вересня septiembre setiembre",
		"october oct октябрь октября окт жовтень жовтня octubre",
		"november nov ноябрь ноября ноя листопад листопада noviembre",
		"december dec декабрь декабря дек грудень грудня diciembre dic",
	} {
		for _, n := range strings.Fields(names) {
			m[gazetteer.Normalise(n)] = i + 1
		}
	}
	return m
}()

// yearWords may follow a year ("2025 г.", "2025 года", "2025 року").
var yearWords = map[string]bool{"г": true, "года": true, "году": true, "год": true, "р": true, "року": true, "рік": true, "year": true, "ano": true}

// parseWhen reads a date as a witness wrote it; false when it is not one
// of the forms above, or names no real day.
func parseWhen(s string) (when, bool) {
	if len(s) > 64 {
		return when{}, false
	}
	var nums []string
	month := 0
	for _, w := range strings.Fields(gazetteer.Normalise(s)) {
		switch {
		case yearWords[w]:
		case monthNames[w] > 0 && month == 0:
			month = monthNames[w]
		case isDigits(w) && len(nums) < 3:
			nums = append(nums, w)
		default:
			return when{}, false
		}
	}
	year, day := "", ""
	if month > 0 {
		// "март 2025", "14 марта 2025", "March 14, 2025"
		for _, n := range nums {
			switch {
			case len(n) == 4 && year == "":
				year = n
			case len(n) <= 2 && day == "":
				day = n
			default:
				return when{}, false
			}
		}
		return makeWhen(year, strconv.Itoa(month), day)
	}
	switch len(nums) {
	case 1: // 2025
		return makeWhen(nums[0], "", "")
	case 2: // 2025-03, 03.2025
		if len(nums[0]) == 4 {
			return makeWhen(nums[0], nums[1], "")
		}
		return makeWhen(nums[1], nums[0], "")
	case 3: // 2025-03-14, 14.03.2025
		if len(nums[0]) == 4 {
			return makeWhen(nums[0], nums[1], nums[2])
		}
		if strings.Contains(s, "/") {
			// 03/04/2025 is the 3rd of April in Europe and March 4th in
			// the United States: not read.
			return when{}, false
		}
		return makeWhen(nums[2], nums[1], nums[0])
	}
	return when{}, false
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// makeWhen checks the parts (year of four digits, month and day of one or
// two) and gives the span they name.
func makeWhen(year, month, day string) (when, bool) {
	if len(year) != 4 || len(month) > 2 || len(day) > 2 || month == "" && day != "" {
		return when{}, false
	}
	y, _ := strconv.Atoi(year)
	if y < 1900 || y > 2200 {
		return when{}, false
	}
	if month == "" {
		from := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return when{from, from.AddDate(1, 0, -1), precYear}, true
	}
	mo, _ := strconv.Atoi(month)
	if mo < 1 || mo > 12 {
		return when{}, false
	}
	if day == "" {
		from := time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC)
		return when{from, from.AddDate(0, 1, -1), precMonth}, true
	}
	d, _ := strconv.Atoi(day)
	t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC)
	if d < 1 || t.Day() != d {
		return when{}, false // 2025-02-30
	}
	return when{t, t, precDay}, true
}
