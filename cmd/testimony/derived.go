package main

import (
	"bytes"
	"fmt"
	"strings"

	"testimony/crypto"
)

// testimonyText renders an item as plain text: what it is, the answers in
// questionnaire order, and the attachments. It is read with cat and less,
// so every text from the item goes through safeText (a multi-line answer
// line by line): control and bidi characters show as \x1b, \u202e.
func testimonyText(m *crypto.Manifest, info itemInfo) []byte {
	e := safeText
	var b bytes.Buffer
	fmt.Fprintf(&b, "Testimony: %s of %s\n", e(m.Kind), e(m.Day))
	fmt.Fprintf(&b, "Item:      %s\n", e(info.ID))
	fmt.Fprintf(&b, "Source:    %s\n", e(info.Source))
	if m.Lang != "" {
		fmt.Fprintf(&b, "Language:  %s\n", e(m.Lang))
	}
	if m.Form.ID != "" {
		fmt.Fprintf(&b, "Form:      %s, version %d\n", e(m.Form.ID), m.Form.Version)
	}
	b.WriteString("\nAnswers\n-------\n")
	keys := answerKeys(m)
	if len(keys) == 0 {
		b.WriteString("(none)\n")
	}
	for _, k := range keys {
		text := answerShown(m, k)
		label := answerLabel(m, k)
		if strings.Contains(text, "\n") || len(text) > 60 {
			fmt.Fprintf(&b, "%s (%s):\n", e(label), e(k))
			for _, line := range strings.Split(text, "\n") {
				fmt.Fprintf(&b, "    %s\n", e(strings.TrimRight(line, "\r")))
			}
			continue
		}
		fmt.Fprintf(&b, "%s (%s): %s\n", e(label), e(k), e(text))
	}
	b.WriteString("\nAttachments (folder attachments/)\n---------------------------------\n")
	if len(m.Attachments) == 0 {
		b.WriteString("(none)\n")
	}
	for i, a := range m.Attachments {
		file := attachmentFile(i, a)
		fmt.Fprintf(&b, "%s  %d bytes, %s, sha256 %s\n", e(file), a.Size, e(orUnknown(a.Type)), e(a.SHA256))
		if crypto.SafeName(a.Name) != a.Name {
			fmt.Fprintf(&b, "    name given by the witness: %q\n", a.Name)
		}
		n := info.image(file)
		if n == nil {
			fmt.Fprintf(&b, "    %s\n", metadataNotChecked)
		} else {
			gps := yesNo(n.GPS)
			if n.Error != "" && !n.GPS {
				gps = "not checked"
			}
			fmt.Fprintf(&b, "    %s; GPS present: %s\n", n.Format, gps)
			switch {
			case n.Error != "":
				fmt.Fprintf(&b, "    no working copy (%s): metadata not checked\n", e(n.Error))
			case len(n.Stripped) > 0:
				fmt.Fprintf(&b, "    working copy %s, without: %s\n", e(n.Clean), e(strings.Join(n.Stripped, ", ")))
			default:
				fmt.Fprintf(&b, "    working copy %s (no metadata found)\n", e(n.Clean))
			}
		}
		if act := info.active(file); act != nil {
			fmt.Fprintf(&b, "    %s\n", activeWarning)
			if act.Text != "" {
				fmt.Fprintf(&b, "    text copy %s\n", e(act.Text))
			}
		}
	}
	return b.Bytes()
}

func orUnknown(s string) string {
	if s == "" {
		return "type unknown"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
