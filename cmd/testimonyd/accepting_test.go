package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestNotAcceptingWarnedAndShown: with no active investigator and no
// escrow key, serve logs a warning at start-up, status (from the running
// server and offline) says the site is not accepting testimonies, and the
// home page shows no form. With an escrow key there is no warning and
// status says yes.
func TestNotAcceptingWarnedAndShown(t *testing.T) {
	dir := newDataDir(t)
	d := startServe(t, dir, nil)
	if !strings.Contains(d.Out.String(), `"level":"WARN","msg":"not accepting testimonies`) {
		t.Errorf("no start-up warning:\n%s", d.Out.String())
	}
	r := mustRun(t, "status", "--data", dir)
	if !strings.Contains(r.stdout, "accepting       no: the witness site shows no form") {
		t.Errorf("status while serving:\n%s", r.stdout)
	}
	res, err := http.Get(d.witness + "/?lang=ru")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if strings.Contains(string(body), "<form") || !strings.Contains(string(body), "Этот сервис пока не принимает свидетельства.") {
		t.Errorf("home page while not accepting:\n%s", body)
	}
	d.stop(t)
	if st := statusOf(t, "--data", dir); st.Accepting {
		t.Errorf("offline status: accepting with an empty recipient set: %+v", st)
	}

	rs, _ := testRecipients(t)
	d = startServe(t, dir, nil, "--escrow-recipients", rs.Keys()[0])
	if strings.Contains(d.Out.String(), "not accepting") {
		t.Errorf("a warning with an escrow key:\n%s", d.Out.String())
	}
	if st := statusOf(t, "--data", dir, "--escrow-recipients", rs.Keys()[0]); !st.Accepting {
		t.Errorf("status: not accepting with an escrow key: %+v", st)
	}
	if r := mustRun(t, "status", "--data", dir, "--escrow-recipients", rs.Keys()[0]); !strings.Contains(r.stdout, "accepting       yes") {
		t.Errorf("status:\n%s", r.stdout)
	}
}

// TestServeRefusesMixedRecipients: a classic escrow key beside a
// post-quantum investigator key is a mistake of the configuration that age
// cannot encrypt to, so serve refuses to start and says why (an empty set
// only warns: it is the state before the first investigator is added).
func TestServeRefusesMixedRecipients(t *testing.T) {
	dir := initData(t)
	_, pq := newKeyFile(t, false)
	if _, stderr, code := runCmd(t, "investigator", "add", "alice", "--recipient", pq.Recipient, "--data", dir); code != 0 {
		t.Fatal(stderr)
	}
	_, classic := newKeyFile(t, true)
	r := runBin(t, "serve", "--data", dir, "--witness-addr=127.0.0.1:0", "--investigator-addr=127.0.0.1:0",
		"--escrow-recipients", classic.Recipient)
	if r.code != 1 || !strings.Contains(r.stderr, "cannot start") || !strings.Contains(r.stderr, "cannot mix") {
		t.Errorf("serve with a mixed recipient set: exit %d, want 1 with \"cannot start\" and \"cannot mix\":\n%s", r.code, r.stderr)
	}
}
