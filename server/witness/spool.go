package witness

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"filippo.io/age"

	"testimony/crypto"
	"testimony/store"
)

// The envelope needs every attachment's size and SHA-256 before its first
// byte (the manifest is the first tar entry), and a multipart upload gives
// them only at its end. A large upload is written straight into the store
// instead, with room kept for the manifest (streamPlan, in
// upload.go); a small one's file parts are spooled: streamed into a file
// of DATA/spool, encrypted on the way in to an X25519 identity made for
// that one request. The identity lives only in memory: a spool file left
// behind by a crash is unreadable noise, and the directory is emptied at
// start-up all the same. The spool is never $TMPDIR.

const spoolDirName = "spool"

// spoolDir is the spool directory, DATA/spool.
func (s *Site) spoolDir() string { return filepath.Join(s.cfg.DataDir, spoolDirName) }

// cleanSpool removes whatever a previous run left in the spool and makes
// the directory, mode 0700.
func (s *Site) cleanSpool() error {
	dir := s.spoolDir()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("emptying the spool: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("making the spool: %w", err)
	}
	return os.Chmod(dir, 0o700)
}

// spool holds one request's spooled files, and writes them into the item
// at commit.
type spool struct {
	dir   string
	db    store.Store
	rs    *crypto.Recipients
	id    *age.X25519Identity
	files []*spoolFile
}

// newSpool is the sink of an upload that plan's item will hold, until
// startStream chooses to stream it.
func (s *Site) newSpool(plan *streamPlan) *spool {
	return &spool{dir: s.spoolDir(), db: s.db, rs: plan.rs}
}

func (sp *spool) count() int { return len(sp.files) }

// spoolFile is one spooled attachment: its name and type as the witness's
// browser gave them (cleaned), and the size and SHA-256 of its plaintext.
type spoolFile struct {
	path   string
	Name   string
	Type   string
	Size   int64
	SHA256 string
}

// errFileTooLarge is returned by add when a file passes its limit.
var errFileTooLarge = errors.New("file too large")

// add streams r into a new spool file, encrypted, counting and hashing
// it. It stops with errFileTooLarge as soon as more than limit bytes came.
// The file is listed in sp (and so removed by remove) from its creation.
func (sp *spool) add(r io.Reader, limit int64, name, typ string) (int64, error) {
	if sp.id == nil { // the first file of the request
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return 0, err
		}
		sp.id = id
	}
	f, err := os.CreateTemp(sp.dir, "up-*")
	if err != nil {
		return 0, err
	}
	sf := &spoolFile{path: f.Name(), Name: name, Type: typ}
	sp.files = append(sp.files, sf)
	err = func() error {
		aw, err := age.Encrypt(f, sp.id.Recipient())
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(aw, h), io.LimitReader(r, limit+1))
		if err != nil {
			return err
		}
		if n > limit {
			return errFileTooLarge
		}
		sf.Size = n
		sf.SHA256 = hex.EncodeToString(h.Sum(nil))
		return aw.Close()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return sf.Size, nil
}

// commit writes the envelope of m with the spooled files into a new item,
// and commits it. On error the item writer is aborted (chunks of a crash
// are removed at the next open).
func (sp *spool) commit(m *crypto.Manifest, it store.Item, with func(store.Tx) error) error {
	for _, f := range sp.files {
		m.Attachments = append(m.Attachments, crypto.Attachment{Name: f.Name, Size: f.Size, SHA256: f.SHA256, Type: f.Type})
	}
	iw := sp.db.NewItem()
	defer iw.Abort()
	env, err := crypto.NewEnvelope(iw, sp.rs, m)
	if err != nil {
		return err
	}
	for _, f := range sp.files {
		rc, err := sp.open(f)
		if err != nil {
			return err
		}
		err = env.WriteAttachment(rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	if err := env.Close(); err != nil {
		return err
	}
	_, err = iw.CommitWith(it, with)
	return err
}

// open returns the plaintext of a spooled file.
func (sp *spool) open(sf *spoolFile) (io.ReadCloser, error) {
	f, err := os.Open(sf.path)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(f, sp.id)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{r, f}, nil
}

// remove deletes every spooled file and forgets the key. Safe to call
// more than once.
func (sp *spool) remove() {
	for _, sf := range sp.files {
		os.Remove(sf.path)
	}
	sp.files = nil
	sp.id = nil
}
