package main

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"testimony/annotations"
	"testimony/bundle"
	"testimony/crypto"
)

// Carrying annotations between investigators as ciphertext. An export is
// an item of kind annotations: its envelope holds annotations.jsonl (one
// author's operations) and signature.json (the author, their Ed25519
// signing key and its signature of the log), encrypted to the team's
// recipient set pinned in the case folder and padded like every item.
// The server stores and serves it without reading it. open checks the
// signature, pins each author's signing key the first time it sees it
// (authors.json) and merges the operations into .annotations/AUTHOR.jsonl.
//
// The team's set comes from a bundle's index.json, which the server
// writes: it is pinned on first sight (team.json) and never replaced
// without the investigator's word, so that a server cannot add a key of
// its own and read what is exported afterwards.

const (
	teamFile        = annotationsDir + "/team.json"         // the pinned set
	teamOfferedFile = annotationsDir + "/team.offered.json" // a different set a bundle named
	authorsFile     = annotationsDir + "/authors.json"      // author → signing key
	carryLogName    = "annotations.jsonl"
	carrySigName    = "signature.json"
	maxCarrySig     = 4 << 10
	maxPinFile      = 1 << 20
)

var annotationsSubcommands = map[string]func([]string) error{
	"export": runAnnotationsExport,
	"team":   runAnnotationsTeam,
}

// carrySignature is signature.json.
type carrySignature struct {
	Author string `json:"author"`
	Key    string `json:"key"` // ed25519:HEX
	Sig    string `json:"sig"` // base64 Ed25519 signature of carryMessage
}

// carryMessage is what an export's signature covers: the author and the
// SHA-256 of the log, so that neither can be swapped.
func carryMessage(author string, log []byte) []byte {
	sum := sha256.Sum256(log)
	return []byte("testimony annotations v1\n" + author + "\n" + hex.EncodeToString(sum[:]) + "\n")
}

// carried is an export read and checked from an item, to merge once the
// bundle holding it has been checked.
type carried struct {
	author, key string
	ops         []*annotations.Op
}

// ownRecipients are the public keys of the identities.
func ownRecipients(ids []age.Identity) []string {
	var out []string
	for _, id := range ids {
		switch k := id.(type) {
		case *age.X25519Identity:
			out = append(out, k.Recipient().String())
		case *age.HybridIdentity:
			out = append(out, k.Recipient().String())
		}
	}
	return out
}

// teamRecipients checks a team set: parseable keys, and a fingerprint
// that is theirs.
func teamRecipients(t *bundle.Team) (*crypto.Recipients, error) {
	rs, err := crypto.NewRecipients("team", t.Recipients...)
	if err != nil {
		return nil, err
	}
	if rs.Fingerprint() != t.Fingerprint {
		return nil, fmt.Errorf("its fingerprint %q is not that of its keys (%s)", printableName(t.Fingerprint), rs.Fingerprint())
	}
	return rs, nil
}

// includesOwn reports whether the set holds one of the identities' keys.
func includesOwn(rs *crypto.Recipients, ids []age.Identity) bool {
	return slices.ContainsFunc(ownRecipients(ids), rs.Contains)
}

// printableName cuts s short and hides its control characters, for a
// message.
func printableName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// readPin reads a JSON file of the annotations folder into v; a missing
// one is reported as false.
func readPin(root *os.Root, name string, v any) (bool, error) {
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := json.NewDecoder(io.LimitReader(f, maxPinFile)).Decode(v); err != nil {
		return false, fmt.Errorf("%s: %v", name, err)
	}
	return true, nil
}

func writePin(root *os.Root, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := root.MkdirAll(path.Dir(name), 0o700); err != nil {
		return err
	}
	return replaceFile(root, name, append(b, '\n'))
}

// pinnedTeam reads the pinned team set of a case folder.
func pinnedTeam(root *os.Root) (*bundle.Team, *crypto.Recipients, error) {
	var t bundle.Team
	ok, err := readPin(root, teamFile, &t)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("%s has no team recipient set: open a bundle from the investigator site first (it names the set)", root.Name())
	}
	rs, err := teamRecipients(&t)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v", teamFile, err)
	}
	return &t, rs, nil
}

// pinTeam pins the team set a bundle names the first time, and on a later
// bundle naming another set keeps the pinned one and says so.
func (o *opener) pinTeam(name string, t *bundle.Team) {
	if t == nil {
		return // an older server's bundle
	}
	rs, err := teamRecipients(t)
	if err != nil {
		o.fail("%s: the team recipient set in index.json is refused: %v", name, err)
		return
	}
	if !includesOwn(rs, o.ids) {
		o.fail("%s: the team recipient set in index.json (%s, %d keys) is refused: your own key is not in it, so the team's annotations would not reach you; ask the administrator",
			name, rs.Fingerprint(), rs.Len())
		return
	}
	t = &bundle.Team{Fingerprint: rs.Fingerprint(), Recipients: rs.Keys()}
	var pinned bundle.Team
	ok, err := readPin(o.root, teamFile, &pinned)
	switch {
	case err != nil:
		o.fail("%v", err)
	case !ok:
		if err := writePin(o.root, teamFile, t); err != nil {
			o.fail("%s: pinning the team recipient set: %v", name, err)
			return
		}
		infof("pinned the team recipient set %s (%d keys) from %s: annotations you export are encrypted to it", t.Fingerprint, len(t.Recipients), name)
	case pinned.Fingerprint != t.Fingerprint:
		if err := writePin(o.root, teamOfferedFile, t); err != nil {
			o.fail("%s: %v", name, err)
			return
		}
		warnf("%s names another team recipient set (%s, %d keys) than the one pinned (%s, %d keys); annotations are still encrypted to the pinned one. Check the change with your team, then: testimony annotations team -i IDENTITY --accept %s",
			name, t.Fingerprint, len(t.Recipients), pinned.Fingerprint, len(pinned.Recipients), o.root.Name())
	}
}

// readCarried reads an export from its decrypted envelope and checks it:
// its two files, the signature, and that every operation is the signer's.
func readCarried(er *crypto.EnvelopeReader) (*carried, error) {
	m := er.Manifest()
	if len(m.Attachments) != 2 || m.Attachments[0].Name != carryLogName || m.Attachments[1].Name != carrySigName ||
		m.Attachments[0].Size > maxLogFile || m.Attachments[1].Size > maxCarrySig {
		return nil, fmt.Errorf("refused: annotations hold %s and %s, of at most %d and %d bytes", carryLogName, carrySigName, maxLogFile, maxCarrySig)
	}
	var files [2][]byte
	for i := range files {
		_, r, err := er.Next()
		if err != nil {
			return nil, err
		}
		if files[i], err = io.ReadAll(r); err != nil {
			return nil, err
		}
	}
	if err := er.Finish(); err != nil {
		return nil, err
	}
	var sig carrySignature
	dec := json.NewDecoder(bytes.NewReader(files[1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sig); err != nil {
		return nil, fmt.Errorf("refused: %s: %v", carrySigName, err)
	}
	if !annotations.ValidAuthor(sig.Author) {
		return nil, fmt.Errorf("refused: %s: the author %q is not an account name", carrySigName, printableName(sig.Author))
	}
	pub, err := bundle.ParseKey(sig.Key)
	if err != nil {
		return nil, fmt.Errorf("refused: %s: the key is not ed25519:HEX", carrySigName)
	}
	raw, err := base64.StdEncoding.DecodeString(sig.Sig)
	if err != nil || !ed25519.Verify(pub, carryMessage(sig.Author, files[0]), raw) {
		return nil, fmt.Errorf("refused: the annotations' signature does not hold: they were altered, or not signed by the key they name")
	}
	ops, err := annotations.Decode(bytes.NewReader(files[0]))
	if err != nil {
		return nil, fmt.Errorf("refused: %v", err)
	}
	if len(ops) == 0 {
		return nil, errors.New("refused: annotations with no operation in them")
	}
	for _, op := range ops {
		if op.Author != sig.Author {
			return nil, fmt.Errorf("refused: annotations signed by %s hold an operation of %s", printableName(sig.Author), op.Author)
		}
	}
	return &carried{author: sig.Author, key: bundle.FormatKey(pub), ops: ops}, nil
}

// mergeCarried merges an export into the author's log in the folder:
// after checking the author's pinned key (pinning it the first time), and
// refusing operations that differ from ones already there under the same
// number (a forked log).
func (o *opener) mergeCarried(what string, c *carried) {
	authors := map[string]string{}
	if _, err := readPin(o.root, authorsFile, &authors); err != nil {
		o.fail("%s: %v", what, err)
		return
	}
	if k, ok := authors[c.author]; ok && k != c.key {
		o.fail("%s: refused: annotations of %s signed by %s, but this folder knows %s by %s (pinned in %s)", what, c.author, c.key, c.author, k, authorsFile)
		return
	}
	own, err := readLog(o.root, c.author)
	if err != nil {
		o.fail("%s: %v", what, err)
		return
	}
	bySeq := map[uint64]*annotations.Op{}
	for _, op := range own {
		bySeq[op.Seq] = op
	}
	added := 0
	for _, op := range c.ops {
		prev, ok := bySeq[op.Seq]
		if ok && *prev != *op {
			o.fail("%s: refused: %s wrote two different operations numbered %d (this folder's and this export's): their log forked (was one identity used on two machines?)", what, c.author, op.Seq)
			return
		}
		if !ok {
			bySeq[op.Seq] = op
			added++
		}
	}
	if _, ok := authors[c.author]; !ok {
		authors[c.author] = c.key
		if err := writePin(o.root, authorsFile, authors); err != nil {
			o.fail("%s: %v", what, err)
			return
		}
		infof("pinned %s's signing key %s", c.author, c.key)
	}
	if added == 0 {
		o.res.skipped++
		return
	}
	all := make([]*annotations.Op, 0, len(bySeq))
	for _, op := range bySeq {
		all = append(all, op)
	}
	slices.SortFunc(all, func(a, b *annotations.Op) int { return cmp.Compare(a.Seq, b.Seq) })
	var b bytes.Buffer
	if err := annotations.Encode(&b, all); err != nil {
		o.fail("%s: %v", what, err)
		return
	}
	err = o.root.MkdirAll(annotationsDir, 0o700)
	if err == nil {
		err = replaceFile(o.root, path.Join(annotationsDir, c.author+".jsonl"), b.Bytes())
	}
	if err != nil {
		o.fail("%s: %v", what, outErr(err))
		return
	}
	o.res.opened++
	infof("%s: %d new annotations by %s", what, added, c.author)
}

// runAnnotationsExport writes NAME's operations as an item encrypted to
// the pinned team set and signed with NAME's signing key.
func runAnnotationsExport(args []string) error {
	fl := newFlags("annotations export")
	as := fl.String("as", "", "your investigator account name")
	var idFiles multiFlag
	fl.Var(&idFiles, "i", "your identity `FILE`; its signing key (FILE.sign) signs the export")
	out := fl.String("o", "", "write the export to `FILE` (upload it on the investigator site)")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *as == "" || len(idFiles) == 0 || *out == "" {
		errorf("annotations export needs --as NAME, -i IDENTITY, -o FILE and a folder written by open")
		return errUsage
	}
	if !annotations.ValidAuthor(*as) {
		errorf("--as %q is not an account name", printableName(*as))
		return errUsage
	}
	ids, err := readIdentities(idFiles)
	if err != nil {
		return err
	}
	key, err := crypto.LoadSigningKey(signKeyPath(idFiles[0]))
	if err != nil {
		return fmt.Errorf("%v: an export is signed with your signing key; make one with \"testimony keygen --sign-key-for %s\"", err, idFiles[0])
	}
	root, err := os.OpenRoot(pos[0])
	if err != nil {
		return err
	}
	defer root.Close()
	team, rs, err := pinnedTeam(root)
	if err != nil {
		return err
	}
	if !includesOwn(rs, ids) {
		return fmt.Errorf("your key is not in the team recipient set pinned in %s (%s): you could not read your own export", pos[0], team.Fingerprint)
	}
	ops, err := readLog(root, *as)
	if err != nil {
		return err
	}
	if len(ops) == 0 {
		return fmt.Errorf("%s holds no annotations by %s", pos[0], *as)
	}
	pub := bundle.FormatKey(key.Public().(ed25519.PublicKey))
	authors := map[string]string{}
	if _, err := readPin(root, authorsFile, &authors); err != nil {
		return err
	}
	if k, ok := authors[*as]; ok && k != pub {
		return fmt.Errorf("%s knows %s by the signing key %s, not this one (%s): the team would refuse this export", pos[0], *as, k, pub)
	}
	if _, ok := authors[*as]; !ok {
		authors[*as] = pub
		if err := writePin(root, authorsFile, authors); err != nil {
			return err
		}
	}
	var log bytes.Buffer
	if err := annotations.Encode(&log, ops); err != nil {
		return err
	}
	sig := carrySignature{Author: *as, Key: pub,
		Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(key, carryMessage(*as, log.Bytes())))}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = writeCarry(f, rs, sig, log.Bytes())
	if err1 := f.Close(); err == nil {
		err = err1
	}
	if err != nil {
		os.Remove(*out)
		return err
	}
	infof("%d operations by %s, signed and encrypted to the team's %d keys (%s), in %s", len(ops), *as, rs.Len(), team.Fingerprint, *out)
	return nil
}

// writeCarry writes an export: the log and its signature in an envelope
// of kind annotations, encrypted to rs.
func writeCarry(w io.Writer, rs *crypto.Recipients, sig carrySignature, log []byte) error {
	sigJSON, err := json.Marshal(sig)
	if err != nil {
		return err
	}
	files := [][]byte{log, sigJSON}
	m := &crypto.Manifest{Format: crypto.Format, Kind: crypto.KindAnnotations, Day: time.Now().UTC().Format(time.DateOnly),
		Form: crypto.FormRef{ID: "annotations", Version: 1}, Answers: map[string]crypto.Answer{}}
	for i, name := range []string{carryLogName, carrySigName} {
		sum := sha256.Sum256(files[i])
		m.Attachments = append(m.Attachments, crypto.Attachment{Name: name, Size: int64(len(files[i])), SHA256: hex.EncodeToString(sum[:]), Type: "application/json"})
	}
	env, err := crypto.NewEnvelope(w, rs, m)
	if err != nil {
		return err
	}
	for _, b := range files {
		if err := env.WriteAttachment(bytes.NewReader(b)); err != nil {
			return err
		}
	}
	return env.Close()
}

// runAnnotationsTeam shows the pinned team set and one a bundle offered;
// --accept pins the offered one.
func runAnnotationsTeam(args []string) error {
	fl := newFlags("annotations team")
	accept := fl.Bool("accept", false, "pin the team recipient set the last bundle offered instead")
	var idFiles multiFlag
	fl.Var(&idFiles, "i", "your identity `FILE` (with --accept: your key must be in the set)")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (*accept && len(idFiles) == 0) {
		errorf("annotations team needs a folder written by open (and -i IDENTITY with --accept)")
		return errUsage
	}
	root, err := os.OpenRoot(pos[0])
	if err != nil {
		return err
	}
	defer root.Close()
	var pinned, offered bundle.Team
	hasPinned, err := readPin(root, teamFile, &pinned)
	if err != nil {
		return err
	}
	hasOffered, err := readPin(root, teamOfferedFile, &offered)
	if err != nil {
		return err
	}
	show := func(what string, t *bundle.Team) {
		printf("%s: %s\n", what, t.Fingerprint)
		for _, k := range t.Recipients {
			printf("    %s\n", k)
		}
	}
	if !*accept {
		if hasPinned {
			show("pinned", &pinned)
		} else {
			printf("no team recipient set pinned yet\n")
		}
		if hasOffered {
			show("offered by a later bundle, not used", &offered)
		}
		return nil
	}
	if !hasOffered {
		return fmt.Errorf("no bundle has offered %s another team recipient set", pos[0])
	}
	rs, err := teamRecipients(&offered)
	if err != nil {
		return fmt.Errorf("%s: %v", teamOfferedFile, err)
	}
	ids, err := readIdentities(idFiles)
	if err != nil {
		return err
	}
	if !includesOwn(rs, ids) {
		return fmt.Errorf("refused: your key is not in the offered team recipient set %s", offered.Fingerprint)
	}
	if err := writePin(root, teamFile, &offered); err != nil {
		return err
	}
	if err := root.Remove(teamOfferedFile); err != nil {
		return err
	}
	infof("pinned the team recipient set %s (%d keys) in place of %s", offered.Fingerprint, len(offered.Recipients), pinned.Fingerprint)
	return nil
}
