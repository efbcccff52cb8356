package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"testimony/crypto"
)

func runKeygen(args []string) error {
	fl := newFlags("keygen")
	out := fl.String("o", "", "write the identity to `FILE` (default: standard output)")
	classic := fl.Bool("classic", false, "make a classic X25519 key instead of a post-quantum hybrid one")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		errorf("keygen takes no arguments")
		return errUsage
	}
	id, err := crypto.GenerateIdentity(*classic)
	if err != nil {
		return fmt.Errorf("generating a key: %v", err)
	}
	created := time.Now().UTC().Format(time.RFC3339)
	if *out == "" {
		if err := crypto.WriteIdentityFile(os.Stdout, id, created); err != nil {
			return err
		}
		printPublicKey(id.Recipient)
		return nil
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists: refusing to overwrite a key", *out)
	}
	if err != nil {
		return err
	}
	if err := crypto.WriteIdentityFile(f, id, created); err != nil {
		f.Close()
		os.Remove(*out)
		return fmt.Errorf("writing %s: %v", *out, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %v", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %v", *out, err)
	}
	printPublicKey(id.Recipient)
	return nil
}
