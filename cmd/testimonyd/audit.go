package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"testimony/records"
)

const auditUsage = `Usage:
    testimonyd audit verify [--head COUNT:HASH] [--config FILE | --data DIR]

verify checks the investigator audit log: each entry's hash, the chain of
hashes from the first entry, that no entry is missing, and that the log ends
where its head record says. It names the first broken entry and exits with
status 1 if there is one.

--head checks also that the log still holds a head noted earlier, as
"testimonyd status" or the audit page print it: someone who can write the
database file can cut the log and forge its head record, but cannot make a
log that holds a head you noted outside the server.
`

func runAudit(args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(os.Stderr, auditUsage)
		return errUsage
	}
	fl := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprint(os.Stderr, auditUsage) }
	sf := addSettingFlags(fl)
	headFlag := fl.String("head", "", "a head noted earlier, COUNT:HASH, that the log must still hold")
	if err := fl.Parse(args[1:]); err != nil || fl.NArg() != 0 {
		return errUsage
	}
	var noted records.AuditHead
	if *headFlag != "" {
		var err error
		if noted, err = records.ParseAuditHead(*headFlag); err != nil {
			errorf("audit verify: --head: %v", err)
			return errUsage
		}
	}
	cfg, err := sf.load()
	if err != nil {
		return err
	}
	db, _, err := openData(cfg.DataDir, true)
	if err != nil {
		return err
	}
	defer db.Close()
	head, err := records.VerifyAuditHead(db, noted)
	var ae *records.AuditError
	if errors.As(err, &ae) {
		return fmt.Errorf("audit log BROKEN at entry %d: %s (%d entries before it are intact)", ae.Seq, ae.Reason, ae.Seq-1)
	}
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("audit log intact: %d entries", head.Count)
	if head.Count > 0 {
		msg += ", head " + head.String()
	}
	if noted.Count > 0 {
		msg += fmt.Sprintf("; it holds the noted head (entry %d)", noted.Count)
	}
	fmt.Println(msg)
	return nil
}
