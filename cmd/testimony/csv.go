package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"testimony/crypto"
)

// The spreadsheet of a case folder, testimonies.csv: one row per
// submission, every cell made inert for a spreadsheet.

// csvColumns are the answer keys of the spreadsheet: the default form's,
// then any other key found in the items, sorted. A set, not a list, so
// that a crafted item of a great many keys costs linear time, not
// quadratic.
func csvColumns(items []*caseItem) []string {
	var keys []string
	seen := map[string]bool{}
	for _, q := range questions {
		keys = append(keys, q.key)
		seen[q.key] = true
	}
	var extra []string
	for _, it := range items {
		for k := range it.M.Answers {
			if !seen[k] {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	return append(keys, extra...)
}

// writeCSV writes one row per submission, UTF-8 with a byte order mark so
// that spreadsheet programs read Cyrillic right; multiple choices are
// joined with ";". Every cell, the header's too, goes through csvCell.
func writeCSV(w io.Writer, items []*caseItem) error {
	io.WriteString(w, "\uFEFF")
	cw := csv.NewWriter(w)
	cols := csvColumns(items)
	header := append([]string{"source", "withdrawal", "item", "day", "lang", "form", "folder"}, cols...)
	header = append(header, "attachments")
	if err := cw.Write(csvCells(header)); err != nil {
		return err
	}
	row := make([]string, 0, len(header))
	for _, it := range items {
		if it.M.Kind != crypto.KindSubmission {
			continue
		}
		form := ""
		if it.M.Form.ID != "" {
			form = fmt.Sprintf("%s v%d", it.M.Form.ID, it.M.Form.Version)
		}
		row = append(row[:0], it.Info.Source, it.Withdrawal, it.Info.ID, it.M.Day, it.M.Lang, form, it.Dir)
		for _, k := range cols {
			row = append(row, strings.Join(it.M.Answers[k].Values(), ";"))
		}
		var names []string
		for i, a := range it.M.Attachments {
			names = append(names, attachmentFile(i, a))
		}
		row = append(row, strings.Join(names, ";"))
		if err := cw.Write(csvCells(row)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvCells puts every cell of a row through csvCell, in place.
func csvCells(row []string) []string {
	for i, c := range row {
		row[i] = csvCell(c)
	}
	return row
}

// csvCell defuses a cell a spreadsheet would run as a formula (CSV
// injection: a witness's answer, or an item's key, must never become a
// command). Quotes are not enough: a spreadsheet set to split on ";" or a
// tab, as many are in Europe, cuts "LED;=1+1" at the ";" whatever the
// quotes say, and LibreOffice then runs "=1+1". So each piece
// a spreadsheet could take for a cell of its own, the start of the cell
// and whatever follows a ",", ";", tab, CR or newline, gets a "'" before
// it when it starts, after spaces and double quotes, with =, +, -, @, |,
// %, a tab or a CR (or the full-width =, +, -, @): "LED;'=1+1". The "'"
// makes a spreadsheet show the piece as text. Control and bidi characters
// are written visibly, as in the terminal; newlines stay. testimony.txt
// and the pages keep the words untouched.
func csvCell(s string) string {
	s = safeLines(s)
	var b strings.Builder
	piece := true // at the start of a piece
	for i, r := range s {
		if piece && formulaAt(s[i:]) {
			b.WriteByte('\'')
		}
		b.WriteRune(r)
		piece = strings.ContainsRune(",;\t\r\n", r)
	}
	return b.String()
}

// formulaAt reports whether a spreadsheet could take s for a formula: it
// starts, after spaces and double quotes, with a character that starts
// one.
func formulaAt(s string) bool {
	r, _ := utf8.DecodeRuneInString(strings.TrimLeft(s, ` "`))
	return strings.ContainsRune("=+-@|%\t\r\uFF1D\uFF0B\uFF0D\uFF20", r)
}
