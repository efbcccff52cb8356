package investigator

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"testimony/crypto"
	"testimony/server/web"
	"testimony/store"
)

// downStore is a store that can lose its cluster: while down, every
// transaction fails as a replicated store's does without a quorum.
type downStore struct {
	store.Store
	down atomic.Bool
}

func (d *downStore) fail() error { return fmt.Errorf("nats 10.0.0.7:4222: %w", store.ErrUnavailable) }

func (d *downStore) View(fn func(store.Tx) error) error {
	if d.down.Load() {
		return d.fail()
	}
	return d.Store.View(fn)
}

func (d *downStore) Update(fn func(store.Tx) error) error {
	if d.down.Load() {
		return d.fail()
	}
	return d.Store.Update(fn)
}

func (d *downStore) UpdateFreeing(fn func(store.Tx) error) error {
	if d.down.Load() {
		return d.fail()
	}
	return d.Store.UpdateFreeing(fn)
}

// TestUnavailableStoreAnswers503: with the store unreachable, a logged-in
// page and a login get the site's 503 page with Retry-After (not a
// redirect to the login, not "wrong login", not the error's detail), and
// the session works again once the store is back.
func TestUnavailableStoreAnswers503(t *testing.T) {
	e := newInvEnv(t, Config{})
	ds := &downStore{Store: e.db}
	s, err := New(Config{Now: e.clock.Now, argon: cheapArgon}, ds, crypto.NewServerKeyForTest(7), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.s, e.h = s, s.Handler()
	e.ts = httptest.NewServer(e.h)
	t.Cleanup(e.ts.Close)
	ana := e.addInvestigator("ana")
	c := e.client()
	c.loginReady(ana)

	ds.down.Store(true)
	want := html.EscapeString(web.Translate(web.DefaultLang, "inv.error.unavailable"))
	if want == "inv.error.unavailable" {
		t.Fatal("inv.error.unavailable has no English text")
	}
	for what, r := range map[string]resp{"the case list": c.get("/"), "a login": e.client().login(ana)} {
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("%s with the store unavailable: status %d, location %q, want 503", what, r.status, r.header.Get("Location"))
		}
		if got := r.header.Get("Retry-After"); got != "30" {
			t.Errorf("%s: Retry-After %q, want 30", what, got)
		}
		body := string(r.body)
		if !strings.Contains(body, want) {
			t.Errorf("%s: the page does not say the store is unavailable:\n%s", what, body)
		}
		if strings.Contains(body, "10.0.0.7") || strings.Contains(body, "nats") {
			t.Errorf("%s: the page shows the error's detail:\n%s", what, body)
		}
	}

	ds.down.Store(false)
	if r := c.get("/"); r.status != http.StatusOK {
		t.Errorf("the case list with the store back: status %d, want 200 (the session must survive)", r.status)
	}
}
