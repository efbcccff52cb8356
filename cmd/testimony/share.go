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
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"testimony/bundle"
	"testimony/crypto"
)

// share re-encrypts chosen items to a partner organisation's keys, offline:
// each item is decrypted and encrypted again in one pass, its envelope
// checked on the way, and the new items are written as a bundle that
// "testimony open" reads. The plaintext never touches the disk.

func runShare(args []string) error {
	fl := newFlags("share")
	var idFiles, only multiFlag
	fl.Var(&idFiles, "i", "read your identities (secret keys) from `FILE`; repeatable")
	rfile := fl.String("R", "", "the partner's recipients `FILE` (post-quantum age1pq1… keys)")
	out := fl.String("o", "", "write the new bundle to `OUT`")
	fl.Var(&only, "id", "share only the item `ID` of a bundle; repeatable")
	files, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	switch {
	case len(idFiles) == 0:
		errorf("share needs -i IDENTITY, the file of your secret key")
		return errUsage
	case *rfile == "":
		errorf("share needs -R PARTNER_RECIPIENTS, the file of the partner's public keys")
		return errUsage
	case *out == "":
		errorf("share needs -o OUT, the bundle to write")
		return errUsage
	case len(files) == 0:
		errorf("share needs at least one item (.age) or bundle")
		return errUsage
	}
	ids, err := readIdentities(idFiles)
	if err != nil {
		return err
	}
	rb, err := os.ReadFile(*rfile)
	if err != nil {
		return err
	}
	rs, err := crypto.ParseRecipients(bytes.NewReader(rb), *rfile)
	if err != nil {
		return err
	}
	if !rs.PostQuantum() {
		return fmt.Errorf("%s: the partner's keys are classic X25519 (age1…); share only to post-quantum keys (age1pq1…), made with \"testimony keygen\" or \"age-keygen -pq\"", *rfile)
	}
	var rcpts []age.Recipient
	for _, k := range rs.Keys() {
		r, err := age.ParseHybridRecipient(k)
		if err != nil {
			return fmt.Errorf("%s: %v", *rfile, err)
		}
		rcpts = append(rcpts, r)
	}
	sh := &sharer{ids: ids, rcpts: rcpts, fingerprint: rs.Fingerprint(), dir: filepath.Dir(*out), only: map[string]bool{}}
	for _, id := range only {
		sh.only[id] = true
	}
	defer sh.cleanup()
	for _, f := range files {
		if err := sh.add(f); err != nil {
			return err
		}
	}
	if len(sh.items) == 0 {
		return errors.New("no item to share")
	}
	if err := sh.writeBundle(*out); err != nil {
		return err
	}
	line := fmt.Sprintf("%s shared %d items with %s (%s, %d keys) as %s:", time.Now().UTC().Format(time.RFC3339),
		len(sh.items), sh.fingerprint, filepath.Base(*rfile), rs.Len(), filepath.Base(*out))
	for _, it := range sh.items {
		line += " " + it.entry.ID
	}
	logName := filepath.Join(sh.dir, "shared.log")
	lf, err := os.OpenFile(logName, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		_, err = io.WriteString(lf, line+"\n")
		if err1 := lf.Close(); err == nil {
			err = err1
		}
	}
	if err != nil {
		return fmt.Errorf("%s written, but not recorded in %s: %v", *out, logName, err)
	}
	if signKey, ok := loadSignKey(idFiles); ok { // custody.go
		var shared []string
		for _, it := range sh.items {
			shared = append(shared, it.entry.ID)
		}
		note := fmt.Sprintf("re-encrypted to %s (%s) as %s", sh.fingerprint, filepath.Base(*rfile), filepath.Base(*out))
		if err := appendCustody(sh.dir, signKey, "share", shared, note); err != nil {
			return fmt.Errorf("%s written, but not recorded in %s: %v", *out, filepath.Join(sh.dir, custodyName), err)
		}
	}
	infof("shared %d items in %s, recorded in %s", len(sh.items), *out, logName)
	return nil
}

type sharedItem struct {
	entry bundle.Entry
	file  string // the new ciphertext, a temporary file
}

type sharer struct {
	ids         []age.Identity
	rcpts       []age.Recipient
	fingerprint string
	dir         string
	only        map[string]bool
	items       []sharedItem
	seen        map[string]bool
}

func (s *sharer) cleanup() {
	for _, it := range s.items {
		os.Remove(it.file)
	}
}

// add re-encrypts the items of one file, an item or a bundle.
func (s *sharer) add(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	kind, err := sniff(f)
	if err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	switch kind {
	case kindItem:
		id := strings.TrimSuffix(filepath.Base(name), ".age")
		if !hexID.MatchString(id) {
			b := make([]byte, 16)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		return s.reencrypt(name, bufio.NewReaderSize(f, 256<<10), bundle.Entry{ID: id})
	case kindBundle:
		idx, err := readIndex(f)
		if err != nil {
			return fmt.Errorf("%s: damaged or truncated bundle: %v", name, err)
		}
		entries := map[string]bundle.Entry{}
		for _, e := range idx.Items {
			entries[e.ID] = e
		}
		br := bundle.NewReader(bufio.NewReaderSize(f, 256<<10))
		for {
			id, r, err := br.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			e, ok := entries[id]
			if !ok || (len(s.only) > 0 && !s.only[id]) {
				continue
			}
			if err := s.reencrypt(fmt.Sprintf("%s: item %s", name, id), r, e); err != nil {
				return err
			}
		}
		if _, err := br.Verify(); err != nil {
			return fmt.Errorf("%s: %v; nothing shared", name, err)
		}
		return nil
	}
	return fmt.Errorf("%s: neither an age item nor a bundle", name)
}

// reencrypt decrypts one item and encrypts it to the partner in one pass,
// reading the envelope through to check it is whole.
func (s *sharer) reencrypt(what string, src io.Reader, e bundle.Entry) error {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[e.ID] {
		return nil
	}
	pr, err := age.Decrypt(src, s.ids...)
	if err != nil {
		if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
			return fmt.Errorf("%s: cannot decrypt with this identity; nothing shared", what)
		}
		return fmt.Errorf("%s: damaged or truncated: %v; nothing shared", what, err)
	}
	tmp, err := os.CreateTemp(s.dir, ".share-*.age")
	if err != nil {
		return err
	}
	s.items = append(s.items, sharedItem{file: tmp.Name()}) // removed by cleanup
	slot := &s.items[len(s.items)-1]
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	aw, err := age.Encrypt(cw, s.rcpts...)
	if err != nil {
		tmp.Close()
		return err
	}
	er, err := crypto.ReadEnvelope(io.TeeReader(pr, aw))
	if err == nil {
		err = er.Finish()
	}
	if err != nil {
		tmp.Close()
		return fmt.Errorf("%s: damaged or truncated: %v; nothing shared", what, err)
	}
	if err := aw.Close(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	m := er.Manifest()
	e.Kind, e.Day = m.Kind, m.Day
	e.Size, e.SHA256, e.Recipients = cw.n, hex.EncodeToString(h.Sum(nil)), s.fingerprint
	slot.entry = e
	s.seen[e.ID] = true
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeBundle writes the new items as a bundle (the format of package
// bundle), through a temporary file; it never replaces a file.
func (s *sharer) writeBundle(out string) error {
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s already exists: refusing to overwrite it", out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, ".share-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 256<<10)
	tw := tar.NewWriter(bw)
	idx := bundle.Index{Format: bundle.Format, Day: time.Now().UTC().Format(time.DateOnly)}
	for _, it := range s.items {
		f, err := os.Open(it.file)
		if err != nil {
			tmp.Close()
			return err
		}
		err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: bundle.ItemPath(it.entry.ID),
			Size: it.entry.Size, Mode: 0o600, Format: tar.FormatPAX})
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		f.Close()
		if err != nil {
			tmp.Close()
			return err
		}
		idx.Items = append(idx.Items, it.entry)
	}
	js, err := json.MarshalIndent(idx, "", "  ")
	if err == nil {
		err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "index.json",
			Size: int64(len(js)), Mode: 0o600, Format: tar.FormatPAX})
	}
	if err == nil {
		_, err = tw.Write(js)
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if err1 := tmp.Close(); err == nil {
		err = err1
	}
	if err != nil {
		return err
	}
	// Link, not rename: it fails if out appeared meanwhile.
	if err := os.Link(tmp.Name(), out); err != nil {
		return err
	}
	return nil
}
