package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/armor"

	"testimony/crypto"
)

// unknownSource is the source folder of an item opened on its own, outside
// a bundle: only a bundle's index.json says whose it is.
const unknownSource = "unknown-source"

// partialDir holds items being written; each moves to its place only once
// the age authentication of its last chunk has passed.
const partialDir = ".partial"

func runOpen(args []string) error {
	fl := newFlags("open")
	var idFiles multiFlag
	fl.Var(&idFiles, "i", "read the identities (secret keys) from `FILE`; repeatable")
	dir := fl.String("o", "cases", "write the cases into `DIR`")
	var formArgs multiFlag
	fl.Var(&formArgs, "form", "read the site's questionnaire from `FILE` (the organisation's DATA/questionnaire.json), for its questions' labels; repeatable")
	files, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	for _, f := range formArgs {
		if err := loadFormFile(f); err != nil {
			errorf("--form %v", err)
			return errUsage
		}
	}
	if len(idFiles) == 0 {
		errorf("open needs -i IDENTITY, the file of your secret key")
		return errUsage
	}
	if len(files) == 0 {
		errorf("open needs at least one item (.age) or bundle to open")
		return errUsage
	}
	ids, err := readIdentities(idFiles)
	if err != nil {
		return err
	}
	signKey, sign := loadSignKey(idFiles) // custody.go
	res, err := openInto(ids, *dir, files)
	if err != nil {
		return err
	}
	if sign && len(res.ids) > 0 {
		if err := appendCustody(*dir, signKey, "open", res.ids, "opened from "+fileNames(files)); err != nil {
			warnf("%d items opened but not recorded in %s: %v", len(res.ids), filepath.Join(*dir, custodyName), err)
		}
	}
	infof("%d opened, %d already in %s, %d failed", res.opened, res.skipped, *dir, res.failed)
	if res.failed > 0 {
		return errFailed
	}
	return nil
}

func readIdentities(files []string) ([]age.Identity, error) {
	var ids []age.Identity
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		got, err := crypto.ParseIdentities(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// openResult counts what open did.
type openResult struct {
	opened, skipped, failed int
	ids                     []string // the items opened, for the custody log
}

// opener decrypts items into one output folder. Every path it creates goes
// through root, so nothing lands outside the folder and no symbolic link in
// it is followed out of it.
type opener struct {
	ids  []age.Identity
	root *os.Root
	res  openResult
	buf  []byte
	jobs chan func() // derived files, written by one worker goroutine
}

// openInto opens each file (an item or a bundle) into dir, then writes the
// folder's spreadsheet, pages and cases.db.
func openInto(ids []age.Identity, dir string, files []string) (*openResult, error) {
	return openIntoOf(ids, dir, files, true)
}

// openIntoOf is openInto, without cases.db unless withDB.
func openIntoOf(ids []age.Identity, dir string, files []string, withDB bool) (*openResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	o := &opener{ids: ids, root: root, buf: make([]byte, 256<<10), jobs: make(chan func(), 1)}
	worker := make(chan struct{})
	go func() {
		defer close(worker)
		for job := range o.jobs {
			job()
		}
	}()
	for _, f := range files {
		o.openFile(f)
	}
	close(o.jobs)
	<-worker
	root.Remove(partialDir) // only if empty: another open may be running
	if left, err := fs.ReadDir(root.FS(), partialDir); err == nil && len(left) > 0 {
		warnf("%s holds %d unfinished items, left by an interrupted open or being written by another one; delete it once no open is running",
			filepath.Join(dir, partialDir), len(left))
	}
	if err := writeIndexOf(root, withDB); err != nil { // triage.go: the CSV, the pages, cases.db
		return &o.res, fmt.Errorf("writing the index of %s: %v", dir, err)
	}
	return &o.res, nil
}

func (o *opener) fail(format string, args ...any) {
	o.res.failed++
	errorf(format, args...)
}

type fileKind int

const (
	kindUnknown fileKind = iota
	kindItem
	kindArmoredItem
	kindBundle
)

// sniff tells an age file from a bundle by its first bytes, and rewinds.
func sniff(f io.ReadSeeker) (fileKind, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return kindUnknown, err
	}
	head = head[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return kindUnknown, err
	}
	switch {
	case bytes.HasPrefix(head, []byte("age-encryption.org/v1\n")):
		return kindItem, nil
	case bytes.HasPrefix(bytes.TrimSpace(head), []byte("-----BEGIN AGE ENCRYPTED FILE-----")):
		return kindArmoredItem, nil
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return kindBundle, nil
	}
	return kindUnknown, nil
}

func (o *opener) openFile(name string) {
	f, err := os.Open(name)
	if err != nil {
		o.fail("%v", err)
		return
	}
	defer f.Close()
	kind, err := sniff(f)
	if err != nil {
		o.fail("%s: %v", name, err)
		return
	}
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	bar := newProgress(filepath.Base(name), size)
	defer bar.finish()
	r := &progressReader{r: f, p: bar}
	switch kind {
	case kindItem, kindArmoredItem:
		var src io.Reader = bufio.NewReaderSize(r, 256<<10)
		if kind == kindArmoredItem {
			src = armor.NewReader(src)
		}
		id, err := loneItemID(name, f)
		if err != nil {
			o.fail("%s: %v", name, err)
			return
		}
		x := o.extract(name, src, itemRef{id: id, source: unknownSource})
		if x != nil {
			o.place(name, x)
		}
	case kindBundle:
		o.openBundle(name, f, r)
	default:
		o.fail("%s: neither an age item nor a bundle", name)
	}
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// loneItemID names an item opened on its own: by its file name when that
// is an item id (as the investigator site names downloads), else by the
// SHA-256 of its bytes, so that two files called item.age are two items
// and the same file opened twice is one.
func loneItemID(name string, f io.ReadSeeker) (string, error) {
	base := strings.TrimSuffix(filepath.Base(name), ".age")
	if hexID.MatchString(base) {
		return base, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// itemRef is what is known of an item before it is decrypted: from a
// bundle's index.json, or only a name for a lone item.
type itemRef struct {
	id, source string
	kind, day  string // from index.json; empty for a lone item
}

// itemInfo is written as item.json beside each item's manifest: what the
// bundle said of the item, which the manifest does not hold.
type itemInfo struct {
	ID     string `json:"id"`
	Source string `json:"source"`
	Kind   string `json:"kind"`
	Day    string `json:"day"`
	// Images lists the JPEG and PNG attachments and their working copies.
	Images []imageNote `json:"images,omitempty"`
	// Active lists the attachments a browser could run as a page, and
	// their text copies.
	Active []activeNote `json:"active,omitempty"`
}

// image returns the note of an image attachment, nil for another file.
func (info *itemInfo) image(file string) *imageNote {
	for i := range info.Images {
		if info.Images[i].File == file {
			return &info.Images[i]
		}
	}
	return nil
}

// active returns the note of an attachment a browser could run, nil for
// another file. An item opened before item.json listed them is judged by
// the file's extension alone.
func (info *itemInfo) active(file string) *activeNote {
	for i := range info.Active {
		if info.Active[i].File == file {
			return &info.Active[i]
		}
	}
	if info.Active == nil && activeExt(file) {
		return &activeNote{File: file}
	}
	return nil
}

// reservedNames are the files open, report and share write at the root
// of the case folder (share's log goes next to its bundle, which may be
// there). Source names come from a bundle's index.json, which is not
// authenticated: a source named like one of these files was a folder
// where the file goes, and broke every later open of the folder (issue
// 17). Compared without case, for the file
// systems of macOS and Windows.
var reservedNames = []string{"index.html", "testimonies.csv", "report.html", "index.json", "shared.log", custodyName, partialDir, triageDir, casesDB}

// sourceFolder is the folder name of a source pseudonym. A pseudonym
// named like a file of the folder's root gets "source-" before it (the
// server's pseudonyms are "s-" and letters, so none is renamed onto
// another).
func sourceFolder(source string) string {
	if source == "" {
		return unknownSource
	}
	name := crypto.SafeName(source)
	for _, r := range reservedNames {
		if strings.EqualFold(name, r) {
			return "source-" + name
		}
	}
	return name
}

// itemFolder is where an item goes: <source>/<day>-<kind>-<id8>, so that a
// source's items sort in day order.
func itemFolder(source, day, kind, id string) string {
	id8 := id
	if utf8.RuneCountInString(id8) > 8 {
		id8 = string([]rune(id8)[:8])
	}
	return path.Join(sourceFolder(source), day+"-"+kind+"-"+id8)
}
