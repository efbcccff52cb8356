package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"testimony/store"
)

// auditHeadRE matches the head "status" prints: count:hash.
var auditHeadRE = regexp.MustCompile(`(?m)^audit head +(\d+:[0-9a-f]{64})$`)

// editAudit changes the database of dir as someone with write access to
// the file could.
func editAudit(t *testing.T, dir string, fn func(tx store.Tx) error) {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, dbFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyTruncatedAndNotedHead (issue 17, point 15): "status"
// prints the audit log's head; deleting the last entries makes "audit
// verify" fail, where it said "intact"; an editor who also rewrites the
// head record passes that check, but not "audit verify --head" with the
// head noted before; a noted head still verifies once the log has grown.
func TestAuditVerifyTruncatedAndNotedHead(t *testing.T) {
	dir := initData(t)
	add := func(name string) {
		t.Helper()
		_, id := newKeyFile(t, false)
		if _, stderr, code := runCmd(t, "investigator", "add", name, "--recipient", id.Recipient, "--data", dir); code != 0 {
			t.Fatal(stderr)
		}
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		add(name)
	}
	out := mustRun(t, "status", "--data", dir).stdout
	m := auditHeadRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("status prints no audit head:\n%s", out)
	}
	noted := m[1]
	if !strings.HasPrefix(noted, "3:") {
		t.Fatalf("audit head %s after three entries", noted)
	}
	add("dave")
	if out, stderr, code := runCmd(t, "audit", "verify", "--head", noted, "--data", dir); code != 0 || !strings.Contains(out, "intact: 4") {
		t.Fatalf("verify --head with a head noted before one more entry: %d %q %q", code, out, stderr)
	}

	// Remove entries 3 and 4.
	editAudit(t, dir, func(tx store.Tx) error {
		for _, seq := range []uint64{3, 4} {
			if err := tx.Delete("audit", binary.BigEndian.AppendUint64(nil, seq)); err != nil {
				return err
			}
		}
		return nil
	})
	out, stderr, code := runCmd(t, "audit", "verify", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "entry 3") {
		t.Fatalf("verify of a log whose last two entries were removed: code %d, %q %q", code, out, stderr)
	}

	// Forge the head record to match entry 2.
	editAudit(t, dir, func(tx store.Tx) error {
		v, err := tx.Get("audit", binary.BigEndian.AppendUint64(nil, 2))
		if err != nil {
			return err
		}
		var e struct{ Hash string }
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		return tx.Put("audit_head", []byte("head"), fmt.Appendf(nil, `{"count":2,"hash":%q}`, e.Hash))
	})
	if out, stderr, code := runCmd(t, "audit", "verify", "--data", dir); code != 0 {
		t.Fatalf("the forged head should pass the check without a noted head (else this test proves nothing about --head): %d %q %q", code, out, stderr)
	}
	out, stderr, code = runCmd(t, "audit", "verify", "--head", noted, "--data", dir)
	if code != 1 || !strings.Contains(stderr, "noted head") {
		t.Fatalf("verify --head %s of a log cut to 2 entries: code %d, %q %q", noted, code, out, stderr)
	}
	if _, _, code := runCmd(t, "audit", "verify", "--head", "3:nothex", "--data", dir); code != 2 {
		t.Errorf("a malformed --head: exit %d, want 2 (usage)", code)
	}
}
