package records

// This is the only file that imports github.com/pquerna/otp, so the TOTP
// library can be swapped.

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP as RFC 6238 with the parameters every authenticator app supports:
// SHA-1, 6 digits, 30 s steps, one step of skew either way.
const (
	totpPeriod = 30
	totpSkew   = 1
	totpIssuer = "Testimony"
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTPSecret returns a new 160-bit secret in unpadded base32, the form
// authenticator apps and oathtool take.
func NewTOTPSecret() string {
	b := make([]byte, 20)
	rand.Read(b)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// TOTPURI is the otpauth:// URI of an enrolment, for a QR code.
func TOTPURI(account, secret string) (string, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return "", err
	}
	k, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: account, Period: totpPeriod,
		Secret: raw, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", err
	}
	return k.URL(), nil
}

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpCode is the code of secret at step.
func totpCode(secret string, step int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0).UTC(), totpOpts)
}

// TOTPMatch returns the latest step, within the skew around now, whose code
// is code, or 0 if none. Every candidate is computed and compared in constant
// time, whatever the input, so the work does not depend on it. The caller
// must still refuse a step at or before the last accepted one: a code is
// good once.
func TOTPMatch(secret, code string, now time.Time) int64 {
	cur := totpStep(now)
	var found int64
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		want, err := totpCode(secret, cur+d)
		if err != nil {
			want = "\x00invalid"
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = cur + d
		}
	}
	return found
}
