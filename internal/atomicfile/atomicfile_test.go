package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := errors.New("bad")
	for _, c := range []struct {
		name         string
		write, ready error
	}{{"write fails", bad, nil}, {"check fails", nil, bad}} {
		err := Write(path, func(w io.Writer) error {
			io.WriteString(w, "new")
			return c.write
		}, func(tmp string) error {
			if b, _ := os.ReadFile(tmp); string(b) != "new" {
				t.Errorf("%s: the checked file holds %q", c.name, b)
			}
			return c.ready
		})
		if !errors.Is(err, bad) {
			t.Errorf("%s: %v", c.name, err)
		}
		if b, _ := os.ReadFile(path); string(b) != "old" {
			t.Errorf("%s: the path holds %q, want the old content", c.name, b)
		}
	}
	if err := Write(path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("path holds %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files left in the directory, want 1", len(ents))
	}
	if err := Write(filepath.Join(dir, "no", "such"), func(io.Writer) error { return nil }, nil); err == nil {
		t.Error("a write into a missing directory succeeded")
	}
}
