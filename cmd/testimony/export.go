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
	"html/template"
	"io"
	"io/fs"
	"os"
	"path"
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

// isPackage tells an evidence package from a case folder.
func isPackage(dir string) bool {
	for _, f := range []string{"SHA256SUMS", "evidence.json", "item.age"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// Package fault kinds, as verify names them.
const (
	pkgMissing = "file missing"
	pkgAltered = "file altered"
	pkgAdded   = "file added"
)

// verifyPackage checks an evidence package: every file against
// SHA256SUMS (and none unlisted), the originals against the manifest,
// the ciphertext against its proof and the signed roots, the custody log
// and any timestamp tokens. It reports whether everything held.
func verifyPackage(dir string, pub ed25519.PublicKey, opt *verifyOptions) bool {
	ok := true
	fault := func(kind, format string, a ...any) {
		printf("%s: FAULT: %s: %s\n", dir, kind, fmt.Sprintf(format, a...))
		ok = false
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		errorf("%v", err)
		return false
	}
	defer root.Close()
	sums, err := fs.ReadFile(root.FS(), "SHA256SUMS")
	if err != nil {
		errorf("%v", err)
		return false
	}
	listed := map[string]bool{"SHA256SUMS": true}
	for i, line := range strings.Split(strings.TrimRight(string(sums), "\n"), "\n") {
		sum, name, found := strings.Cut(line, "  ")
		if !found {
			fault(pkgAltered, "SHA256SUMS line %d is not \"HASH  FILE\"", i+1)
			continue
		}
		listed[name] = true
		got, err := fileSHA256(root, name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fault(pkgMissing, "%s is listed in SHA256SUMS but not in the package", name)
		case err != nil:
			fault(pkgMissing, "%s: %v", name, err)
		case got != sum:
			fault(pkgAltered, "%s has SHA-256 %s, SHA256SUMS says %s", name, got, sum)
		}
	}
	fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !listed[p] {
			fault(pkgAdded, "%s is in the package but not in SHA256SUMS", p)
		}
		return nil
	})
	var ev packageEvidence
	b, err := fs.ReadFile(root.FS(), "evidence.json")
	if err == nil {
		err = json.Unmarshal(b, &ev)
	}
	if err != nil || ev.Format != packageFormat {
		fault(pkgAltered, "evidence.json is not of format %s", packageFormat)
		return false
	}
	if ev.ServerKey != bundle.FormatKey(pub) {
		fault(bundle.FaultSignature, "the package names the server key %s, not the one given", ev.ServerKey)
	}
	sum, err := fileSHA256(root, "item.age")
	if err != nil {
		fault(pkgMissing, "item.age: %v", err)
		return false
	}
	rep := bundle.CheckItem(ev.Item, sum, ev.Roots, pub)
	if !report(filepath.Join(dir, "item.age"), rep) {
		ok = false
	}
	if m, err := fs.ReadFile(root.FS(), "originals/"+crypto.ManifestName); err != nil {
		fault(pkgMissing, "originals/%s: %v", crypto.ManifestName, err)
	} else {
		ok = checkOriginals(dir, root, m) && ok
	}
	ok = verifyCustody(dir, opt.custodyKeys) && ok
	ok = verifyTimestamps(filepath.Join(dir, "timestamps"), opt.tsaCAs, pub) && ok
	if ok {
		printf("%s: OK: evidence package of item %s\n", dir, ev.Item.ID)
	} else {
		printf("%s: FAILED\n", dir)
	}
	return ok
}

// checkOriginals checks the attachments against the manifest's sizes
// and hashes (the manifest against the ciphertext needs the key: the
// statement gives the age command).
func checkOriginals(dir string, root *os.Root, manifest []byte) bool {
	er, err := crypto.ReadEnvelope(manifestTar(manifest))
	if err != nil {
		printf("%s: FAULT: %s: originals/manifest.json: %v\n", dir, pkgAltered, err)
		return false
	}
	ok := true
	for i, a := range er.Manifest().Attachments {
		name := "originals/attachments/" + attachmentFile(i, a)
		got, err := fileSHA256(root, name)
		switch {
		case err != nil:
			printf("%s: FAULT: %s: %s: %v\n", dir, pkgMissing, name, err)
			ok = false
		case got != a.SHA256:
			printf("%s: FAULT: %s: %s has SHA-256 %s, the manifest says %s\n", dir, pkgAltered, name, got, a.SHA256)
			ok = false
		}
	}
	return ok
}

// manifestTar is a tar holding only manifest.json, for ReadEnvelope to
// parse and validate it as it parses every manifest.
func manifestTar(m []byte) io.Reader {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: crypto.ManifestName, Mode: 0o600, Size: int64(len(m)), Typeflag: tar.TypeReg})
	tw.Write(m)
	tw.Close()
	return &b
}

func fileSHA256(root *os.Root, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("%q is not a path inside the package", name)
	}
	f, err := root.Open(path.Clean(name))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// statement is what statement.html shows.
type statement struct {
	Item                bundle.Entry
	ServerKey           string
	InvestigatorKey     string
	Day                 string
	FirstRoot, LastRoot string
	Originals           []statementFile
	Tokens              []string
	CustodyEntries      int
	CustodyHead         string
}

type statementFile struct {
	Path   string
	Size   int64
	SHA256 string
}

// statementPage is read from file:// by whoever receives the package: no
// script, nothing from another origin, everything escaped by
// html/template.
var statementPage = template.Must(template.New("statement").Funcs(funcs).Funcs(template.FuncMap{"rootsOf": rootsOf}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Evidence package: item {{.Item.ID}}</title>` + pageStyle + `</head>
<body>
<h1>Evidence package: {{.Item.Kind}} of {{.Item.Day}}</h1>
<p>Item <code>{{.Item.ID}}</code>, exported on {{.Day}} (UTC) by the investigator whose signing key is <code>{{.InvestigatorKey}}</code>.
Its server signs with <code>{{.ServerKey}}</code>: compare both with the keys noted at enrolment and at keygen.
No time finer than the UTC day is kept here, except the timestamp authority's own time inside each token.</p>

<h2>What each part proves</h2>
<dl>
<dt>SHA256SUMS</dt><dd>The SHA-256 of every file of this folder, as exported: any change to a file since then shows.</dd>
<dt>originals/</dt><dd>The files the witness sent, byte for byte (metadata such as camera or C2PA data untouched), and manifest.json, the submission's own record of them with their SHA-256.</dd>
<dt>item.age</dt><dd>The item as the server stored it, encrypted with age: decrypting it gives back originals/ exactly, so the originals are what was sealed on {{.Item.Day}}.</dd>
<dt>evidence.json, roots.json</dt><dd>The item's inclusion proof in the Merkle tree (RFC 9162) of the items the server stored on {{.Item.Day}}, and the server's signed day roots{{if .FirstRoot}} from {{.FirstRoot}} to {{.LastRoot}}{{end}}, each naming the one before: the server committed to this ciphertext on that day and could not later change, add or remove an item of it unseen.</dd>
{{if .Tokens}}<dt>timestamps/</dt><dd>RFC 3161 tokens of a timestamping authority over a roots file (it saw only the file's hash): the roots, and so the item, existed by the authority's time, on the authority's word rather than ours.</dd>{{end}}
<dt>custody.log</dt><dd>Each opening, sharing and export of items of this case folder, chained by hash and signed by the investigator who did it ({{.CustodyEntries}} entries; the last entry's hash is <code>{{.CustodyHead}}</code>, note it: entries cut from the end show only against it).</dd>
</dl>

<h2>Files</h2>
<table><tr><th>Original</th><th>Size</th><th>SHA-256</th></tr>
<tr><td>originals/manifest.json</td><td></td><td></td></tr>
{{range .Originals}}<tr><td>{{.Path}}</td><td>{{kib .Size}}</td><td><code>{{.SHA256}}</code></td></tr>
{{end}}</table>

<h2>How to check it with stock tools</h2>
<p>In this folder:</p>
<pre>
sha256sum -c SHA256SUMS
sha256sum item.age        # must be {{.Item.SHA256}}, as evidence.json says
age -d -i KEY.txt item.age | tar -xO manifest.json | cmp - originals/manifest.json
mkdir /tmp/check &amp;&amp; age -d -i KEY.txt item.age | tar -x -C /tmp/check &amp;&amp; diff -r /tmp/check/attachments originals/attachments
{{range .Tokens}}openssl ts -verify -data timestamps/{{rootsOf .}} -in {{.}} -CAfile TSA-CA.pem
openssl ts -reply -in {{.}} -text    # the authority's time and policy
{{end}}</pre>
<p>KEY.txt is an identity the item was encrypted to (an investigator's or an escrow key), which needs age 1.3 or later; TSA-CA.pem is the certificate of the authority's CA, got from the authority itself.
The inclusion proof, the chain of roots and the custody log's signatures are checked by the group's offline tool:
<code>testimony verify --server-key {{.ServerKey}}{{if .Tokens}} --tsa-ca TSA-CA.pem{{end}} THIS-FOLDER</code>,
and by anyone following the formats in its docs/design.md.</p>
</body></html>
`))

// rootsOf is the roots file a token of timestampPairs stamps.
func rootsOf(token string) string {
	name, _, _ := strings.Cut(strings.TrimSuffix(path.Base(token), ".tsr"), "-")
	return name + ".roots.json"
}
