package main

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"path/filepath"
	"time"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

// signKeyFile is the server's signing key (Ed25519 seed, mode 0600) in the
// data directory: it signs the day roots and each bundle's listing. init
// makes it; a data directory made before it existed gets one at the next
// serve (or investigator add, which shows it).
const signKeyFile = "sign.key"

// sealEvery is how often serve seals the days that have ended. Sealing
// runs at start-up and then on this period, never on the submit path.
const sealEvery = time.Hour

// loadSigningKey loads the data directory's signing key, making it if
// there is none.
func loadSigningKey(dir string) (ed25519.PrivateKey, bool, error) {
	return crypto.LoadOrCreateSigningKey(filepath.Join(dir, signKeyFile))
}

// publicSigningKey is the text form of the data directory's signing key,
// for status; "" if there is none yet or it cannot be read.
func publicSigningKey(dir string) string {
	k, err := crypto.LoadSigningKey(filepath.Join(dir, signKeyFile))
	if err != nil {
		return ""
	}
	return bundle.FormatKey(k.Public().(ed25519.PublicKey))
}

// sealer signs the roots of the days that have ended.
type sealer struct {
	db  *store.DB
	key ed25519.PrivateKey
	now func() time.Time
	log *slog.Logger
}

// seal seals every ended day not yet sealed, and logs how many (a count,
// never an item or a time).
func (s *sealer) seal() {
	days, err := records.Seal(s.db, s.key, s.now().UTC().Format(time.DateOnly))
	if err != nil {
		s.log.Error("day roots", "event", "seal", "err", err.Error())
		return
	}
	if len(days) > 0 {
		s.log.Info("day roots", "event", "seal", "count", len(days))
	}
}

// run seals at once, then every period until ctx ends.
func (s *sealer) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.seal()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
