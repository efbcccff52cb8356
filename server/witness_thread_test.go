package server

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/records"
)

func (e *witEnv) login(codename, lang string) (int, string) {
	e.t.Helper()
	f := url.Values{"codename": {codename}, "lang": {lang}}
	return e.post("/thread", "application/x-www-form-urlencoded", []byte(f.Encode()))
}

func TestCodenameShowsRepliesAndTakesFollowups(t *testing.T) {
	e := newWitEnv(t, Config{})
	st, page := e.submit(fullTestimony("x")...)
	if st != 200 {
		t.Fatal(st)
	}
	codename := codenameOf(t, page)
	e.plantReply(codename, "Thank you. Were you on the flight of 27 August?\nPlease say which airport.")
	// Typed differently: upper case, hyphens, new lines.
	typed := strings.ToUpper(strings.Replace(codename, " ", "-", 3))
	typed = strings.Replace(typed, " ", "\n", 1)
	st, page = e.login(typed, "en")
	if st != 200 || !strings.Contains(page, "Were you on the flight of 27 August?\nPlease say which airport.") {
		t.Fatalf("thread: %d\n%s", st, page)
	}
	// A reply to someone else is not shown.
	st2, other := e.submit(fullTestimony("y")...)
	if st2 != 200 {
		t.Fatal(st2)
	}
	e.plantReply(codenameOf(t, other), "a reply to another witness")
	if _, page := e.login(codename, "en"); strings.Contains(page, "another witness") {
		t.Fatal("another source's reply is shown")
	}
	// The witness's own submission is never shown back.
	if strings.Contains(page, "My brother was held") {
		t.Fatal("the thread shows the witness's own submission")
	}
	// A follow-up with a file.
	ct, body := multipartBody(t, part{name: "lang", body: "ru"}, part{name: "codename", body: codename},
		part{name: "message", body: "Yes, from Alexandria."}, part{name: "files", filename: "ticket.png", body: "PNG..."})
	st, page = e.post("/followup", ct, body)
	if st != 200 || !strings.Contains(page, "ваше сообщение зашифровано") || !strings.Contains(page, `lang="ru"`) {
		t.Fatalf("follow-up: %d\n%s", st, page)
	}
	fus := e.items(crypto.KindFollowup)
	if len(fus) != 1 || fus[0].Source != crypto.Pseudonym(e.s.key, codename) {
		t.Fatalf("follow-ups %+v", fus)
	}
	m, files := e.open(fus[0])
	if m.Answers["message"].Text != "Yes, from Alexandria." || len(files) != 1 || string(files[0]) != "PNG..." || m.Lang != "ru" {
		t.Errorf("follow-up manifest %+v", m)
	}
	rid, _ := crypto.ReplyIdentity(e.s.key, codename)
	_, rd, _ := e.db.Open(fus[0].ID)
	if _, err := crypto.OpenEnvelope(rd, rid); err == nil {
		t.Error("the follow-up is encrypted to the witness's reply key too")
	}
	// An empty follow-up is refused with the form shown again.
	ct, body = multipartBody(t, part{name: "codename", body: codename}, part{name: "message", body: "  "}, part{name: "files", file: true})
	if st, page := e.post("/followup", ct, body); st != 422 || !strings.Contains(page, "Write a message") {
		t.Errorf("empty follow-up: %d", st)
	}
	if n := len(e.items(crypto.KindFollowup)); n != 1 {
		t.Errorf("%d follow-ups", n)
	}
}

var (
	// The parts of a thread page that depend on the codename or replies.
	codenameValueRE = regexp.MustCompile(`name="codename" value="[^"]*"`)
)

// TestWrongCodenameLooksLikeRight compares a right codename with no
// replies and a wrong one of the same form: same status and the same page,
// but for the codename echoed in the hidden field.
func TestWrongCodenameLooksLikeRight(t *testing.T) {
	e := newWitEnv(t, Config{})
	_, page := e.submit(fullTestimony("x")...)
	right := codenameOf(t, page)
	wrong, _ := crypto.NewCodename()
	st1, p1 := e.login(right, "en")
	st2, p2 := e.login(wrong, "en")
	if st1 != st2 || st1 != 200 {
		t.Fatalf("statuses %d and %d", st1, st2)
	}
	n1 := codenameValueRE.ReplaceAllString(p1, "")
	n2 := codenameValueRE.ReplaceAllString(p2, "")
	if n1 != n2 {
		t.Fatalf("pages differ:\n%s\n----\n%s", n1, n2)
	}
	// Text that is not a codename is told apart, whoever typed it.
	for _, s := range []string{"hello", right + " extra", strings.Replace(right, " ", "x ", 1)} {
		st, p := e.login(s, "en")
		if st != 200 || !strings.Contains(p, "That is not a codename") {
			t.Errorf("%q: %d", s, st)
		}
	}
}

// TestFollowupUnderUnknownCodename keeps it, under a new source.
func TestFollowupUnderUnknownCodename(t *testing.T) {
	e := newWitEnv(t, Config{})
	c, _ := crypto.NewCodename()
	ct, body := multipartBody(t, part{name: "codename", body: c}, part{name: "message", body: "hello"})
	if st, _ := e.post("/followup", ct, body); st != 200 {
		t.Fatal(st)
	}
	fus := e.items(crypto.KindFollowup)
	if len(fus) != 1 || fus[0].Source != crypto.Pseudonym(e.s.key, c) {
		t.Fatalf("%+v", fus)
	}
	if ok, _ := records.SourceExists(e.s.db, fus[0].Source); !ok {
		t.Fatal("no source record, so no reply could reach this witness")
	}
}

// TestThreadTimeFloor: right and wrong codenames, with or without replies,
// answer after at least threadFloor.
func TestThreadTimeFloor(t *testing.T) {
	old := threadFloor
	threadFloor = 150 * time.Millisecond
	t.Cleanup(func() { threadFloor = old })
	e := newWitEnv(t, Config{})
	_, page := e.submit(fullTestimony("x")...)
	right := codenameOf(t, page)
	e.plantReply(right, "a reply")
	wrong, _ := crypto.NewCodename()
	for _, c := range []string{right, wrong} {
		start := time.Now()
		if st, _ := e.login(c, "en"); st != 200 {
			t.Fatal(st)
		}
		if d := time.Since(start); d < threadFloor {
			t.Errorf("answered after %v, before the floor of %v", d, threadFloor)
		}
	}
}
