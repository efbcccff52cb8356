package testutil

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The house's checks of a package's own source, for each package's
// hygiene test: tests leave package variables alone, comments carry no
// history, files stay short.

// goFiles lists dir's Go files, failing the test if there are none.
func goFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no Go files (%v)", dir, err)
	}
	return files
}

// TestsLeaveGlobals fails t where a test function of a package in dirs
// assigns to (or takes the address of) one of its package's variables: a
// test that needs another setting gives it to its own instance, so tests
// cannot leak a setting into one another. It returns how many test
// functions it read.
func TestsLeaveGlobals(t testing.TB, dirs ...string) int {
	t.Helper()
	checked := 0
	for _, dir := range dirs {
		fset := token.NewFileSet()
		globals := map[string]bool{}
		var tests []*ast.File
		for _, name := range goFiles(t, dir) {
			f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(name, "_test.go") {
				tests = append(tests, f)
				continue
			}
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
					for _, s := range g.Specs {
						for _, n := range s.(*ast.ValueSpec).Names {
							globals[n.Name] = true
						}
					}
				}
			}
		}
		if len(globals) == 0 || len(tests) == 0 {
			t.Fatalf("%s: %d package-level variables, %d test files: the check reads the wrong files", dir, len(globals), len(tests))
		}
		for _, f := range tests {
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				checked++
				local := localNames(fn)
				check := func(e ast.Expr) {
					if id, ok := e.(*ast.Ident); ok && globals[id.Name] && !local[id.Name] {
						t.Errorf("%s: %s assigns to the package variable %s", fset.Position(id.Pos()), fn.Name.Name, id.Name)
					}
				}
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					switch s := n.(type) {
					case *ast.AssignStmt:
						if s.Tok != token.DEFINE {
							for _, e := range s.Lhs {
								check(e)
							}
						}
					case *ast.IncDecStmt:
						check(s.X)
					case *ast.UnaryExpr:
						// &global handed to a helper that sets it.
						if s.Op == token.AND {
							check(s.X)
						}
					}
					return true
				})
			}
		}
	}
	return checked
}

// localNames is every name that fn declares: parameters, results, :=,
// var and range variables, in fn and the closures inside it. A name
// declared there may shadow a package variable; assigning to it is no
// concern of TestsLeaveGlobals.
func localNames(fn *ast.FuncDecl) map[string]bool {
	names := map[string]bool{}
	fields := func(l *ast.FieldList) {
		if l == nil {
			return
		}
		for _, f := range l.List {
			for _, n := range f.Names {
				names[n.Name] = true
			}
		}
	}
	fields(fn.Recv)
	fields(fn.Type.Params)
	fields(fn.Type.Results)
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.AssignStmt:
			if s.Tok == token.DEFINE {
				for _, e := range s.Lhs {
					if id, ok := e.(*ast.Ident); ok {
						names[id.Name] = true
					}
				}
			}
		case *ast.RangeStmt:
			if s.Tok == token.DEFINE {
				for _, e := range []ast.Expr{s.Key, s.Value} {
					if id, ok := e.(*ast.Ident); ok {
						names[id.Name] = true
					}
				}
			}
		case *ast.ValueSpec:
			for _, n := range s.Names {
				names[n.Name] = true
			}
		case *ast.FuncLit:
			fields(s.Type.Params)
			fields(s.Type.Results)
		}
		return true
	})
	return names
}

// historyInComments matches what a comment should leave to the commit
// messages and BENCHMARKS.md: an issue number, a measured figure.
var historyInComments = regexp.MustCompile(`(?i)\bissue #?\d|\bmeasured\b|\d(\.\d+)? ?(ms|µs|ns|MB/s|items/s|posts/s)\b|\d%`)

// issueInComments matches an issue number.
var issueInComments = regexp.MustCompile(`(?i)\bissue #?\d`)

// CommentsCarryNoHistory fails t where a comment in dirs carries an issue
// number, or one in a production file a measured figure (a test's comments
// may give its own timings, "a byte every 50 ms": that is what it does).
// It returns how many files it read.
func CommentsCarryNoHistory(t testing.TB, dirs ...string) int {
	t.Helper()
	n := 0
	for _, dir := range dirs {
		fset := token.NewFileSet()
		for _, name := range goFiles(t, dir) {
			f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			n++
			re := historyInComments
			if strings.HasSuffix(name, "_test.go") {
				re = issueInComments
			}
			for _, g := range f.Comments {
				for _, c := range g.List {
					if m := re.FindString(c.Text); m != "" {
						t.Errorf("%s: comment carries %q: %s", fset.Position(c.Pos()), m, c.Text)
					}
				}
			}
		}
	}
	return n
}

// FileSizes fails t where a production file in dirs is over prod lines or
// a test file over tests: a file that grows past that holds two concerns.
func FileSizes(t testing.TB, prod, tests int, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		for _, name := range goFiles(t, dir) {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			limit := prod
			if strings.HasSuffix(name, "_test.go") {
				limit = tests
			}
			if n := bytes.Count(b, []byte("\n")); n > limit {
				t.Errorf("%s: %d lines, over %d", name, n, limit)
			}
		}
	}
}
