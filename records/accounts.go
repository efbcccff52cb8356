package records

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"testimony/crypto"
	"testimony/store"
)

// Account is an investigator's record in [BucketInvestigators], keyed by
// account name.
type Account struct {
	Recipient  string                 `json:"recipient"`
	Disabled   bool                   `json:"disabled"`
	Passphrase *crypto.PassphraseHash `json:"passphrase"`
	TOTP       []byte                 `json:"totp"` // AES-GCM nonce || sealed base32 secret
	MustChange bool                   `json:"must_change_passphrase"`
	Created    string                 `json:"created"` // UTC day
}

// UnknownStateKey cannot be an account name (see accountNameRE).
const UnknownStateKey = "\x00unknown account"

// LoginState is the record of [BucketLoginState]: what each login changes,
// apart from the account record: the last accepted TOTP step and the
// count of failures since the last good login (shown by "investigator
// list"; the back-off itself is kept in memory by the investigator site).
// Key: account name, or [UnknownStateKey] for names that match no account,
// so a failed login writes the same small record whether the account
// exists or not. Records written before the back-off moved to memory also
// hold "backoff_until": it is ignored, so an account locked by an older
// version is free again.
type LoginState struct {
	LastStep int64 `json:"last_step"` // last accepted TOTP step
	Failures int   `json:"failures"`
}

// GetLoginState reads the login state under key; a zero state if none.
func GetLoginState(tx store.Tx, key string) (*LoginState, error) {
	st, err := getJSON[LoginState](tx, BucketLoginState, []byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return &LoginState{}, nil
	}
	return st, err
}

// PutLoginState writes the login state under key.
func PutLoginState(tx store.Tx, key string, st *LoginState) error {
	return putJSON(tx, BucketLoginState, []byte(key), st)
}

// ClearFailures resets an account's failure count; the last TOTP step
// stays.
func ClearFailures(tx store.Tx, name string) error {
	st, err := GetLoginState(tx, name)
	if err != nil {
		return err
	}
	st.Failures = 0
	return PutLoginState(tx, name, st)
}

// Errors of the account commands.
var (
	ErrNoAccount     = errors.New("no such investigator account")
	ErrAccountExists = errors.New("an investigator account of that name already exists")
	ErrAccountName   = errors.New("account names are 1 to 32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
)

var accountNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// Accounts manages investigator accounts in a store. The console commands
// (testimonyd investigator …) and the investigator site share it.
type Accounts struct {
	db  store.Store
	key *crypto.ServerKey
	// Params are the argon2id costs of new passphrase hashes.
	Params crypto.Argon2Params
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Escrow are the escrow keys of the configuration: a new key must fit
	// with them too.
	Escrow []string
}

// NewAccounts returns the account manager of a store.
func NewAccounts(db store.Store, key *crypto.ServerKey) *Accounts {
	return &Accounts{db: db, key: key, Params: crypto.DefaultArgon2}
}

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Enrolment is what a new account, or a reset, hands to the investigator
// once: the initial passphrase and the TOTP secret. Empty fields were not
// changed.
type Enrolment struct {
	Account    string `json:"account"`
	Passphrase string `json:"passphrase,omitempty"`
	TOTPSecret string `json:"totp_secret,omitempty"`
	TOTPURI    string `json:"totp_uri,omitempty"`
}

// AccountInfo is the public part of an account, for listings.
type AccountInfo struct {
	Name        string `json:"name"`
	Recipient   string `json:"recipient"`
	Disabled    bool   `json:"disabled"`
	Created     string `json:"created"`
	MustChange  bool   `json:"must_change_passphrase"`
	Failures    int    `json:"failures"`
	Fingerprint string `json:"key_fingerprint"`
}

func (a *Accounts) totpAEAD() cipher.AEAD {
	b, err := aes.NewCipher(a.key.Derive("totp", 32))
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return g
}

func totpAD(name string) []byte { return []byte("testimony/v1 totp\x00" + name) }

// SealTOTP encrypts a TOTP secret for storage, bound to the account name.
func (a *Accounts) SealTOTP(name, secret string) []byte {
	g := a.totpAEAD()
	nonce := make([]byte, g.NonceSize())
	rand.Read(nonce)
	return g.Seal(nonce, nonce, []byte(secret), totpAD(name))
}

// OpenTOTP decrypts a stored TOTP secret.
func (a *Accounts) OpenTOTP(name string, sealed []byte) (string, error) {
	g := a.totpAEAD()
	if len(sealed) < g.NonceSize() {
		return "", errors.New("stored TOTP secret is damaged")
	}
	p, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], totpAD(name))
	if err != nil {
		return "", errors.New("stored TOTP secret does not decrypt with this server key")
	}
	return string(p), nil
}

// GetAccount reads an account record in tx; ErrNoAccount if none.
func GetAccount(tx store.Tx, name string) (*Account, error) {
	acc, err := getJSON[Account](tx, BucketInvestigators, []byte(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoAccount
	}
	return acc, err
}

// PutAccount writes an account record in tx.
func PutAccount(tx store.Tx, name string, acc *Account) error {
	return putJSON(tx, BucketInvestigators, []byte(name), acc)
}

// forEachAccount calls fn with every account record, in name order.
func forEachAccount(tx store.Tx, fn func(name string, acc *Account) error) error {
	return tx.ForEach(BucketInvestigators, nil, func(k, v []byte) error {
		var acc Account
		if err := json.Unmarshal(v, &acc); err != nil {
			return fmt.Errorf("account %q: %v", k, err)
		}
		return fn(string(k), &acc)
	})
}

// ActiveKeys returns the age keys of the accounts that are not disabled:
// with the escrow keys of the configuration, the set new items are
// encrypted to. The server reads it at each submission, so a change takes
// effect for the next one.
func ActiveKeys(tx store.Tx) ([]string, error) {
	var keys []string
	err := forEachAccount(tx, func(_ string, acc *Account) error {
		if !acc.Disabled && acc.Recipient != "" {
			keys = append(keys, acc.Recipient)
		}
		return nil
	})
	return keys, err
}

// checkRecipientSet refuses a key that cannot join the investigators'
// keys: a classic X25519 key beside hybrid ones, or the reverse.
func checkRecipientSet(tx store.Tx, name, recipient string, escrow []string) error {
	keys := append([]string{recipient}, escrow...)
	err := forEachAccount(tx, func(k string, acc *Account) error {
		if k != name && acc.Recipient != "" {
			keys = append(keys, acc.Recipient)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := crypto.NewRecipients("new key", recipient); err != nil {
		return err
	}
	if _, err := crypto.NewRecipients("investigators' keys", keys...); err != nil {
		var re *crypto.RecipientError
		if errors.As(err, &re) {
			return fmt.Errorf("%s's key cannot join the other investigators' and the escrow keys: age cannot mix post-quantum (age1pq1…) and classic (age1…) recipients; give every investigator a key of the same kind (age-keygen -pq makes post-quantum ones)", name)
		}
		return err
	}
	return nil
}

// Add creates an account with the investigator's age public key, a new
// TOTP secret and a generated initial passphrase that must be changed at
// the first login.
func (a *Accounts) Add(name, recipient string) (*Enrolment, error) {
	if !accountNameRE.MatchString(name) {
		return nil, ErrAccountName
	}
	recipient = strings.TrimSpace(recipient)
	pass, err := crypto.GeneratePassphrase()
	if err != nil {
		return nil, err
	}
	h, err := crypto.HashPassphrase(pass, a.Params)
	if err != nil {
		return nil, err
	}
	secret := NewTOTPSecret()
	uri, err := TOTPURI(name, secret)
	if err != nil {
		return nil, err
	}
	err = a.db.Update(func(tx store.Tx) error {
		if _, err := GetAccount(tx, name); err == nil {
			return ErrAccountExists
		} else if !errors.Is(err, ErrNoAccount) {
			return err
		}
		if err := checkRecipientSet(tx, name, recipient, a.Escrow); err != nil {
			return err
		}
		acc := &Account{Recipient: recipient, Passphrase: h, TOTP: a.SealTOTP(name, secret),
			MustChange: true, Created: a.now().UTC().Format(time.DateOnly)}
		if err := PutAccount(tx, name, acc); err != nil {
			return err
		}
		return AppendAudit(tx, a.now(), AuditEntry{Account: ConsoleActor, Event: "account_added", Target: name})
	})
	if err != nil {
		return nil, err
	}
	return &Enrolment{Account: name, Passphrase: pass, TOTPSecret: secret, TOTPURI: uri}, nil
}

// ConsoleActor names the server's console in the audit log.
const ConsoleActor = "(console)"

// List returns every account, sorted by name.
func (a *Accounts) List() ([]AccountInfo, error) {
	var out []AccountInfo
	err := a.db.View(func(tx store.Tx) error {
		return forEachAccount(tx, func(k string, acc *Account) error {
			st, err := GetLoginState(tx, k)
			if err != nil {
				return err
			}
			out = append(out, AccountInfo{Name: k, Recipient: acc.Recipient, Disabled: acc.Disabled,
				Created: acc.Created, MustChange: acc.MustChange, Failures: st.Failures,
				Fingerprint: crypto.Fingerprint(acc.Recipient)})
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// update changes one account in a transaction, ends all its sessions if
// endSessions, and records event in the audit log.
func (a *Accounts) update(name, event string, endSessions bool, fn func(store.Tx, *Account) error) error {
	return a.db.Update(func(tx store.Tx) error {
		acc, err := GetAccount(tx, name)
		if err != nil {
			return err
		}
		if err := fn(tx, acc); err != nil {
			return err
		}
		if err := PutAccount(tx, name, acc); err != nil {
			return err
		}
		if endSessions {
			if err := DeleteSessionsOf(tx, name); err != nil {
				return err
			}
		}
		return AppendAudit(tx, a.now(), AuditEntry{Account: ConsoleActor, Event: event, Target: name})
	})
}

// SetDisabled disables an account (its key leaves the recipient set of new
// items, its sessions end, it can no longer log in) or enables it again.
func (a *Accounts) SetDisabled(name string, disabled bool) error {
	event := "account_enabled"
	if disabled {
		event = "account_disabled"
	}
	return a.update(name, event, disabled, func(tx store.Tx, acc *Account) error {
		if !disabled {
			// The key joins the set again: it must still fit.
			if err := checkRecipientSet(tx, name, acc.Recipient, a.Escrow); err != nil {
				return err
			}
			if err := ClearFailures(tx, name); err != nil {
				return err
			}
		}
		acc.Disabled = disabled
		return nil
	})
}

// ResetTOTP gives an account a new TOTP secret and ends its sessions.
func (a *Accounts) ResetTOTP(name string) (*Enrolment, error) {
	secret := NewTOTPSecret()
	uri, err := TOTPURI(name, secret)
	if err != nil {
		return nil, err
	}
	err = a.update(name, "totp_reset", true, func(tx store.Tx, acc *Account) error {
		acc.TOTP = a.SealTOTP(name, secret)
		return ClearFailures(tx, name)
	})
	if err != nil {
		return nil, err
	}
	return &Enrolment{Account: name, TOTPSecret: secret, TOTPURI: uri}, nil
}

// ResetPassphrase gives an account a new generated passphrase, to be
// changed at the next login, and ends its sessions.
func (a *Accounts) ResetPassphrase(name string) (*Enrolment, error) {
	pass, err := crypto.GeneratePassphrase()
	if err != nil {
		return nil, err
	}
	h, err := crypto.HashPassphrase(pass, a.Params)
	if err != nil {
		return nil, err
	}
	err = a.update(name, "passphrase_reset", true, func(tx store.Tx, acc *Account) error {
		acc.Passphrase, acc.MustChange = h, true
		return ClearFailures(tx, name)
	})
	if err != nil {
		return nil, err
	}
	return &Enrolment{Account: name, Passphrase: pass}, nil
}
