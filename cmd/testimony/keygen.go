package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"testimony/bundle"
	"testimony/crypto"
)

func runKeygen(args []string) error {
	fl := newFlags("keygen")
	out := fl.String("o", "", "write the identity to `FILE` (default: standard output)")
	classic := fl.Bool("classic", false, "make a classic X25519 key instead of a post-quantum hybrid one")
	signFor := fl.String("sign-key-for", "", "make only the signing key of the existing identity `IDENTITY`")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		errorf("keygen takes no arguments")
		return errUsage
	}
	if *signFor != "" {
		if *out != "" {
			errorf("keygen: give either -o FILE or --sign-key-for IDENTITY")
			return errUsage
		}
		if _, err := readIdentities([]string{*signFor}); err != nil {
			return err
		}
		return makeSignKey(*signFor)
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
		warnf("no signing key made: the custody log needs one beside the identity file; write it with -o FILE, or later \"testimony keygen --sign-key-for FILE\"")
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
	return makeSignKey(*out)
}

// makeSignKey writes the signing key of the identity file identity beside
// it (signKeyPath), mode 0600, and prints its public key: the key that
// signs this investigator's custody entries.
func makeSignKey(identity string) error {
	p := signKeyPath(identity)
	key, err := crypto.CreateSigningKey(p)
	if errors.Is(err, crypto.ErrKeyExists) {
		return fmt.Errorf("%s already exists: refusing to overwrite a key", p)
	}
	if err != nil {
		return err
	}
	infof("signing key (for the custody log) written to %s; its public key, to note with your age key:", p)
	printf("%s\n", bundle.FormatKey(key.Public().(ed25519.PublicKey)))
	return nil
}
