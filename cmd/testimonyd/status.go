package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

const statusUsage = `Usage: testimonyd status [--config FILE | --data DIR] [--json]

Prints the item counts by kind, the sizes of the database and its items, the
recipient set new items are encrypted to (number of keys and fingerprint),
the oldest and newest item days, the day of the last backup and the audit
log's head (COUNT:HASH: note it, and check it later with "testimonyd audit
verify --head"). Works while the server runs and when it does not.`

// statusReport is what "status" prints.
type statusReport struct {
	DataDir       string         `json:"data_dir"`
	Serving       bool           `json:"serving"`
	FileBytes     int64          `json:"file_bytes"`
	Items         int            `json:"items"`
	ItemBytes     int64          `json:"item_bytes"`
	Kinds         map[string]int `json:"kinds"`
	OldestDay     string         `json:"oldest_day,omitempty"`
	NewestDay     string         `json:"newest_day,omitempty"`
	Recipients    int            `json:"recipients"`
	Fingerprint   string         `json:"fingerprint,omitempty"`
	RecipientsErr string         `json:"recipients_error,omitempty"`
	Accepting     bool           `json:"accepting"` // the witness site shows its form
	Investigators int            `json:"active_investigators"`
	Escrow        int            `json:"escrow_keys"`
	LastBackup    string         `json:"last_backup,omitempty"`
	RetentionDays int            `json:"retention_days"`
	MaxDBMB       int64          `json:"max_db_mb"`
	// AuditHead is the audit log's head, COUNT:HASH, for investigators to
	// note and check later with "audit verify --head".
	AuditHead string `json:"audit_head,omitempty"`
	// SigningKey is the public key that signs the day roots, for
	// investigators to note and pass to "testimony verify --server-key".
	SigningKey string `json:"signing_key,omitempty"`
}

func computeStatus(db *store.DB, cfg settings) (statusReport, error) {
	st := statusReport{DataDir: cfg.DataDir, Kinds: map[string]int{}, RetentionDays: cfg.RetentionDays, MaxDBMB: cfg.MaxDBMB}
	s, err := db.Stats()
	if err != nil {
		return st, err
	}
	st.FileBytes, st.Items, st.ItemBytes = s.FileBytes, s.Items, s.ItemBytes
	items, err := db.Items()
	if err != nil {
		return st, err
	}
	for _, it := range items {
		st.Kinds[it.Kind]++
		if st.OldestDay == "" || it.Day < st.OldestDay {
			st.OldestDay = it.Day
		}
		if it.Day > st.NewestDay {
			st.NewestDay = it.Day
		}
	}
	keys := slices.Clone(cfg.EscrowRecipients)
	st.Escrow = len(keys)
	err = db.View(func(tx store.Tx) error {
		st.LastBackup = records.LastBackup(tx)
		active, err := records.ActiveKeys(tx)
		keys = append(keys, active...)
		st.Investigators = len(active)
		return err
	})
	if err != nil {
		return st, err
	}
	head, err := records.AuditHeadOf(db)
	if err != nil {
		return st, err
	}
	if head.Count > 0 {
		st.AuditHead = head.String()
	}
	st.SigningKey = publicSigningKey(cfg.DataDir)
	rs, err := crypto.NewRecipients("recipient set (investigators and escrow)", keys...)
	if err != nil {
		st.RecipientsErr = err.Error()
	} else {
		st.Recipients, st.Fingerprint = rs.Len(), rs.Fingerprint()
		st.Accepting = true
	}
	return st, nil
}

func runStatus(args []string) error {
	fl := flag.NewFlagSet("status", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, statusUsage); fl.PrintDefaults() }
	asJSON := fl.Bool("json", false, "print JSON")
	sf := addSettingFlags(fl)
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := sf.load()
	if err != nil {
		return err
	}
	var st statusReport
	resp, _, _, err := askServer(cfg.DataDir, controlRequest{Op: "status"})
	if resp.Status != nil {
		st = *resp.Status
	}
	if errors.Is(err, errNotServing) {
		var db *store.DB
		if db, err = openConsoleStore(cfg, true); err != nil {
			return err
		}
		st, err = computeStatus(db, cfg)
		db.Close()
	}
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if *asJSON {
		return writeJSONLine(os.Stdout, st)
	}
	printStatus(st)
	return nil
}

func printStatus(st statusReport) {
	serving := "no"
	if st.Serving {
		serving = "yes"
	}
	var kinds []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range st.Kinds {
			if !yield(k) {
				return
			}
		}
	}) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, st.Kinds[k]))
	}
	days := "none"
	if st.Items > 0 {
		days = st.OldestDay + " to " + st.NewestDay
	}
	rec := fmt.Sprintf("%d keys (%d investigators, %d escrow), fingerprint %s", st.Recipients, st.Investigators, st.Escrow, st.Fingerprint)
	if st.RecipientsErr != "" {
		rec = "unusable, submissions are refused: " + st.RecipientsErr
	}
	last := st.LastBackup
	if last == "" {
		last = "never"
	}
	retention := "keep everything"
	if st.RetentionDays > 0 {
		retention = fmt.Sprintf("%d days", st.RetentionDays)
	}
	limit := "no cap"
	if st.MaxDBMB > 0 {
		limit = fmt.Sprintf("cap %d MiB", st.MaxDBMB)
	}
	outf("data directory  %s\n", st.DataDir)
	outf("serving         %s\n", serving)
	outf("database        %s (%s)\n", mib(st.FileBytes), limit)
	outf("items           %d, %s of ciphertext: %s\n", st.Items, mib(st.ItemBytes), strings.Join(kinds, ", "))
	outf("item days       %s\n", days)
	outf("recipient set   %s\n", rec)
	if st.Accepting {
		outf("accepting       yes\n")
	} else {
		outf("accepting       no: the witness site shows no form, only how else to reach you (add an investigator)\n")
	}
	outf("retention       %s\n", retention)
	outf("last backup     %s\n", last)
	head := st.AuditHead
	if head == "" {
		head = "none (no entries)"
	}
	outf("audit head      %s\n", head)
	sk := st.SigningKey
	if sk == "" {
		sk = "none yet (serve makes it)"
	}
	outf("signing key     %s\n", sk)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
