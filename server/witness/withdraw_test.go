package witness

import (
	"net/url"
	"strings"
	"testing"

	"testimony/crypto"
	"testimony/records"
)

func (e *witEnv) withdraw(codename, request, message, lang string, hdr ...string) (int, string) {
	e.t.Helper()
	f := url.Values{"codename": {codename}, "lang": {lang}, "message": {message}}
	if request != "" {
		f.Set("request", request)
	}
	return e.post("/withdraw", "application/x-www-form-urlencoded", []byte(f.Encode()), hdr...)
}

// TestWithdrawalStored: the thread page offers the withdrawal form; a
// deletion request and a withdrawal are stored as items of their own
// kinds under the codename's source, encrypted to the investigators only,
// and nothing is deleted.
func TestWithdrawalStored(t *testing.T) {
	e := newWitEnv(t, Config{})
	_, page := e.submit(fullTestimony("x")...)
	codename := codenameOf(t, page)
	_, thread := e.login(codename, "en")
	for _, want := range []string{`action="/withdraw?lang=en"`, `name="request" value="withdraw"`, `name="request" value="erase"`, "Take your account back"} {
		if !strings.Contains(thread, want) {
			t.Fatalf("the thread page lacks %q\n%s", want, thread)
		}
	}
	st, p := e.withdraw(codename, "erase", "Please delete it: my family is at risk.", "ru")
	if st != 200 || !strings.Contains(p, "вы попросили удалить ваш рассказ") || !strings.Contains(p, `lang="ru"`) {
		t.Fatalf("deletion request: %d\n%s", st, p)
	}
	if st, p := e.withdraw(codename, "withdraw", "", "en"); st != 200 || !strings.Contains(p, "you withdrew your consent") {
		t.Fatalf("withdrawal: %d\n%s", st, p)
	}
	src := crypto.Pseudonym(e.s.key, codename)
	er, wd := e.items(crypto.KindErasure), e.items(crypto.KindWithdrawal)
	if len(er) != 1 || len(wd) != 1 || er[0].Source != src || wd[0].Source != src {
		t.Fatalf("erasure %+v, withdrawal %+v", er, wd)
	}
	m, files := e.open(er[0])
	if m.Kind != crypto.KindErasure || m.Form.ID != "withdrawal" || m.Form.Version != 1 || m.Lang != "ru" ||
		m.Answers["request"].Text != "erase" || m.Answers["message"].Text != "Please delete it: my family is at risk." || len(files) != 0 {
		t.Fatalf("erasure manifest %+v", m)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if m, _ := e.open(wd[0]); m.Answers["request"].Text != "withdraw" || m.Answers["message"].Text != "" {
		t.Fatalf("withdrawal manifest %+v", m)
	}
	rid, _ := crypto.ReplyIdentity(e.s.key, codename)
	_, rd, _ := e.db.Open(er[0].ID)
	if _, err := crypto.OpenEnvelope(rd, rid); err == nil {
		t.Error("the request is encrypted to the witness's reply key too")
	}
	if n := len(e.items(crypto.KindSubmission)); n != 1 {
		t.Errorf("%d submissions left: nothing may be deleted automatically", n)
	}
}

// TestWithdrawalRefusals: no choice, a codename that fails the check, a
// cross-site post: nothing stored (the store byte for byte as it was).
func TestWithdrawalRefusals(t *testing.T) {
	e := newWitEnv(t, Config{})
	_, page := e.submit(fullTestimony("x")...)
	codename := codenameOf(t, page)
	before := storeContents(t, e.db)
	if st, p := e.withdraw(codename, "", "x", "en"); st != 422 || !strings.Contains(p, "Choose one: withdraw your consent") {
		t.Errorf("no choice: %d\n%s", st, p)
	}
	if st, _ := e.withdraw(codename, "everything", "x", "en"); st != 422 {
		t.Errorf("an unknown choice: %d", st)
	}
	if st, p := e.withdraw(mistype(t, codename, 3), "erase", "x", "en"); st != 422 || !strings.Contains(p, "These words do not make a codename") {
		t.Errorf("a mistyped codename: %d\n%s", st, p)
	}
	if st, _ := e.withdraw("hello", "erase", "x", "en"); st != 422 {
		t.Errorf("not a codename: %d", st)
	}
	if st, _ := e.withdraw(codename, "erase", "x", "en", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); st != 403 {
		t.Errorf("cross-site: %d", st)
	}
	if st, _ := e.withdraw(codename, "erase", strings.Repeat("a", 70000), "en"); st != 422 {
		t.Errorf("a message too long: %d", st)
	}
	if after := storeContents(t, e.db); after != before {
		t.Errorf("a refused request changed the store:\n%s\n----\n%s", before, after)
	}
}

// TestWithdrawalUnderUnknownCodename: a well-formed codename with no
// record gets the same page as a right one and its request is kept under
// a new source, as a follow-up would be.
func TestWithdrawalUnderUnknownCodename(t *testing.T) {
	e := newWitEnv(t, Config{})
	_, page := e.submit(fullTestimony("x")...)
	right := codenameOf(t, page)
	wrong, _ := crypto.NewCodename()
	st1, p1 := e.withdraw(right, "withdraw", "", "en")
	st2, p2 := e.withdraw(wrong, "withdraw", "", "en")
	if st1 != 200 || st1 != st2 || codenameValueRE.ReplaceAllString(p1, "") != codenameValueRE.ReplaceAllString(p2, "") {
		t.Fatalf("%d %d: pages differ\n%s\n----\n%s", st1, st2, p1, p2)
	}
	src := crypto.Pseudonym(e.s.key, wrong)
	if ok, _ := records.SourceExists(e.s.db, src); !ok {
		t.Fatal("no source record for the unknown codename's request")
	}
}
