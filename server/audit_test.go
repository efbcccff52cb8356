package server

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"testimony/store"
)

// auditEntries adds n console entries to the audit log of e.
func auditEntries(t *testing.T, e *invEnv, n int) {
	t.Helper()
	for range n {
		err := e.db.Update(func(tx store.Tx) error {
			return appendAudit(tx, e.clock.Now(), auditEntry{Account: consoleActor, Event: "test"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditTruncationDetected (issue 17, point 15): removing the last
// entries of the audit log makes VerifyAudit fail at the first removed
// one, where it said "intact"; entries added afterwards leave the gap
// visible.
func TestAuditTruncationDetected(t *testing.T) {
	e := newInvEnv(t, Config{})
	auditEntries(t, e, 5)
	if n, err := VerifyAudit(e.db); err != nil || n != 5 {
		t.Fatalf("intact log: %d, %v", n, err)
	}
	e.db.Update(func(tx store.Tx) error {
		tx.Delete(bucketAudit, auditKey(5))
		return tx.Delete(bucketAudit, auditKey(4))
	})
	n, err := VerifyAudit(e.db)
	var ae *AuditError
	if !errors.As(err, &ae) || ae.Seq != 4 {
		t.Fatalf("log without its last two entries: verify says %d, %v; want entry 4 named", n, err)
	}
	auditEntries(t, e, 1)
	if _, err := VerifyAudit(e.db); !errors.As(err, &ae) || ae.Seq != 4 {
		t.Fatalf("a new entry after the truncation: verify says %v; want entry 4 named", err)
	}
}

// TestAuditNotedHead: a head noted from AuditHeadOf verifies while the log
// grows; after the log is cut and its head record forged to match (which
// VerifyAudit cannot tell), or rewritten with every hash recomputed, the
// noted head fails.
func TestAuditNotedHead(t *testing.T) {
	e := newInvEnv(t, Config{})
	auditEntries(t, e, 3)
	noted, err := AuditHeadOf(e.db)
	if err != nil || noted.Count != 3 || len(noted.Hash) != 64 {
		t.Fatalf("head: %v, %v", noted, err)
	}
	parsed, err := ParseAuditHead(noted.String())
	if err != nil || parsed != noted {
		t.Fatalf("ParseAuditHead(%q) = %v, %v", noted, parsed, err)
	}
	// The audit page shows it, for investigators to note.
	alice := e.addInvestigator("alice")
	c := e.client()
	c.loginReady(alice)
	head, _ := AuditHeadOf(e.db)
	mustContain(t, c.get("/audit").body, head.String())
	if head.Count <= noted.Count {
		t.Fatalf("head %v after more entries than %v", head, noted)
	}
	if h, err := VerifyAuditHead(e.db, noted); err != nil || h.Count != head.Count {
		t.Fatalf("noted head after more entries: %v, %v", h, err)
	}

	// Cut to 2 entries and forge the head record.
	err = e.db.Update(func(tx store.Tx) error {
		for seq := uint64(3); seq <= head.Count; seq++ {
			if err := tx.Delete(bucketAudit, auditKey(seq)); err != nil {
				return err
			}
		}
		_, v, err := tx.Last(bucketAudit)
		if err != nil {
			return err
		}
		var last auditEntry
		if err := json.Unmarshal(v, &last); err != nil {
			return err
		}
		return putAuditHead(tx, AuditHead{Count: 2, Hash: last.Hash})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAudit(e.db); err != nil {
		t.Fatalf("the forged head should pass without a noted head (else this test proves nothing): %v", err)
	}
	if _, err := VerifyAuditHead(e.db, noted); err == nil || !strings.Contains(err.Error(), "noted head") {
		t.Fatalf("noted head %v after a cut to 2 entries: %v", noted, err)
	}

	// Rewrite the whole log: three entries again, with hashes recomputed.
	err = e.db.Update(func(tx store.Tx) error {
		for seq := uint64(1); seq <= 2; seq++ {
			if err := tx.Delete(bucketAudit, auditKey(seq)); err != nil {
				return err
			}
		}
		if err := tx.Delete(bucketAuditHead, auditHeadKey); err != nil {
			return err
		}
		for range 3 {
			if err := appendAudit(tx, e.clock.Now(), auditEntry{Account: consoleActor, Event: "forged"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := VerifyAudit(e.db); err != nil || n != 3 {
		t.Fatalf("a rewritten log verifies without a noted head: %d, %v (else this test proves nothing)", n, err)
	}
	if _, err := VerifyAuditHead(e.db, noted); err == nil || !strings.Contains(err.Error(), "noted head") {
		t.Fatalf("noted head %v after the log was rewritten: %v", noted, err)
	}
}

// TestParseAuditHead refuses what is not COUNT:HASH.
func TestParseAuditHead(t *testing.T) {
	good := "12:" + strings.Repeat("ab", 32)
	if h, err := ParseAuditHead(good); err != nil || h.Count != 12 {
		t.Fatalf("%q: %v, %v", good, h, err)
	}
	for _, bad := range []string{"", "12", "12:", ":" + strings.Repeat("ab", 32), "0:" + strings.Repeat("ab", 32),
		"-1:" + strings.Repeat("ab", 32), "12:" + strings.Repeat("ab", 31), "12:" + strings.Repeat("AB", 32), "x:" + strings.Repeat("ab", 32)} {
		if _, err := ParseAuditHead(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
