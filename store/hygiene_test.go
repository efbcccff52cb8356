package store

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"testimony/internal/testutil"
)

// TestTestsLeaveGlobals: no test of this package assigns to one of its
// package-level variables. A test that needs another setting passes it in
// Options (the unexported test hooks), so tests cannot leak a setting into
// one another, and the store's behaviour depends on its Options alone.
func TestTestsLeaveGlobals(t *testing.T) {
	if n := testutil.TestsLeaveGlobals(t, "."); n < 50 {
		t.Fatalf("only %d test functions read", n)
	}
}

// TestCommentsCarryNoHistory: no comment in the package's files carries
// an issue number, nor one of its production files a measured figure.
func TestCommentsCarryNoHistory(t *testing.T) {
	if n := testutil.CommentsCarryNoHistory(t, "."); n < 20 {
		t.Fatalf("only %d files read", n)
	}
}

// TestFileSizes: the package stays in files of one concern each, which
// keeps them short: no production file over 400 lines, no test file over
// 800.
func TestFileSizes(t *testing.T) { testutil.FileSizes(t, 400, 800, ".") }

// keptForCallers are exported names that no production code outside the
// package uses, kept exported with the reason.
var keptForCallers = map[string]string{
	"ErrNewer":      "a sentinel of Open's contract, for errors.Is",
	"ErrNoSpace":    "a sentinel of Snapshot's contract, for errors.Is",
	"Stats":         "the type DB.Stats returns; callers read its fields",
	"PendingChunks": "read by the tests of server and cmd/testimonyd, which have no other view of unfinished writes",
}

// TestExportedHaveCallers: every exported name of the package is used by
// production code outside it. A name only tests use is test-only API: it
// belongs unexported (a test hook), in a test file, or gone. Package-level
// names are looked up as store.Name; methods and fields, which a caller
// may reach through an interface of its own, as .Name (or Name: in a
// literal) anywhere.
func TestExportedHaveCallers(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	top, members := map[string]bool{}, map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					top[d.Name.Name] = true
				} else {
					members[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							top[n.Name] = true
						}
					case *ast.TypeSpec:
						top[s.Name.Name] = true
						if st, ok := s.Type.(*ast.StructType); ok && s.Name.IsExported() {
							for _, f := range st.Fields.List {
								if f.Tag != nil && strings.Contains(f.Tag.Value, "json:") {
									continue // encoding/json needs it exported
								}
								for _, n := range f.Names {
									members[n.Name] = true
								}
							}
						}
					}
				}
			}
		}
	}
	var src []byte
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "vendor" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		// This package's own files are not callers; its subpackages (the
		// other backends, the conformance suite) are.
		if !d.IsDir() && filepath.Dir(path) != filepath.Join("..", "store") &&
			strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			src = append(append(src, b...), '\n')
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(src, []byte("store.Open(")) {
		t.Fatal("no caller of store.Open found: the test reads the wrong files")
	}
	check := func(names map[string]bool, pattern string) {
		for n := range names {
			if !ast.IsExported(n) || keptForCallers[n] != "" {
				continue
			}
			if !regexp.MustCompile(strings.ReplaceAll(pattern, "NAME", n)).Match(src) {
				t.Errorf("%s is exported, and no production code outside the package uses it", n)
			}
		}
	}
	check(top, `\bstore\.NAME\b`)
	check(members, `\.NAME\b|\bNAME:`) // a selector, or a key in a literal
}
