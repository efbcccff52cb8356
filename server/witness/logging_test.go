package witness

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"testimony/crypto"
	"testimony/server/web"
	"testimony/store"
)

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
	// Every route of the table (witnessPages walks them all).
	witnessPages(t, e)
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
	for _, bad := range []string{marker, "127.0.0.1", "TESTAGENT", "Firefox", "Go-http-client", e.ts.URL, src, codename, strings.ReplaceAll(codename, " ", "+")} {
		if strings.Contains(logs, bad) {
			t.Errorf("the log holds %q:\n%s", bad, logs)
		}
	}
}

// TestPanicLogHoldsNoPanicValue: a handler that panics with a value built
// from request data gets the 500 page, and the log
// line says a handler panicked and where, never what the value was.
func TestPanicLogHoldsNoPanicValue(t *testing.T) {
	const marker = "MARKER-panic-4b1d"
	e := newWitEnv(t, Config{})
	h := e.s.web.Harden(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(fmt.Errorf("answer %s", r.URL.Query().Get("q")))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/?q="+marker, nil))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), marker) {
		t.Fatalf("%d\n%s", rec.Code, rec.Body)
	}
	logs := e.logs.String()
	if strings.Count(logs, `"msg":"handler panic"`) != 1 {
		t.Fatalf("the panics were not logged, so this test proves nothing:\n%s", logs)
	}
	if strings.Contains(logs, marker) {
		t.Errorf("the log holds the panic value:\n%s", logs)
	}
	if !strings.Contains(logs, "TestPanicLogHoldsNoPanicValue") {
		t.Errorf("the log line names no stack frame of the panic:\n%s", logs)
	}
}

// TestFullStoreWitnessErrorPage: an action the full store refuses gets a
// 507 on the witness site too, with the witness site's own words, never
// the investigator site's.
func TestFullStoreWitnessErrorPage(t *testing.T) {
	e := newWitEnv(t, Config{})
	full := e.s.handle(func(http.ResponseWriter, *http.Request) error {
		return fmt.Errorf("storing: %w", store.ErrFull)
	})
	rec := httptest.NewRecorder()
	e.s.web.Harden(full).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusInsufficientStorage {
		t.Fatalf("status %d, want 507", rec.Code)
	}
	body := rec.Body.String()
	if strings.Contains(body, web.Translate(web.DefaultLang, "inv.error.full")) || !strings.Contains(body, translateHTML("error.unavailable")) {
		t.Errorf("the witness page for a full store:\n%s", body)
	}
}
