package records

import (
	"encoding/base32"
	"testing"
	"time"
)

// TestTOTPVectors checks our codes against RFC 6238 appendix B (SHA-1, the
// last six of its eight digits).
func TestTOTPVectors(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	} {
		got, err := totpCode(secret, v.unix/totpPeriod)
		if err != nil || got != v.code {
			t.Errorf("T=%d: %q, %v; want %q", v.unix, got, err, v.code)
		}
		now := time.Unix(v.unix, 0)
		if s := TOTPMatch(secret, v.code, now); s != v.unix/totpPeriod {
			t.Errorf("T=%d: matched step %d", v.unix, s)
		}
		if s := TOTPMatch(secret, v.code, now.Add(2*totpPeriod*time.Second)); s != 0 {
			t.Errorf("T=%d: a code two steps old matched", v.unix)
		}
	}
	for _, junk := range []string{"", "00000", "0000000", "abcdef", "28708２"} {
		if TOTPMatch(secret, junk, time.Unix(59, 0)) != 0 {
			t.Errorf("%q matched", junk)
		}
	}
}

func TestTOTPURI(t *testing.T) {
	s := NewTOTPSecret()
	if len(s) != 32 {
		t.Fatalf("secret %q: want 160 bits in base32", s)
	}
	uri, err := TOTPURI("alice", s)
	if err != nil {
		t.Fatal(err)
	}
	want := "otpauth://totp/Testimony:alice?algorithm=SHA1&digits=6&issuer=Testimony&period=30&secret=" + s
	if uri != want {
		t.Fatalf("uri %q, want %q", uri, want)
	}
}
