package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"filippo.io/age"

	"testimony/crypto"
)

// Extracting one item: decrypted and checked into a hidden temporary
// folder, its derived files written, then renamed into place.

// extracted is an item decrypted and checked into a temporary folder,
// ready to move to its place once its derived files are written.
type extracted struct {
	tmp, final string
	id         string
	done       chan error // the derived files' outcome
	carry      *carried   // an item of annotations: merged, no folder (carry.go)
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
	if x.carry != nil {
		return
	}
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
	if m.Kind == crypto.KindAnnotations { // carry.go: merged once placed, no case folder
		c, err := readCarried(er)
		if err != nil {
			o.fail("%s: %v", what, err)
			return nil
		}
		return &extracted{id: ref.id, carry: c}
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
	x := &extracted{tmp: tmp, final: final, id: ref.id, done: make(chan error, 1)}
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
	if x.carry != nil {
		o.mergeCarried(what, x.carry)
		return
	}
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
	o.res.ids = append(o.res.ids, x.id)
}
