package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/armor"

	"testimony/bundle"
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
	res, err := openInto(ids, *dir, files)
	if err != nil {
		return err
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
// folder's spreadsheet and index.
func openInto(ids []age.Identity, dir string, files []string) (*openResult, error) {
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
	if err := writeCasework(root); err != nil {
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
var reservedNames = []string{"index.html", "testimonies.csv", "report.html", "index.json", "shared.log", partialDir}

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

// extracted is an item decrypted and checked into a temporary folder,
// ready to move to its place once its derived files are written.
type extracted struct {
	tmp, final string
	done       chan error // the derived files' outcome
	waited     bool
	err        error
}

// wait returns once the derived files of x are written (or failed); the
// temporary folder must not be moved or removed before.
func (x *extracted) wait() error {
	if !x.waited {
		x.err, x.waited = <-x.done, true
	}
	return x.err
}

// drop removes an extracted item that will not be placed.
func (o *opener) drop(x *extracted) {
	x.wait()
	o.root.RemoveAll(x.tmp)
}

func (o *opener) exists(name string) bool {
	_, err := o.root.Lstat(name)
	return err == nil
}

func (o *opener) tempDir() (string, error) {
	b := make([]byte, 8)
	rand.Read(b)
	name := partialDir + "/" + hex.EncodeToString(b)
	err := o.root.Mkdir(name, 0o700)
	if errors.Is(err, fs.ErrNotExist) { // first item, or another open removed it
		if err := o.root.MkdirAll(partialDir, 0o700); err != nil {
			return "", err
		}
		err = o.root.Mkdir(name, 0o700)
	}
	return name, err
}

// createFile creates a new file in dir; it never replaces one.
func createFile(dir *os.Root, name string) (*os.File, error) {
	return dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

func writeFile(dir *os.Root, name string, data []byte) error {
	f, err := createFile(dir, name)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err1 := f.Close(); err == nil {
		err = err1
	}
	return err
}

// extract decrypts one item from r into a temporary folder. what names the
// item in messages. It returns nil when the item was not extracted: it is
// already in the folder, or it failed (and was reported).
func (o *opener) extract(what string, r io.Reader, ref itemRef) *extracted {
	er, err := crypto.OpenEnvelope(r, o.ids...)
	if err != nil {
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			o.fail("%s: cannot decrypt with this identity (not encrypted to it)", what)
			return nil
		}
		if errors.Is(err, crypto.ErrBadManifest) {
			o.fail("%s: refused: %v", what, err)
			return nil
		}
		o.fail("%s: damaged or truncated: %v", what, err)
		return nil
	}
	m := er.Manifest()
	if ref.kind != "" && (ref.kind != m.Kind || ref.day != m.Day) {
		o.fail("%s: index.json says %s of %s, the item says %s of %s: not opened", what, ref.kind, ref.day, m.Kind, m.Day)
		return nil
	}
	final := itemFolder(ref.source, m.Day, m.Kind, ref.id)
	if o.exists(final) {
		o.res.skipped++
		return nil
	}
	tmp, err := o.tempDir()
	if err != nil {
		o.fail("%s: %v", what, err)
		return nil
	}
	derive, err := o.writeItem(tmp, er, ref)
	if err != nil {
		o.root.RemoveAll(tmp)
		if errors.Is(err, errOutput) {
			o.fail("%s: %v", what, err)
		} else {
			o.fail("%s: damaged or truncated: %v", what, err)
		}
		return nil
	}
	// The derived files (pages, working copies) are written by another
	// goroutine while the next item is decrypted.
	x := &extracted{tmp: tmp, final: final, done: make(chan error, 1)}
	o.jobs <- func() { x.done <- derive() }
	return x
}

// errOutput wraps errors in writing the output folder, as opposed to
// errors in the item.
var errOutput = errors.New("writing the output folder")

func outErr(err error) error { return fmt.Errorf("%w: %v", errOutput, err) }

// writeItem writes the manifest and attachments and checks the rest of the
// item (Finish). It returns the function that then writes the derived
// files, which owns the item's folder from then on.
func (o *opener) writeItem(tmp string, er *crypto.EnvelopeReader, ref itemRef) (derive func() error, err error) {
	// Roots at the item's folders: one openat per file created, not one
	// per path element.
	dir, err := o.root.OpenRoot(tmp)
	if err != nil {
		return nil, outErr(err)
	}
	var att *os.Root
	defer func() {
		if derive == nil {
			dir.Close()
			if att != nil {
				att.Close()
			}
		}
	}()
	m := er.Manifest()
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFile(dir, crypto.ManifestName, append(mj, '\n')); err != nil {
		return nil, outErr(err)
	}
	if err := dir.Mkdir("attachments", 0o700); err != nil {
		return nil, outErr(err)
	}
	att, err = dir.OpenRoot("attachments")
	if err != nil {
		return nil, outErr(err)
	}
	for i := 0; ; i++ {
		a, r, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		f, err := createFile(att, attachmentFile(i, a))
		if err != nil {
			return nil, outErr(err)
		}
		_, err = copyTo(f, r, o.buf)
		if err1 := f.Close(); err == nil && err1 != nil {
			err = outErr(err1)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := er.Finish(); err != nil {
		return nil, err
	}
	info := itemInfo{ID: ref.id, Source: sourceFolder(ref.source), Kind: m.Kind, Day: m.Day}
	return func() error {
		defer dir.Close()
		defer att.Close()
		return writeDerived(dir, att, m, info)
	}, nil
}

// attachmentFile is the file name of the i-th attachment: its number and
// its safe name, never a path taken from the item.
func attachmentFile(i int, a crypto.Attachment) string {
	return fmt.Sprintf("%02d-%s", i+1, crypto.SafeName(a.Name))
}

// copyTo copies r to f; errors writing f are wrapped in errOutput.
func copyTo(f io.Writer, r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			w, werr := f.Write(buf[:k])
			n += int64(w)
			if werr != nil {
				return n, outErr(werr)
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// place moves an extracted item to its folder.
func (o *opener) place(what string, x *extracted) {
	if err := x.wait(); err != nil {
		o.root.RemoveAll(x.tmp)
		o.fail("%s: %v", what, outErr(err))
		return
	}
	if err := o.root.MkdirAll(path.Dir(x.final), 0o700); err != nil {
		o.root.RemoveAll(x.tmp)
		o.fail("%s: %v", what, err)
		return
	}
	if err := o.root.Rename(x.tmp, x.final); err != nil {
		o.root.RemoveAll(x.tmp)
		if o.exists(x.final) { // another open put it there meanwhile
			o.res.skipped++
			return
		}
		o.fail("%s: %v", what, err)
		return
	}
	o.res.opened++
}

// readIndex reads a bundle's index.json without reading the items (tar
// seeks over them), so that items already opened are not decrypted again.
func readIndex(f io.ReadSeeker) (*bundle.Index, error) {
	tr := tar.NewReader(f)
	var idx *bundle.Index
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Name != "index.json" {
			continue
		}
		if h.Size > bundle.MaxIndex {
			return nil, fmt.Errorf("index.json of %d bytes", h.Size)
		}
		idx = new(bundle.Index)
		if err := json.NewDecoder(tr).Decode(idx); err != nil {
			return nil, fmt.Errorf("index.json: %v", err)
		}
	}
	if idx == nil {
		return nil, errors.New("no index.json")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return idx, nil
}

// openBundle opens each item of a bundle. Items are kept in the temporary
// folder until the whole bundle has been checked against its index.json,
// then moved into place; an item that does not match is dropped.
func (o *opener) openBundle(name string, f *os.File, r io.Reader) {
	idx, err := readIndex(f)
	if err != nil {
		o.fail("%s: damaged or truncated bundle: %v; nothing opened from it", name, err)
		return
	}
	entries := map[string]bundle.Entry{}
	for _, e := range idx.Items {
		entries[e.ID] = e
	}
	pending := map[string]*extracted{}
	reported := map[string]bool{}
	dropAll := func() {
		for _, x := range pending {
			o.drop(x)
		}
	}
	br := bundle.NewReader(bufio.NewReaderSize(r, 256<<10))
	for {
		id, ir, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			dropAll()
			o.fail("%s: damaged or truncated bundle: %v; nothing opened from it", name, err)
			return
		}
		e, ok := entries[id]
		if !ok {
			continue // not in index.json: Verify reports it
		}
		what := fmt.Sprintf("%s: item %s", name, id)
		ref := itemRef{id: id, source: e.Source, kind: e.Kind, day: e.Day}
		if o.exists(itemFolder(ref.source, ref.day, ref.kind, ref.id)) {
			o.res.skipped++
			continue
		}
		before := o.res.failed
		x := o.extract(what, ir, ref)
		if x == nil {
			if o.res.failed > before {
				reported[id] = true
			}
			continue
		}
		pending[id] = x
	}
	bad, err := br.Verify()
	if err == nil && !reflect.DeepEqual(br.Index(), idx) {
		err = errors.New("index.json changed while it was read")
	}
	if err != nil && len(bad) == 0 {
		dropAll()
		o.fail("%s: %v; nothing opened from it", name, err)
		return
	}
	if err == nil {
		o.keepEvidence(name, idx, br.Read()) // evidence.go: for testimony verify
	}
	badSet := map[string]bool{}
	sort.Strings(bad)
	for _, id := range bad {
		badSet[id] = true
		if x := pending[id]; x != nil {
			o.drop(x)
		}
		if !reported[id] {
			o.fail("%s: item %s does not match index.json (missing, extra or altered): not opened", name, id)
		}
	}
	ids := make([]string, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !badSet[id] {
			o.place(fmt.Sprintf("%s: item %s", name, id), pending[id])
		}
	}
}
