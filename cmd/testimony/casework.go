package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"

	"testimony/crypto"
)

// The case folder written by open: <source>/<day>-<kind>-<id8>/ per item,
// and at its root testimonies.csv (one row per submission) and index.html
// (every case, linking each item's page). Both are rebuilt from the item
// folders after every open, so an incremental open keeps them complete.

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
