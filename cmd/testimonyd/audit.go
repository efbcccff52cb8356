package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"testimony/server"
)

func init() {
	register(command{"audit", "check the audit log's hash chain: audit verify", runAudit})
}

const auditUsage = `Usage:
    testimonyd audit verify [--config FILE | --data DIR]

verify checks the investigator audit log: each entry's hash, the chain of
hashes from the first entry, and that no entry is missing. It names the
first broken entry and exits with status 1 if there is one.
`

func runAudit(args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(os.Stderr, auditUsage)
		return errUsage
	}
	fl := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprint(os.Stderr, auditUsage) }
	sf := addSettingFlags(fl)
	if err := fl.Parse(args[1:]); err != nil || fl.NArg() != 0 {
		return errUsage
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
	n, err := server.VerifyAudit(db)
	var ae *server.AuditError
	if errors.As(err, &ae) {
		return fmt.Errorf("audit log BROKEN at entry %d: %s (%d entries before it are intact)", ae.Seq, ae.Reason, ae.Seq-1)
	}
	if err != nil {
		return err
	}
	fmt.Printf("audit log intact: %d entries\n", n)
	return nil
}
