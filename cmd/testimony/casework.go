package main

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"testimony/crypto"
)

// The case folder written by open: <source>/<day>-<kind>-<id8>/ per item,
// and at its root testimonies.csv (one row per submission) and index.html
// (every case, linking each item's page). Both are rebuilt from the item
// folders after every open, so an incremental open keeps them complete.

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

// caseItem is one item of the case folder, read back.
type caseItem struct {
	Dir  string // <source>/<day>-<kind>-<id8>
	Info itemInfo
	M    *crypto.Manifest
	// Withdrawal is set when the item's source took its account back:
	// "consent withdrawn" or "deletion requested" (withdrawal.go).
	Withdrawal string
}

var kindOrder = map[string]int{crypto.KindSubmission: 0, crypto.KindFollowup: 1, crypto.KindReply: 2,
	crypto.KindWithdrawal: 3, crypto.KindErasure: 4}

// loadCases reads every item folder under root, sorted by source, then
// day, each marked when its source took its account back
// (markWithdrawals). Folders that cannot be read are reported and left
// out.
//
// The folders are read by a few goroutines: a case folder of thousands of
// items costs two opens (each a walk of the path under root) and two JSON
// decodes per item, which one core does at well under the disk's pace.
func loadCases(root *os.Root) ([]*caseItem, error) {
	fsys := root.FS()
	sources, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, s := range sources {
		if !s.IsDir() || strings.HasPrefix(s.Name(), ".") {
			continue
		}
		ds, err := fs.ReadDir(fsys, s.Name())
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
				dirs = append(dirs, s.Name()+"/"+d.Name())
			}
		}
	}
	loaded := make([]*caseItem, len(dirs))
	errs := make([]error, len(dirs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(2*runtime.GOMAXPROCS(0), len(dirs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				loaded[i], errs[i] = loadCase(root, dirs[i])
			}
		}()
	}
	for i := range dirs {
		next <- i
	}
	close(next)
	wg.Wait()
	items := make([]*caseItem, 0, len(dirs))
	for i, it := range loaded {
		if errs[i] != nil {
			warnf("%s: not an item folder (%v); left out", dirs[i], errs[i])
			continue
		}
		items = append(items, it)
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Info.Source != b.Info.Source {
			return a.Info.Source < b.Info.Source
		}
		if a.M.Day != b.M.Day {
			return a.M.Day < b.M.Day
		}
		if kindOrder[a.M.Kind] != kindOrder[b.M.Kind] {
			return kindOrder[a.M.Kind] < kindOrder[b.M.Kind]
		}
		return a.Info.ID < b.Info.ID
	})
	markWithdrawals(items)
	return items, nil
}

// loadCase reads the item folder dir.
func loadCase(root *os.Root, dir string) (*caseItem, error) {
	it := &caseItem{Dir: dir, M: new(crypto.Manifest)}
	ij, err := root.ReadFile(dir + "/item.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(ij, &it.Info); err != nil {
		return nil, err
	}
	mj, err := root.ReadFile(dir + "/" + crypto.ManifestName)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(mj, it.M); err != nil {
		return nil, err
	}
	// What open would refuse today (too many answers, say) is left out
	// too, if an older open let it in.
	if err := it.M.Validate(); err != nil {
		return nil, err
	}
	return it, nil
}

// replaceFile writes name (a path in root) through a temporary file beside
// it, synced, and a rename, so a reader never sees half of it and a crash
// leaves the old file or the new one.
func replaceFile(root *os.Root, name string, data []byte) error {
	b := make([]byte, 6)
	rand.Read(b)
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+"."+hex.EncodeToString(b))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err1 := f.Close(); err == nil {
		err = err1
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
	}
	return err
}

// writeCasework rebuilds testimonies.csv and index.html from the folder,
// and says which sources took their account back.
func writeCasework(root *os.Root) error {
	items, err := loadCases(root)
	if err != nil {
		return err
	}
	warnWithdrawals(markWithdrawals(items))
	var csvBuf bytes.Buffer
	if err := writeCSV(&csvBuf, items); err != nil {
		return err
	}
	if err := replaceFile(root, "testimonies.csv", csvBuf.Bytes()); err != nil {
		return err
	}
	var page bytes.Buffer
	if err := indexPage.Execute(&page, indexView(items)); err != nil {
		return err
	}
	return replaceFile(root, "index.html", page.Bytes())
}

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

// Views for the templates.

type answerRow struct {
	Key, Label, Text string
	Long             bool
}

type fileLink struct {
	Name, Href string
	Size       int64
	Type       string
	Note       string // for an image: what the working copy lost
	Clean      string // href of the working copy
	GPS        bool
	GPSUnknown bool // no working copy: not all of it was searched
	IsImage    bool
	Active     string // why the original is not linked (Href is empty)
	Text       string // href of its text copy
}

type itemViewT struct {
	Dir, Href, Source, ID, Kind, Day, Lang string
	Withdrawal                             string // as caseItem's
	Answers                                []answerRow
	Files                                  []fileLink
	Key                                    []answerRow // the form's summary answers, for the index
	GPSAny                                 bool
}

// itemView prepares an item for a page; base is the item's folder as seen
// from the page ("" for its own page).
func itemView(it *caseItem, base string) itemViewT {
	v := itemViewT{Dir: it.Dir, Href: base + "testimony.html", Source: it.Info.Source, ID: it.Info.ID,
		Kind: it.M.Kind, Day: it.M.Day, Lang: it.M.Lang, Withdrawal: it.Withdrawal}
	for _, k := range answerKeys(it.M) {
		t := answerShown(it.M, k)
		row := answerRow{Key: k, Label: answerLabel(it.M, k), Text: t, Long: strings.Contains(t, "\n") || len(t) > 80}
		v.Answers = append(v.Answers, row)
		if isSummary(it.M, k) && t != "" {
			v.Key = append(v.Key, row)
		}
	}
	for i, a := range it.M.Attachments {
		file := attachmentFile(i, a)
		l := fileLink{Name: file, Href: base + "attachments/" + file, Size: a.Size, Type: a.Type,
			Note: metadataNotChecked}
		if act := it.Info.active(file); act != nil {
			l.Href, l.Active = "", activeWarning
			if act.Text != "" {
				l.Text = base + "attachments/" + act.Text
			}
		}
		if n := it.Info.image(file); n != nil {
			l.IsImage = true
			l.GPS = n.GPS
			if n.GPS {
				v.GPSAny = true
			}
			if n.Clean != "" {
				l.Clean = base + "attachments/" + n.Clean
			}
			switch {
			case n.Error != "":
				l.Note = n.Format + ", no working copy (" + n.Error + "): metadata not checked"
				l.GPSUnknown = !n.GPS
			case len(n.Stripped) == 0:
				l.Note = n.Format + ", no metadata found"
			default:
				l.Note = n.Format + ", removed from the working copy: " + strings.Join(n.Stripped, ", ")
			}
		}
		v.Files = append(v.Files, l)
	}
	return v
}

type sourceView struct {
	Name       string
	Withdrawal string // as caseItem's
	Items      []itemViewT
}

type indexViewT struct {
	Sources     []sourceView
	Items       int
	Submissions int
}

func indexView(items []*caseItem) indexViewT {
	var v indexViewT
	for _, it := range items {
		if len(v.Sources) == 0 || v.Sources[len(v.Sources)-1].Name != it.Info.Source {
			v.Sources = append(v.Sources, sourceView{Name: it.Info.Source, Withdrawal: it.Withdrawal})
		}
		s := &v.Sources[len(v.Sources)-1]
		s.Items = append(s.Items, itemView(it, pathEscape(it.Dir)+"/"))
		v.Items++
		if it.M.Kind == crypto.KindSubmission {
			v.Submissions++
		}
	}
	return v
}

// pathEscape escapes each element of a relative path for an href.
func pathEscape(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = (&urlPath{s}).String()
	}
	return strings.Join(parts, "/")
}

type urlPath struct{ s string }

func (u *urlPath) String() string {
	var b strings.Builder
	for _, c := range []byte(u.s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~()+,", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

var funcs = template.FuncMap{
	"kib": func(n int64) string {
		switch {
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d bytes", n)
	},
	"base": path.Base,
}
