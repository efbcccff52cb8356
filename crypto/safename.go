package crypto

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes bounds a safe file name, in bytes of UTF-8.
const MaxNameBytes = 100

// MaxCleanName bounds a name kept in a manifest ([CleanName]), in bytes of
// UTF-8.
const MaxCleanName = 255

// maxExt is the longest extension, dot included, that SafeName keeps.
const maxExt = 16

// CleanName makes a witness-given file name fit to keep in a manifest:
// valid UTF-8, no control, invisible-format (bidi overrides, zero-width
// characters) or line-separator characters, no surrounding spaces, at most
// 255 bytes. It keeps the name recognisable; it is not yet a safe path.
// CleanName(CleanName(s)) == CleanName(s).
func CleanName(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	var b strings.Builder
	for _, r := range s {
		if unsafeRune(r) {
			b.WriteRune('_')
			continue
		}
		b.WriteRune(r)
	}
	// Trim after cutting too, or a space at the cut would go on the next call.
	return strings.TrimSpace(cutKeepingExt(b.String(), MaxCleanName))
}

// cutKeepingExt cuts s to at most n bytes of UTF-8, keeping its extension
// (up to 16 bytes) at the end.
func cutKeepingExt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	ext := path.Ext(s)
	if len(ext) < 2 || len(ext) > maxExt {
		ext = ""
	}
	return truncateUTF8(strings.TrimSuffix(s, ext), n-len(ext)) + ext
}

// unsafeRune reports the characters a name must not show: controls,
// invisible format characters (Cf, which holds every bidirectional control
// such as U+202E RIGHT-TO-LEFT OVERRIDE), line and paragraph separators, and
// the replacement character that stands for invalid UTF-8.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) ||
		isBidiControl(r) || r == utf8.RuneError
}

// SafeName turns any name into a single path element that is safe to create
// in a directory: no separators, no "." or "..", no control, bidi or other
// invisible characters, no leading dot or dash, no trailing dot, not a
// Windows device name, at most [MaxNameBytes] bytes with the extension (up
// to 16 bytes) kept. An empty result becomes "file". SafeName is
// idempotent.
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
	s = strings.TrimRight(b.String(), ".") // Windows drops trailing dots
	ext := path.Ext(s)                     // "" or a dot and no other dot
	if len(ext) < 2 || len(ext) > maxExt {
		ext = ""
	}
	base := strings.TrimLeft(strings.TrimSuffix(s, ext), ".-_")
	if strings.Trim(base, "._-") == "" {
		base = "file"
	}
	if windowsDevice(base) {
		base = "file-" + base
	}
	base = truncateUTF8(base, MaxNameBytes-len(ext)) // ext kept, as by cutKeepingExt
	if ext == "" {
		base = strings.TrimRight(base, ".") // the cut may leave one
	}
	return base + ext
}

// windowsDevice reports whether name, up to its first dot, is a name
// Windows reserves for a device (CON, NUL, COM1, …), with any extension.
func windowsDevice(name string) bool {
	first, _, _ := strings.Cut(name, ".")
	switch strings.ToUpper(first) {
	case "CON", "PRN", "AUX", "NUL",
		"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9":
		return true
	}
	return false
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
