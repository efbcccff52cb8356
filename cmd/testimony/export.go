package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"filippo.io/age"

	"testimony/bundle"
	"testimony/crypto"
)

// An evidence package (testimony export) is a folder that shows one item
// to someone who has neither this tool nor the server: the item's
// original files byte for byte as the witness sent them, its ciphertext
// as the server stored it, the inclusion proof and the signed day roots
// that tie the ciphertext to the server's signing key, any timestamp
// tokens of those roots, the case folder's custody log, a SHA256SUMS of
// every file, and statement.html, which says what each part proves and
// the stock commands (sha256sum, age, openssl) that check it.
//
//	originals/manifest.json, originals/attachments/NN-NAME
//	item.age         the ciphertext, as stored and as in the bundle
//	evidence.json    the item's entry and proof, the roots, the server key
//	roots.json       the same roots as a roots file (testimony-roots/v1)
//	timestamps/      NAME.roots.json and NAME-TOKEN.tsr pairs (roots import)
//	custody.log      the case folder's custody log, with this export
//	statement.html   what each part proves, and how to check it
//	SHA256SUMS       of every file above
//
// No time finer than the day is written, except inside the tokens, whose
// time is the TSA's (when the investigator had the roots stamped).

// packageFormat versions an evidence package's evidence.json.
const packageFormat = "testimony-package/v1"

// packageEvidence is evidence.json.
type packageEvidence struct {
	Format    string           `json:"format"`
	Item      bundle.Entry     `json:"item"`       // as the bundle's index.json had it, with its proof
	ServerKey string           `json:"server_key"` // the key that signed the roots
	Roots     []bundle.DayRoot `json:"roots"`
}

const exportUsage = `export writes an evidence package for one item of a case folder DIR into
the new folder OUT: its original files byte for byte, decrypted again from
the ciphertext found in BUNDLE (the bundle or .age it was opened from),
the ciphertext, its inclusion proof and signed roots, the timestamp tokens
imported, the custody log (the export recorded in it), SHA256SUMS and
statement.html, which says how to check each with sha256sum, age and
openssl alone. verify checks a package as it checks a case folder.`

func runExport(args []string) error {
	fl := newFlags("export")
	var idFiles multiFlag
	fl.Var(&idFiles, "i", "read the identities (secret keys) from `FILE`; repeatable")
	out := fl.String("o", "", "write the package into the new folder `OUT`")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(idFiles) == 0 || *out == "" || len(pos) < 3 {
		errorf("export needs -i IDENTITY, -o OUT, the case folder, the item and the bundle (or .age) it came from: DIR ITEM BUNDLE...")
		return errUsage
	}
	ids, err := readIdentities(idFiles)
	if err != nil {
		return err
	}
	signKey, sign := loadSignKey(idFiles)
	if !sign {
		return errors.New("export records itself in the custody log and needs the signing key beside the identity")
	}
	dir, itemArg, sources := pos[0], pos[1], pos[2:]
	ev, err := findItemEvidence(dir, itemArg)
	if err != nil {
		return err
	}
	if err := os.Mkdir(*out, 0o700); err != nil {
		return fmt.Errorf("%v (export writes a new folder)", err)
	}
	root, err := os.OpenRoot(*out)
	if err != nil {
		return err
	}
	defer root.Close()
	done := false
	defer func() {
		if !done { // leave no half-written package behind
			os.RemoveAll(*out)
		}
	}()
	if err := copyCiphertext(root, ev.Item, sources); err != nil {
		return err
	}
	originals, err := writeOriginals(root, ids)
	if err != nil {
		return fmt.Errorf("%s: %v", ev.Item.ID, err)
	}
	evb, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(root, "evidence.json", append(evb, '\n')); err != nil {
		return err
	}
	rb, err := marshalRoots(&bundle.RootsFile{Format: bundle.RootsFormat, Key: ev.ServerKey, Roots: ev.Roots})
	if err != nil {
		return err
	}
	if err := writeFile(root, "roots.json", rb); err != nil {
		return err
	}
	tokens, err := copyTimestamps(root, dir)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("evidence package %s: item.age sha256 %s", filepath.Base(*out), ev.Item.SHA256)
	if err := appendCustody(dir, signKey, "export", []string{ev.Item.ID}, note); err != nil {
		return fmt.Errorf("not recorded in %s: %v", filepath.Join(dir, custodyName), err)
	}
	custody, err := os.ReadFile(filepath.Join(dir, custodyName))
	if err != nil {
		return err
	}
	if err := writeFile(root, custodyName, custody); err != nil {
		return err
	}
	st := statement{Item: ev.Item, ServerKey: ev.ServerKey, Originals: originals, Tokens: tokens,
		InvestigatorKey: bundle.FormatKey(signKey.Public().(ed25519.PublicKey)), Day: custodyDay()}
	if len(ev.Roots) > 0 {
		st.FirstRoot, st.LastRoot = ev.Roots[0].Day, ev.Roots[len(ev.Roots)-1].Day
	}
	if ch, err := checkCustody(bytes.NewReader(custody), nil); err == nil {
		st.CustodyEntries, st.CustodyHead = ch.Entries, ch.Head
	}
	var page bytes.Buffer
	if err := statementPage.Execute(&page, st); err != nil {
		return err
	}
	if err := writeFile(root, "statement.html", page.Bytes()); err != nil {
		return err
	}
	if err := writeSums(root); err != nil {
		return err
	}
	done = true
	infof("evidence package of item %s written to %s; open %s", ev.Item.ID, *out, filepath.Join(*out, "statement.html"))
	return nil
}

// findItemEvidence finds an item (by id or a unique start of it) in the
// evidence kept of the bundles opened into dir, preferring a bundle that
// holds its proof, and the latest such.
func findItemEvidence(dir, arg string) (*packageEvidence, error) {
	arg = strings.ToLower(strings.TrimSpace(arg))
	files, _ := filepath.Glob(filepath.Join(dir, evidenceDir, "*.json"))
	sort.Strings(files) // by bundle day
	var best *packageEvidence
	var ids []string
	for _, f := range files {
		ef, err := readEvidenceFile(f)
		if err != nil {
			return nil, err
		}
		for _, e := range ef.Index.Items {
			if len(arg) < 4 || !strings.HasPrefix(e.ID, arg) {
				continue
			}
			ids = append(ids, e.ID)
			key := ""
			if ef.Index.Listing != nil {
				key = ef.Index.Listing.Key
			}
			if best == nil || e.Proof != nil || best.Item.Proof == nil {
				best = &packageEvidence{Format: packageFormat, Item: e, ServerKey: key, Roots: ef.Index.Roots}
			}
		}
	}
	slices.Sort(ids)
	switch ids = slices.Compact(ids); {
	case len(ids) == 0:
		return nil, fmt.Errorf("no item %q in the evidence of %s (an item id of at least 4 characters, opened from a bundle)", arg, dir)
	case len(ids) > 1:
		return nil, fmt.Errorf("%q is the start of %d item ids; give more of it", arg, len(ids))
	}
	if best.Item.Proof == nil {
		warnf("item %s: no bundle opened into %s proves it (its day was not sealed when it was downloaded): download it again and open that bundle", best.Item.ID, dir)
	}
	return best, nil
}

// copyCiphertext writes item.age: the item's bytes from the first of the
// sources (bundles or .age files) that holds them, checked against the
// SHA-256 the evidence has.
func copyCiphertext(root *os.Root, e bundle.Entry, sources []string) error {
	for _, src := range sources {
		ok, err := copyFrom(root, e, src)
		if err != nil {
			return fmt.Errorf("%s: %v", src, err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("item %s (SHA-256 %s) is in none of %s", e.ID, e.SHA256, strings.Join(sources, ", "))
}

func copyFrom(root *os.Root, e bundle.Entry, src string) (bool, error) {
	f, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer f.Close()
	kind, err := sniff(f)
	if err != nil {
		return false, err
	}
	var r io.Reader
	switch kind {
	case kindItem:
		r = f
	case kindBundle:
		br := bundle.NewReader(bufio.NewReaderSize(f, 256<<10))
		for {
			id, ir, err := br.Next()
			if err == io.EOF {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			if id == e.ID {
				r = ir
				break
			}
		}
	default:
		return false, nil // an armored item is not the stored bytes
	}
	const tmp = "item.age.partial"
	w, err := createFile(root, tmp)
	if err != nil {
		return false, err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(w, h), r)
	if err1 := w.Close(); err == nil {
		err = err1
	}
	if err != nil {
		root.Remove(tmp)
		return false, err
	}
	if hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		root.Remove(tmp)
		return false, nil
	}
	return true, root.Rename(tmp, "item.age")
}

// writeOriginals decrypts item.age again and writes the files of its
// plaintext byte for byte: manifest.json as the witness's submission was
// sealed, and each attachment, checked against the manifest's hashes.
func writeOriginals(root *os.Root, ids []age.Identity) ([]statementFile, error) {
	f, err := root.Open("item.age")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pr, err := age.Decrypt(bufio.NewReaderSize(f, 256<<10), ids...)
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt item.age: %v", err)
	}
	// The manifest is taken from the bytes EnvelopeReader reads to parse
	// it, so that what is written is the original, not a re-encoding.
	capture := &headCapture{max: crypto.MaxManifest + 64<<10}
	er, err := crypto.ReadEnvelope(io.TeeReader(pr, capture))
	if err != nil {
		return nil, err
	}
	capture.max = 0
	tr := tar.NewReader(bytes.NewReader(capture.buf.Bytes()))
	if h, err := tr.Next(); err != nil || h.Name != crypto.ManifestName {
		return nil, errors.New("manifest.json not found in the captured head")
	}
	manifest, err := io.ReadAll(tr)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"originals", "originals/attachments"} {
		if err := root.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := writeFile(root, "originals/"+crypto.ManifestName, manifest); err != nil {
		return nil, err
	}
	var files []statementFile
	buf := make([]byte, 256<<10)
	for i := 0; ; i++ {
		a, r, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		name := "originals/attachments/" + attachmentFile(i, a)
		w, err := createFile(root, name)
		if err != nil {
			return nil, err
		}
		_, err = copyTo(w, r, buf)
		if err1 := w.Close(); err == nil {
			err = err1
		}
		if err != nil {
			return nil, err
		}
		files = append(files, statementFile{Path: name, Size: a.Size, SHA256: a.SHA256})
	}
	if err := er.Finish(); err != nil {
		return nil, err
	}
	return files, nil
}

// headCapture keeps the first max bytes written to it.
type headCapture struct {
	buf bytes.Buffer
	max int
}

func (c *headCapture) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// copyTimestamps copies the case folder's timestamp tokens and the roots
// files they stamp into timestamps/.
func copyTimestamps(root *os.Root, dir string) ([]string, error) {
	pairs := timestampPairs(filepath.Join(dir, timestampsDir))
	if len(pairs) == 0 {
		return nil, nil
	}
	if err := root.Mkdir("timestamps", 0o700); err != nil {
		return nil, err
	}
	var tokens []string
	for _, p := range pairs {
		for _, f := range []string{p.roots, p.token} {
			b, err := readBounded(f)
			if err != nil {
				return nil, err
			}
			if err := writeFile(root, "timestamps/"+filepath.Base(f), b); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, err
			}
		}
		tokens = append(tokens, "timestamps/"+filepath.Base(p.token))
	}
	return tokens, nil
}

// writeSums writes SHA256SUMS of every file of the package, in the form
// sha256sum -c reads. Names are the package's own and SafeName's: none
// has a backslash or a newline, which sha256sum would escape.
func writeSums(root *os.Root) error {
	var b strings.Builder
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "SHA256SUMS" {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		if strings.ContainsAny(p, "\\\n\r") {
			return fmt.Errorf("%q: a name sha256sum would escape", p)
		}
		f, err := root.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		fmt.Fprintf(&b, "%x  %s\n", h.Sum(nil), p)
		return nil
	})
	if err != nil {
		return err
	}
	return writeFile(root, "SHA256SUMS", []byte(b.String()))
}
