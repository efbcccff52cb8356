package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"testimony/crypto"
	"testimony/internal/testutil"
	"testimony/store"
)

func TestMain(m *testing.M) {
	testscript.Main(testutil.Cleaning(m), map[string]func(){
		"testimony": func() { os.Exit(run(os.Args[1:])) },
		"mkitem":    func() { os.Exit(helper(mkitemMain)) },
		"pubkey":    func() { os.Exit(helper(pubkeyMain)) },
		"flipbyte":  func() { os.Exit(helper(flipbyteMain)) },
		"truncate":  func() { os.Exit(helper(truncateMain)) },
		"listfiles": func() { os.Exit(helper(listfilesMain)) },
	})
}

// TestScripts runs the CLI scenarios of testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}

func helper(f func(args []string) error) int {
	if err := f(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		return 1
	}
	return 0
}

// itemSpec describes an item for mkitem, as JSON.
type itemSpec struct {
	Kind        string                   `json:"kind"`
	Day         string                   `json:"day"`
	Lang        string                   `json:"lang"`
	Source      string                   `json:"source"`
	Recipients  string                   `json:"recipients"` // file; default: mkitem -r
	Answers     map[string]crypto.Answer `json:"answers"`
	Attachments []attachmentSpec         `json:"attachments"`
}

type attachmentSpec struct {
	Name string `json:"name"`
	Type string `json:"type"`
	File string `json:"file"`   // contents from this file, or
	Text string `json:"text"`   // these,
	Rep  int    `json:"repeat"` // repeated this many times
	data []byte
}

// loadRecipients reads a recipients file, or the public keys noted in an
// identity file.
func loadRecipients(name string) (*crypto.Recipients, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(b, []byte("AGE-SECRET-KEY-")) {
		return crypto.NewRecipients(name, crypto.PublicKeysInIdentityFile(bytes.NewReader(b))...)
	}
	return crypto.ParseRecipients(bytes.NewReader(b), name)
}

func (s *itemSpec) manifest() (*crypto.Manifest, error) {
	m := &crypto.Manifest{Kind: s.Kind, Day: s.Day, Lang: s.Lang, Answers: s.Answers,
		Form: crypto.FormRef{ID: "deportation", Version: 1}}
	if m.Kind == "" {
		m.Kind = crypto.KindSubmission
	}
	if m.Day == "" {
		m.Day = "2026-03-01"
	}
	for i := range s.Attachments {
		a := &s.Attachments[i]
		a.data = []byte(strings.Repeat(a.Text, max(a.Rep, 1)))
		if a.File != "" {
			b, err := os.ReadFile(a.File)
			if err != nil {
				return nil, err
			}
			a.data = b
		}
		sum := sha256.Sum256(a.data)
		m.Attachments = append(m.Attachments, crypto.Attachment{Name: a.Name, Type: a.Type,
			Size: int64(len(a.data)), SHA256: hex.EncodeToString(sum[:])})
	}
	return m, nil
}

func (s *itemSpec) write(w io.Writer, rs *crypto.Recipients) error {
	m, err := s.manifest()
	if err != nil {
		return err
	}
	env, err := crypto.NewEnvelope(w, rs, m)
	if err != nil {
		return err
	}
	for _, a := range s.Attachments {
		if err := env.WriteAttachment(bytes.NewReader(a.data)); err != nil {
			return err
		}
	}
	return env.Close()
}

// writeBundle stores the items with the store's real code in a scratch
// database and exports them as a bundle, as the server does for downloads.
func writeBundle(out string, specs []*itemSpec, rs func(*itemSpec) (*crypto.Recipients, error)) error {
	dir, err := os.MkdirTemp("", "mkitem-db-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "store.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	ids, err := storeItems(db, specs, rs)
	if err != nil {
		return err
	}
	return exportBundle(db, out, ids)
}

// storeItems writes items into a store as the server does: the envelope
// streamed into an item writer, then the record committed.
func storeItems(db *store.DB, specs []*itemSpec, rs func(*itemSpec) (*crypto.Recipients, error)) ([]string, error) {
	var ids []string
	for _, s := range specs {
		r, err := rs(s)
		if err != nil {
			return nil, err
		}
		w := db.NewItem()
		if err := s.write(w, r); err != nil {
			w.Abort()
			return nil, err
		}
		kind := s.Kind
		if kind == "" {
			kind = crypto.KindSubmission
		}
		day := s.Day
		if day == "" {
			day = "2026-03-01"
		}
		it, err := w.Commit(store.Item{Kind: kind, Day: day, Source: s.Source, Recipients: r.Fingerprint()})
		if err != nil {
			return nil, err
		}
		ids = append(ids, it.ID)
	}
	return ids, nil
}

// exportBundle writes the bundle of ids with store.WriteBundleItems, as
// the investigator site does.
func exportBundle(db *store.DB, out string, ids []string) error {
	var items []store.Item
	for _, id := range ids {
		it, err := db.Item(id)
		if err != nil {
			return err
		}
		items = append(items, it)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := db.WriteBundleItems(f, "2026-11-28", items); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// mkitem [-r RECIPIENTS] (-o OUT.age SPEC | -bundle OUT.tar SPEC...)
// writes items with the real envelope and store code.
func mkitemMain(args []string) error {
	fl := flag.NewFlagSet("mkitem", flag.ContinueOnError)
	rfile := fl.String("r", "", "recipients or identity file")
	out := fl.String("o", "", "write one item here")
	bundle := fl.String("bundle", "", "write a bundle of the items here")
	if err := fl.Parse(args); err != nil {
		return err
	}
	var specs []*itemSpec
	for _, name := range fl.Args() {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		s := new(itemSpec)
		if err := json.Unmarshal(b, s); err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		specs = append(specs, s)
	}
	recipients := func(s *itemSpec) (*crypto.Recipients, error) {
		if s.Recipients != "" {
			return loadRecipients(s.Recipients)
		}
		return loadRecipients(*rfile)
	}
	switch {
	case *bundle != "":
		return writeBundle(*bundle, specs, recipients)
	case *out != "" && len(specs) == 1:
		rs, err := recipients(specs[0])
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := specs[0].write(&buf, rs); err != nil {
			return err
		}
		return os.WriteFile(*out, buf.Bytes(), 0o600)
	}
	return fmt.Errorf("usage: mkitem [-r RECIPIENTS] (-o OUT.age SPEC | -bundle OUT.tar SPEC...)")
}

// pubkey FILE... prints the public keys noted in identity files.
func pubkeyMain(args []string) error {
	for _, name := range args {
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		for _, k := range crypto.PublicKeysInIdentityFile(bytes.NewReader(b)) {
			fmt.Println(k)
		}
	}
	return nil
}

// flipbyte FILE OFFSET flips the bits of one byte; a negative offset
// counts from the end.
func flipbyteMain(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: flipbyte FILE OFFSET")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	off, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0xff
	return os.WriteFile(args[0], b, 0o600)
}

// truncate FILE N cuts N bytes off the end of FILE.
func truncateMain(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: truncate FILE N")
	}
	st, err := os.Stat(args[0])
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return err
	}
	return os.Truncate(args[0], st.Size()-n)
}

// listfiles DIR prints every path under DIR, relative and sorted, with a
// trailing / for folders and " -> target" for links.
func listfilesMain(args []string) error {
	for _, dir := range args {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			if rel == "." {
				return nil
			}
			rel = filepath.ToSlash(rel)
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				t, _ := os.Readlink(p)
				fmt.Printf("%s -> %s\n", rel, t)
			case d.IsDir():
				fmt.Println(rel + "/")
			default:
				fmt.Println(rel)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
