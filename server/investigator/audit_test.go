package investigator

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"testimony/records"
	"testimony/store"
)

// auditEntries adds n console entries to the audit log of e.
func auditEntries(t *testing.T, e *invEnv, n int) {
	t.Helper()
	for range n {
		err := e.db.Update(func(tx store.Tx) error {
			return records.AppendAudit(tx, e.clock.Now(), records.AuditEntry{Account: records.ConsoleActor, Event: "test"})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestAuditTruncationDetected: removing the last
// entries of the audit log makes VerifyAudit fail at the first removed
// one, where it said "intact"; entries added afterwards leave the gap
// visible.
func TestAuditTruncationDetected(t *testing.T) {
	e := newInvEnv(t, Config{})
	auditEntries(t, e, 5)
	if n, err := records.VerifyAudit(e.db); err != nil || n != 5 {
		t.Fatalf("intact log: %d, %v", n, err)
	}
	e.db.Update(func(tx store.Tx) error {
		tx.Delete(records.BucketAudit, records.AuditKey(5))
		return tx.Delete(records.BucketAudit, records.AuditKey(4))
	})
	n, err := records.VerifyAudit(e.db)
	var ae *records.AuditError
	if !errors.As(err, &ae) || ae.Seq != 4 {
		t.Fatalf("log without its last two entries: verify says %d, %v; want entry 4 named", n, err)
	}
	auditEntries(t, e, 1)
	if _, err := records.VerifyAudit(e.db); !errors.As(err, &ae) || ae.Seq != 4 {
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
	noted, err := records.AuditHeadOf(e.db)
	if err != nil || noted.Count != 3 || len(noted.Hash) != 64 {
		t.Fatalf("head: %v, %v", noted, err)
	}
	parsed, err := records.ParseAuditHead(noted.String())
	if err != nil || parsed != noted {
		t.Fatalf("ParseAuditHead(%q) = %v, %v", noted, parsed, err)
	}
	// The audit page shows it, for investigators to note.
	alice := e.addInvestigator("alice")
	c := e.client()
	c.loginReady(alice)
	head, _ := records.AuditHeadOf(e.db)
	mustContain(t, c.get("/audit").body, head.String())
	if head.Count <= noted.Count {
		t.Fatalf("head %v after more entries than %v", head, noted)
	}
	if h, err := records.VerifyAuditHead(e.db, noted); err != nil || h.Count != head.Count {
		t.Fatalf("noted head after more entries: %v, %v", h, err)
	}

	// Cut to 2 entries and forge the head record.
	err = e.db.Update(func(tx store.Tx) error {
		for seq := uint64(3); seq <= head.Count; seq++ {
			if err := tx.Delete(records.BucketAudit, records.AuditKey(seq)); err != nil {
				return err
			}
		}
		_, v, err := tx.Last(records.BucketAudit)
		if err != nil {
			return err
		}
		var last records.AuditEntry
		if err := json.Unmarshal(v, &last); err != nil {
			return err
		}
		head, err := json.Marshal(records.AuditHead{Count: 2, Hash: last.Hash})
		if err != nil {
			return err
		}
		return tx.Put(records.BucketAuditHead, records.AuditHeadKey, head)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := records.VerifyAudit(e.db); err != nil {
		t.Fatalf("the forged head should pass without a noted head (else this test proves nothing): %v", err)
	}
	if _, err := records.VerifyAuditHead(e.db, noted); err == nil || !strings.Contains(err.Error(), "noted head") {
		t.Fatalf("noted head %v after a cut to 2 entries: %v", noted, err)
	}

	// Rewrite the whole log: three entries again, with hashes recomputed.
	err = e.db.Update(func(tx store.Tx) error {
		for seq := uint64(1); seq <= 2; seq++ {
			if err := tx.Delete(records.BucketAudit, records.AuditKey(seq)); err != nil {
				return err
			}
		}
		if err := tx.Delete(records.BucketAuditHead, records.AuditHeadKey); err != nil {
			return err
		}
		for range 3 {
			if err := records.AppendAudit(tx, e.clock.Now(), records.AuditEntry{Account: records.ConsoleActor, Event: "forged"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := records.VerifyAudit(e.db); err != nil || n != 3 {
		t.Fatalf("a rewritten log verifies without a noted head: %d, %v (else this test proves nothing)", n, err)
	}
	if _, err := records.VerifyAuditHead(e.db, noted); err == nil || !strings.Contains(err.Error(), "noted head") {
		t.Fatalf("noted head %v after the log was rewritten: %v", noted, err)
	}
}
