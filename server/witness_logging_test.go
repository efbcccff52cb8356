package server

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"testimony/crypto"
	"testimony/store"
)

var slogMethods = map[string]int{ // method → index of its first key
	"Debug": 1, "Info": 1, "Warn": 1, "Error": 1,
	"DebugContext": 2, "InfoContext": 2, "WarnContext": 2, "ErrorContext": 2,
	"Log": 3,
}

// TestLogKeysAllowListed reads every slog call of the package's code and
// fails on a key outside allowedLogKeys, or one that is not a literal.
func TestLogKeysAllowListed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
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
		return v.Sel.Name == "log" || v.Sel.Name == "logger"
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

// TestLogsHoldNothingOfTheWitness runs a witness's whole visit, and some
// failures, and checks the log output for what must never be in it.
func TestLogsHoldNothingOfTheWitness(t *testing.T) {
	const marker = "MARKER-7f3c9e-LOG"
	const agent = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0 TESTAGENT"
	e := newWitEnv(t, Config{MaxUpload: 4 << 20})
	send := func(path, ct string, body []byte) (int, string) {
		req, _ := http.NewRequest("POST", e.ts.URL+path, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("User-Agent", agent)
		req.Header.Set("X-Forwarded-For", "127.0.0.1")
		res, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	ct, body := multipartBody(t, fullTestimony(marker, part{name: "files", filename: marker + ".txt", body: "file " + marker})...)
	st, page := send("/submit", ct, body)
	if st != 200 {
		t.Fatal(st)
	}
	codename := codenameOf(t, page)
	e.plantReply(codename, "reply")
	send("/thread", "application/x-www-form-urlencoded", []byte("codename="+strings.ReplaceAll(codename, " ", "+")))
	ct, body = multipartBody(t, part{name: "codename", body: codename}, part{name: "message", body: marker})
	send("/followup", ct, body)
	// Failures: bad input, oversize, a reply that does not open, no keys.
	ct, body = multipartBody(t, part{name: marker, body: marker})
	send("/submit", ct, body)
	ct, body = multipartBody(t, part{name: "account", body: marker + strings.Repeat("x", 5<<20)})
	send("/submit", ct, body)
	src := crypto.Pseudonym(e.s.key, codename)
	iw := e.db.NewItem()
	iw.Write([]byte("not an age file " + marker))
	iw.Commit(store.Item{Kind: crypto.KindReply, Day: e.s.today(), Source: src})
	send("/thread", "application/x-www-form-urlencoded", []byte("codename="+strings.ReplaceAll(codename, " ", "+")))
	e.s.cfg.Escrow = nil
	ct, body = multipartBody(t, fullTestimony(marker)...)
	if st, _ := send("/submit", ct, body); st != 503 {
		t.Fatalf("no keys: %d", st)
	}
	logs := e.logs.String()
	// (With no keys the site is not accepting: the post is refused before
	// its body is read, and nothing is logged of it.)
	if !strings.Contains(logs, "does not open") {
		t.Fatalf("the failures were not logged at all, so this test proves nothing:\n%s", logs)
	}
	// The codename's words one by one could be ordinary words of a log
	// line; the codename and its pseudonym cannot.
	for _, bad := range []string{marker, "127.0.0.1", "TESTAGENT", "Firefox", e.ts.URL, src, codename, strings.ReplaceAll(codename, " ", "+")} {
		if strings.Contains(logs, bad) {
			t.Errorf("the log holds %q:\n%s", bad, logs)
		}
	}
}

// TestPanicLogHoldsNoPanicValue: a handler that panics with a value built
// from request data (issue 17, point 16) gets the 500 page, and the log
// line says a handler panicked and where, never what the value was.
func TestPanicLogHoldsNoPanicValue(t *testing.T) {
	const marker = "MARKER-panic-4b1d"
	e := newWitEnv(t, Config{})
	for _, st := range []site{siteWitness, siteInvestigator} {
		h := e.s.harden(st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			panic(fmt.Errorf("answer %s", r.URL.Query().Get("q")))
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/?q="+marker, nil))
		if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), marker) {
			t.Fatalf("site %d: %d\n%s", st, rec.Code, rec.Body)
		}
	}
	logs := e.logs.String()
	if strings.Count(logs, `"msg":"handler panic"`) != 2 {
		t.Fatalf("the panics were not logged, so this test proves nothing:\n%s", logs)
	}
	if strings.Contains(logs, marker) {
		t.Errorf("the log holds the panic value:\n%s", logs)
	}
	if !strings.Contains(logs, "TestPanicLogHoldsNoPanicValue") {
		t.Errorf("the log line names no stack frame of the panic:\n%s", logs)
	}
}
