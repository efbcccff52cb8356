package web

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

// The guards of this file hold for the three server packages (serverDirs:
// web and the two sites), as store's hygiene_test.go does for store.

// TestTestsLeaveGlobals: no test of a server package assigns to one of
// its package-level variables. A test that needs another limit sets the
// field of its own site (Site.lim, web.Site.Limits, …), so tests cannot
// leak a setting into one another and may run in parallel.
func TestTestsLeaveGlobals(t *testing.T) {
	checked := 0
	for _, dir := range serverDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		globals := map[string]bool{}
		var tests []*ast.File
		for _, name := range files {
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
			t.Fatalf("%s: %d package-level variables, %d test files: the test reads the wrong files", dir, len(globals), len(tests))
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
	if checked < 50 {
		t.Fatalf("only %d test functions checked", checked)
	}
}

// localNames is every name that fn declares: parameters, results, :=,
// var and range variables, in fn and the closures inside it. A name
// declared there may shadow a package variable; assigning to it is no
// concern of TestTestsLeaveGlobals.
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

// historyInComments matches what a comment should not carry: issue
// numbers, measurements and their units, percentages. Those belong in
// BENCHMARKS.md and commit messages; a comment says what is and why.
var historyInComments = regexp.MustCompile(`(?i)\bissue #?\d|\bmeasured\b|\d(\.\d+)? ?(ms|µs|ns|MB/s|items/s|posts/s)\b|\d%`)

// issueInComments matches an issue number.
var issueInComments = regexp.MustCompile(`(?i)\bissue #?\d`)

// TestCommentsCarryNoHistory: no comment in the server packages' files
// carries an issue number, nor one of their production files a benchmark
// figure.
func TestCommentsCarryNoHistory(t *testing.T) {
	n := 0
	for _, dir := range serverDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		for _, name := range files {
			f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			n++
			for _, g := range f.Comments {
				for _, c := range g.List {
					re := historyInComments
					if strings.HasSuffix(name, "_test.go") {
						// A test's comments may give its own timings ("a
						// byte every 50 ms"): that is what it does, not a
						// figure it measured.
						re = issueInComments
					}
					if m := re.FindString(c.Text); m != "" {
						t.Errorf("%s: comment carries %q: %s", fset.Position(c.Pos()), m, c.Text)
					}
				}
			}
		}
	}
	if n < 30 {
		t.Fatalf("only %d files read", n)
	}
}

// TestFileSizes: no production file of a server package is over 500
// lines, no test file over 800. A file that grows past that holds two
// concerns; split it.
func TestFileSizes(t *testing.T) {
	for _, dir := range serverDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v %v", dir, files, err)
		}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			limit := 500
			if strings.HasSuffix(name, "_test.go") {
				limit = 800
			}
			if n := bytes.Count(b, []byte("\n")); n > limit {
				t.Errorf("%s: %d lines, over %d", name, n, limit)
			}
		}
	}
}
