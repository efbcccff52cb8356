package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var slogMethods = map[string]int{ // method → index of its first key
	"Debug": 1, "Info": 1, "Warn": 1, "Error": 1,
	"DebugContext": 2, "InfoContext": 2, "WarnContext": 2, "ErrorContext": 2,
	"Log": 3,
}

// serverDirs are the directories of the server packages: this one and
// the two sites.
var serverDirs = []string{".", "../witness", "../investigator"}

// TestLogKeysAllowListed reads every slog call of the server packages'
// code and fails on a key outside allowedLogKeys, or one that is not a
// literal.
func TestLogKeysAllowListed(t *testing.T) {
	var files []string
	for _, d := range serverDirs {
		fs, err := filepath.Glob(filepath.Join(d, "*.go"))
		if err != nil || len(fs) == 0 {
			t.Fatalf("%s: %v %v", d, fs, err)
		}
		files = append(files, fs...)
	}
	fset := token.NewFileSet()
	calls := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			first, ok := slogMethods[sel.Sel.Name]
			if !ok || !isLogger(sel.X) {
				return true
			}
			calls++
			args := call.Args
			if call.Ellipsis.IsValid() {
				t.Errorf("%s: a log call with args... cannot be checked", fset.Position(call.Pos()))
				return true
			}
			for i := first; i < len(args); i++ {
				key, ok := logKey(args[i])
				if !ok {
					t.Errorf("%s: log key is not a string literal or slog.X(\"key\", …)", fset.Position(args[i].Pos()))
					return true
				}
				if !allowedLogKeys[key] {
					t.Errorf("%s: log key %q is not in allowedLogKeys", fset.Position(args[i].Pos()), key)
				}
				if _, isAttr := args[i].(*ast.CallExpr); !isAttr {
					i++ // skip the value
				}
			}
			return true
		})
	}
	if calls < 3 {
		t.Fatalf("found only %d log calls: the parser misses them", calls)
	}
}

func isLogger(x ast.Expr) bool {
	switch v := x.(type) {
	case *ast.Ident:
		return v.Name == "slog" || v.Name == "log" || v.Name == "logger"
	case *ast.SelectorExpr:
		return v.Sel.Name == "log" || v.Sel.Name == "Log" || v.Sel.Name == "logger"
	}
	return false
}

func logKey(e ast.Expr) (string, bool) {
	switch v := e.(type) {
	case *ast.BasicLit:
		if v.Kind == token.STRING {
			s, err := strconv.Unquote(v.Value)
			return s, err == nil
		}
	case *ast.CallExpr: // slog.String("key", …) and friends
		if sel, ok := v.Fun.(*ast.SelectorExpr); ok && isLogger(sel.X) && len(v.Args) > 0 {
			return logKey(v.Args[0])
		}
	}
	return "", false
}
