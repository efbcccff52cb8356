package crypto

import (
	"encoding/json"
	"strings"
	"testing"
)

var cheap = Argon2Params{Time: 1, Memory: 8 << 10, Threads: 1}

func TestPassphraseHashVerify(t *testing.T) {
	h, err := HashPassphrase("correct horse battery staple", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyPassphrase(h, "correct horse battery staple") {
		t.Fatal("the right passphrase is refused")
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", "correct horse battery staple "} {
		if VerifyPassphrase(h, wrong) {
			t.Errorf("%q accepted", wrong)
		}
	}
	// Same passphrase, new salt: another hash.
	h2, _ := HashPassphrase("correct horse battery staple", cheap)
	if string(h2.Salt) == string(h.Salt) || string(h2.Hash) == string(h.Hash) {
		t.Fatal("two hashes share a salt")
	}
	// The parameters travel with the hash, so they can be raised later: a
	// hash made with other costs still verifies after a JSON round trip.
	js, _ := json.Marshal(h)
	if !strings.Contains(string(js), `"params":{"t":1,"m":8192,"p":1}`) || !strings.Contains(string(js), `"alg":"argon2id"`) {
		t.Fatalf("stored hash %s lacks its parameters", js)
	}
	var back PassphraseHash
	if err := json.Unmarshal(js, &back); err != nil || !VerifyPassphrase(&back, "correct horse battery staple") {
		t.Fatalf("round trip: %v", err)
	}
	back.Params.Time = 2
	if VerifyPassphrase(&back, "correct horse battery staple") {
		t.Fatal("verified with other parameters than the hash was made with")
	}
}

func TestPassphraseLimits(t *testing.T) {
	long := strings.Repeat("a", MaxPassphrase+1)
	if _, err := HashPassphrase(long, cheap); err == nil {
		t.Fatal("an over-long passphrase was hashed")
	}
	h, _ := HashPassphrase(long[:MaxPassphrase], cheap)
	if VerifyPassphrase(h, long) {
		t.Fatal("an over-long passphrase matched its prefix")
	}
	for _, bad := range []*PassphraseHash{nil, {}, {Alg: "bcrypt", Params: cheap, Hash: []byte{1}}} {
		if VerifyPassphrase(bad, "") {
			t.Errorf("unusable hash %+v verified", bad)
		}
	}
	if _, err := HashPassphrase("x", Argon2Params{}); err == nil {
		t.Fatal("zero parameters accepted")
	}
}

func TestGeneratePassphrase(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		p, err := GeneratePassphrase()
		if err != nil {
			t.Fatal(err)
		}
		w := strings.Fields(p)
		if len(w) != PassphraseWords || len(p) < MinPassphrase {
			t.Fatalf("%q: %d words", p, len(w))
		}
		if seen[p] {
			t.Fatalf("%q twice", p)
		}
		seen[p] = true
	}
}
