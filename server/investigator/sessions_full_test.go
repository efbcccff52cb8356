package investigator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"testimony/internal/testutil"
	"testimony/records"
	"testimony/store"
)

// newInvEnvFull is newInvEnv on a store capped at limit bytes, with the
// server's log in logs.
func newInvEnvFull(t *testing.T, limit int) (*invEnv, *testutil.Buffer) {
	t.Helper()
	logs := &testutil.Buffer{}
	e := newInvEnvOn(t, Config{}, store.Options{MaxSize: limit}, slog.New(slog.NewTextHandler(logs, nil)))
	return e, logs
}

// fillStore fills db until the session record of c cannot be written
// (store.ErrFull) and keeps it so. bbolt reuses at the next write the pages
// a write frees, so one rewrite of a small record can always follow
// another; a large value beside the session in its leaf makes each rewrite
// need one contiguous run of pages, and the one-page writes that follow it
// break up the run the rewrite freed. Rewrites and one-page fills then
// alternate until a rewrite fails; the session's own writes, and its
// deletion, fail alike.
func fillStore(t *testing.T, db *store.DB, c *client) {
	t.Helper()
	key := records.SessionKey(c.cookie.Value)
	i := 0
	put := func(bucket string, k, v []byte) error {
		return db.Update(func(tx store.Tx) error { return tx.Put(bucket, k, v) })
	}
	fill := func(bucket string, size int) {
		t.Helper()
		for {
			i++
			err := put(bucket, fmt.Appendf(nil, "%08d", i), bytes.Repeat([]byte{'b'}, size))
			if errors.Is(err, store.ErrFull) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// A session-shaped record (the same account, an extra field the
	// server ignores) that fills the session's leaf with 16 pages.
	ballast := sessionOf(t, c)
	pad, err := json.Marshal(struct {
		records.Session
		Pad string `json:"pad"`
	}{ballast, strings.Repeat("p", 64<<10)})
	if err != nil {
		t.Fatal(err)
	}
	if err := put(records.BucketSessions, append(bytes.Clone(key), 0), pad); err != nil {
		t.Fatal(err)
	}
	fill("ballast", 64<<10)
	fill("ballast", 1<<10)
	fill("ballast", 100)
	for n := 0; n < 1000; n++ {
		fill("ballast2", 1)
		err := db.Update(func(tx store.Tx) error {
			v, err := tx.Get(records.BucketSessions, key)
			if err != nil {
				return err
			}
			return tx.Put(records.BucketSessions, key, v)
		})
		if errors.Is(err, store.ErrFull) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the session record can still be rewritten after 1,000 rounds")
}

// sessionOf reads the session record of c's cookie.
func sessionOf(t *testing.T, c *client) records.Session {
	t.Helper()
	var ss records.Session
	err := c.e.db.View(func(tx store.Tx) error {
		v, err := tx.Get(records.BucketSessions, records.SessionKey(c.cookie.Value))
		if err != nil {
			return err
		}
		return json.Unmarshal(v, &ss)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

// TestFullStoreKeepsSession: with the store full, an investigator stays
// logged in — the session look-up's write (its last-seen time) fails with
// store.ErrFull, which used to look like "no session" and sent them to the
// login page — is told the store is full on the page they read, and can
// still log out.
func TestFullStoreKeepsSession(t *testing.T) {
	e, logs := newInvEnvFull(t, 8<<20)
	alice := e.addInvestigator("alice")
	c := e.client()
	c.loginReady(alice)
	before := sessionOf(t, c)
	fillStore(t, e.db, c)

	e.clock.Add(e.s.touchEvery() + time.Second) // the look-up writes the session
	r := c.get("/")
	if r.status != http.StatusOK {
		t.Fatalf("case list with the store full: status %d, location %q, want 200 (still logged in)", r.status, r.header.Get("Location"))
	}
	if c.cookie == nil {
		t.Fatal("the session cookie was cleared")
	}
	if sessionOf(t, c).LastSeen != before.LastSeen {
		t.Fatal("the session's last-seen time was written: the store is not full, the test proves nothing")
	}
	mustContain(t, r.body, invText("inv.error.full"))
	if !strings.Contains(logs.String(), "the store is full") {
		t.Errorf("the log does not say the store is full:\n%s", logs.String())
	}

	token := c.cookie.Value
	if r := c.post("/logout", url.Values{}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("logout with the store full: status %d to %q, want 303 to /login", r.status, r.header.Get("Location"))
	}
	err := e.db.View(func(tx store.Tx) error {
		_, err := tx.Get(records.BucketSessions, records.SessionKey(token))
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the session after logging out with the store full: %v, want it deleted", err)
	}
}

// TestFullStoreEndedSession: a session past its idle time-out is refused,
// and deleted even with the store full.
func TestFullStoreEndedSession(t *testing.T) {
	e, logs := newInvEnvFull(t, 8<<20)
	alice := e.addInvestigator("alice")
	c := e.client()
	c.loginReady(alice)
	token := c.cookie.Value
	fillStore(t, e.db, c)
	e.clock.Add(e.s.cfg.SessionIdle + time.Minute)
	if r := c.get("/"); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("an idle session with the store full: status %d to %q, want 303 to /login", r.status, r.header.Get("Location"))
	}
	err := e.db.View(func(tx store.Tx) error {
		_, err := tx.Get(records.BucketSessions, records.SessionKey(token))
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the ended session with the store full: %v, want it deleted", err)
	}
	if strings.Contains(logs.String(), "could not be deleted") {
		t.Errorf("the deletion was logged as failed:\n%s", logs.String())
	}
}

// TestFullStoreErrorPage: an action the full store refuses gets a 507;
// on the investigator site its page says the store is full and that they
// are still logged in (the witness site keeps its own words:
// TestFullStoreWitnessErrorPage there).
func TestFullStoreErrorPage(t *testing.T) {
	e := newInvEnv(t, Config{})
	full := e.s.handle(func(http.ResponseWriter, *http.Request) error {
		return fmt.Errorf("marking seen: %w", store.ErrFull)
	})
	rec := httptest.NewRecorder()
	e.s.web.Harden(full).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusInsufficientStorage {
		t.Fatalf("status %d, want 507", rec.Code)
	}
	if !strings.Contains(rec.Body.String(), invText("inv.error.full")) {
		t.Errorf("the page does not say the store is full:\n%s", rec.Body)
	}
}

// TestStoreErrorIsNotLogout: a session look-up the store cannot answer is
// a server error, not "log in again".
func TestStoreErrorIsNotLogout(t *testing.T) {
	e, _ := newInvEnvFull(t, 8<<20)
	alice := e.addInvestigator("alice")
	c := e.client()
	c.loginReady(alice)
	e.db.Close()
	r := c.get("/")
	if r.status != http.StatusInternalServerError {
		t.Fatalf("case list with the store closed: status %d, location %q, want 500", r.status, r.header.Get("Location"))
	}
}
