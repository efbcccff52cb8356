package witness

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"testimony/crypto"
)

// TestReceiptParts: a receipt joined from its parts is byte for byte the
// page its template renders, in every language, accepting or not, for
// codenames of any length; words a template would escape are rendered
// whole.
func TestReceiptParts(t *testing.T) {
	e := newWitEnv(t, Config{})
	for _, lang := range e.s.lang.langs {
		for _, closed := range []bool{false, true} {
			p, err := e.s.receiptParts(lang, closed)
			if err != nil {
				t.Fatal(err)
			}
			if p == nil {
				t.Fatalf("%s: the receipt does not hold the codename's words where the template puts them", lang)
			}
			for n := 1; n <= 8; n++ {
				c, err := crypto.NewCodename()
				if err != nil {
					t.Fatal(err)
				}
				words := strings.Fields(c)[:min(n, len(strings.Fields(c)))]
				rec := &bufferedResponse{header: http.Header{}}
				if err := e.s.render(rec, http.StatusOK, "receipt", lang, receiptPage(words), closed); err != nil {
					t.Fatal(err)
				}
				if got := p.page(words); !bytes.Equal(got, rec.body.Bytes()) {
					t.Fatalf("%s, closed %v, %d words: the joined receipt differs from the rendered one", lang, closed, len(words))
				}
			}
		}
	}
	// A word the template would escape is not joined in as it is.
	w := httptest.NewRecorder()
	if err := e.s.writeReceipt(w, "en", "brave <b>x</b>"); err != nil {
		t.Fatal(err)
	}
	if body := w.Body.String(); strings.Contains(body, "<b>x") || !strings.Contains(body, "&lt;b&gt;x") {
		t.Errorf("a word with markup was not escaped:\n%s", body)
	}
	if got := w.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
}
