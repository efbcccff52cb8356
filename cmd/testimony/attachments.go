package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path"
	"strings"

	"testimony/crypto"
)

// The working copies of attachments: images without their metadata, and
// text copies of files a browser would run as pages.

// imageNote records a JPEG or PNG attachment and its working copy.
type imageNote struct {
	File     string   `json:"file"`            // the original, untouched
	Clean    string   `json:"clean,omitempty"` // the working copy without metadata
	Format   string   `json:"format"`
	GPS      bool     `json:"gps"`
	Stripped []string `json:"stripped"`
	Error    string   `json:"error,omitempty"` // why there is no working copy
}

// maxStrip bounds the images that get a working copy (they are read whole).
const maxStrip = 32 << 20

// writeDerived writes the files made from a checked item: working copies
// of its images, text copies of its attachments that a browser could run,
// item.json, testimony.txt and testimony.html.
func writeDerived(dir, att *os.Root, m *crypto.Manifest, info itemInfo) error {
	for i, a := range m.Attachments {
		file := attachmentFile(i, a)
		note, act, err := deriveCopies(att, file, a.Size)
		if err != nil {
			return err
		}
		if note != nil {
			info.Images = append(info.Images, *note)
		}
		if act != nil {
			info.Active = append(info.Active, *act)
		}
	}
	ij, _ := json.MarshalIndent(info, "", "  ")
	if err := writeFile(dir, "item.json", append(ij, '\n')); err != nil {
		return err
	}
	if err := writeFile(dir, "testimony.txt", testimonyText(m, info)); err != nil {
		return err
	}
	var page bytes.Buffer
	if err := itemPage.Execute(&page, itemView(&caseItem{Info: info, M: m}, "")); err != nil {
		return err
	}
	return writeFile(dir, "testimony.html", page.Bytes())
}

// deriveCopies makes the working copy of a JPEG or PNG attachment, or the
// text copy of one a browser could run as a page; both nil for others.
func deriveCopies(dir *os.Root, file string, size int64) (*imageNote, *activeNote, error) {
	f, err := dir.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if format := imageFormat(head); format != "" {
		note, err := cleanCopy(dir, f, file, format, size)
		return note, nil, err
	}
	if !activeExt(file) && !(unknownExt(file) && looksLikeMarkup(head)) {
		return nil, nil, nil
	}
	act := &activeNote{File: file}
	if size > maxStrip {
		return nil, act, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	out, err := createFile(dir, textCopyName(file))
	if err != nil {
		return nil, nil, err
	}
	_, err = io.Copy(out, io.LimitReader(f, maxStrip))
	if err1 := out.Close(); err == nil {
		err = err1
	}
	if err != nil {
		return nil, nil, err
	}
	act.Text = textCopyName(file)
	return nil, act, nil
}

// cleanCopy makes the working copy of an image attachment f.
func cleanCopy(dir *os.Root, f *os.File, file, format string, size int64) (*imageNote, error) {
	note := &imageNote{File: file, Format: format, Stripped: []string{}}
	if size > maxStrip {
		note.Error = "too large for a working copy"
		return note, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	src, err := io.ReadAll(io.LimitReader(f, maxStrip+1))
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	res, err := stripImage(&out, src)
	note.GPS = res.GPS
	if res.Stripped != nil {
		note.Stripped = res.Stripped
	}
	if err != nil {
		note.Error = "could not be read: " + err.Error()
		return note, nil
	}
	note.Clean = cleanName(file, format)
	if err := writeFile(dir, note.Clean, out.Bytes()); err != nil {
		return nil, err
	}
	return note, nil
}

// Attachments that could run script. The pages open writes are read from
// file://, where a browser takes a file's type from its extension: an
// attachment named .html or .svg would open as a live page, its scripts
// running with the reach of a local file. Such an attachment is
// not linked: the page links a copy of it named .txt instead, which a
// browser shows as text, and says why. A file with an extension a browser
// does not know, or none, is sniffed, so it counts too when it starts
// like markup.

// activeNote records an attachment a browser could run as a page.
type activeNote struct {
	File string `json:"file"`           // the original, untouched, not linked
	Text string `json:"text,omitempty"` // its text copy; none over maxStrip
}

// activeWarning says, on the page and in testimony.txt, why an
// attachment is not linked.
const activeWarning = "not linked: a browser could run this file as a page with scripts; read the text copy, or open the original only with a program that does not run scripts"

// metadataNotChecked is said of every attachment that is not a JPEG or PNG.
const metadataNotChecked = "metadata not checked: only JPEG and PNG get a working copy without metadata; this file may still say where, when or by whom it was made"

// activeExts are the extensions a browser opens as a document that can
// run script (HTML, SVG, XML with XSLT or an XHTML body, web archives).
var activeExts = map[string]bool{".html": true, ".htm": true, ".xhtml": true, ".xht": true, ".shtml": true,
	".svg": true, ".svgz": true, ".xml": true, ".xsl": true, ".xslt": true, ".mht": true, ".mhtml": true}

// passiveExts are extensions a browser shows as media or text, hands to
// its PDF viewer (whose scripts, if any, run in the viewer's sandbox, not
// in the page), or downloads.
var passiveExts = map[string]bool{}

func init() {
	for _, e := range strings.Fields(`.jpg .jpeg .png .gif .webp .bmp .heic .heif .avif .tif .tiff
		.mp3 .m4a .aac .ogg .oga .opus .wav .flac .amr .mp4 .m4v .mov .webm .mkv .3gp .avi
		.pdf .txt .csv .doc .docx .odt .rtf .xls .xlsx .ods .ppt .pptx .odp .zip .7z .rar .gz .tar .eml`) {
		passiveExts[e] = true
	}
}

func fileExt(file string) string { return strings.ToLower(path.Ext(file)) }

// activeExt reports a file a browser opens as a page by its extension.
func activeExt(file string) bool { return activeExts[fileExt(file)] }

// unknownExt reports a file whose extension gives a browser no type.
func unknownExt(file string) bool { return !activeExts[fileExt(file)] && !passiveExts[fileExt(file)] }

// looksLikeMarkup reports a file that starts, after white space and a
// byte order mark, with "<": what a browser's sniffer takes for HTML or XML.
func looksLikeMarkup(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF"))
	head = bytes.TrimLeft(head, " \t\r\n\f")
	return len(head) > 0 && head[0] == '<'
}

// textCopyName is the name of an attachment's text copy:
// "01-page.html" gives "01-page.html.txt".
func textCopyName(file string) string { return file + ".txt" }
