package crypto

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes bounds a safe file name, in bytes of UTF-8.
const MaxNameBytes = 100

// CleanName makes a witness-given file name fit to keep in a manifest:
// valid UTF-8, no control or bidirectional-override characters, at most
// 255 bytes. It keeps the name recognisable; it is not yet a safe path.
func CleanName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || isBidiControl(r) || r == '\uFFFD' {
			b.WriteRune('_')
			continue
		}
		b.WriteRune(r)
	}
	return truncateUTF8(strings.TrimSpace(b.String()), 255)
}

// SafeName turns any name into a single path element that is safe to create
// in a directory: no separators, no "." or "..", no control or bidi
// characters, no leading dot or dash, at most [MaxNameBytes] bytes with the
// extension kept. An empty result becomes "file".
func SafeName(s string) string {
	s = CleanName(s)
	// Keep only the last element of either kind of path.
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".-()+,", r) {
			b.WriteRune(r)
		} else {
			b.WriteRune('_') // separators, spaces, shell and Windows specials
		}
	}
	s = strings.TrimLeft(b.String(), ".-_")
	ext := path.Ext(s)
	if len(ext) > 16 || strings.ContainsFunc(ext[min(len(ext), 1):], func(r rune) bool { return r == '.' }) {
		ext = ""
	}
	if len(s) > MaxNameBytes {
		base := strings.TrimSuffix(s, ext)
		s = truncateUTF8(base, MaxNameBytes-len(ext)) + ext
	}
	if s == "" || s == "." || s == ".." || strings.Trim(s, "._") == "" {
		return "file" + ext
	}
	return s
}

func isBidiControl(r rune) bool {
	switch {
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069',
		r == '\u200E', r == '\u200F', r == '\u061C', r == '\uFEFF', r >= '\u200B' && r <= '\u200D':
		return true
	}
	return false
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
