package investigator

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzSessionCookie: whatever the cookie header, the site answers without
// a crash and lets no one in.
func FuzzSessionCookie(f *testing.F) {
	e := newInvEnv(f, Config{})
	e.addInvestigator("alice")
	for _, s := range []string{"", "session=", "session=AAAA", "session=" + strings.Repeat("A", 43), "session=\x00", "a=b; session=c; session=d", "session=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cookie string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", cookie)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("cookie %q: %d", cookie, rec.Code)
		}
	})
}

// FuzzLoginForm: any login body gets the login-failed page or a 4xx, never
// a crash or a session.
func FuzzLoginForm(f *testing.F) {
	e := newInvEnv(f, Config{LoginFailures: 1 << 30}) // every input reaches the checks
	e.addInvestigator("alice")
	for _, s := range []string{"", "account=alice&passphrase=x&code=123456", "account=%00&code=%ff", strings.Repeat("a=", 1000), "account=alice&account=bob"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusBadRequest {
			if _, err := url.ParseQuery(body); err == nil || rec.Code >= 500 {
				t.Fatalf("body %q: %d", body, rec.Code)
			}
		}
		if rec.Header().Get("Set-Cookie") != "" {
			t.Fatalf("body %q got a cookie", body)
		}
	})
}
