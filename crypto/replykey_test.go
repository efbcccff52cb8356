package crypto

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestBech32AgainstAge decodes hybrid secret keys made by age itself and
// re-encodes them: our encoder must give age's exact strings.
func TestBech32AgainstAge(t *testing.T) {
	for range 20 {
		k, err := age.GenerateHybridIdentity()
		if err != nil {
			t.Fatal(err)
		}
		s := k.String()
		hrp, seed, err := bech32Decode(s)
		if err != nil {
			t.Fatalf("decoding %s: %v", s, err)
		}
		if hrp != "age-secret-key-pq-" || len(seed) != 32 {
			t.Fatalf("decoded hrp %q, %d bytes", hrp, len(seed))
		}
		enc, err := bech32Encode(hrp, seed)
		if err != nil {
			t.Fatal(err)
		}
		if strings.ToUpper(enc) != s {
			t.Fatalf("re-encoded\n%s\nwant\n%s", strings.ToUpper(enc), s)
		}
	}
	// A flipped character must fail the checksum.
	k, _ := age.GenerateHybridIdentity()
	s := []byte(k.String())
	s[30] ^= 1
	if _, _, err := bech32Decode(string(s)); err == nil {
		t.Error("a corrupted key decoded")
	}
}

func TestReplyIdentity(t *testing.T) {
	k := NewServerKeyForTest(3)
	c := "abacus bagful cabana dab eager fable gab"
	id1, err := ReplyIdentity(k, c)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := ReplyIdentity(k, "Abacus-Bagful cabana dab eager fable gab")
	if err != nil {
		t.Fatal(err)
	}
	if id1.String() != id2.String() {
		t.Fatal("the same codename gives two identities")
	}
	other, _ := ReplyIdentity(k, "abacus bagful cabana dab eager fable gag")
	if other.Recipient().String() == id1.Recipient().String() {
		t.Fatal("two codenames give one identity")
	}
	other2, _ := ReplyIdentity(NewServerKeyForTest(4), c)
	if other2.Recipient().String() == id1.Recipient().String() {
		t.Fatal("the identity does not depend on the server key")
	}
	// The derived key works with age: encrypt to its public key alone,
	// decrypt with the identity derived again from the codename.
	rcpt, err := age.ParseHybridRecipient(id1.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcpt)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "a reply")
	w.Close()
	r, err := age.Decrypt(bytes.NewReader(buf.Bytes()), id2)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if string(got) != "a reply" {
		t.Fatalf("decrypted %q", got)
	}
	if _, err := age.Decrypt(bytes.NewReader(buf.Bytes()), other); err == nil {
		t.Fatal("another codename's identity decrypted the reply")
	}
}

// TestReplyRecipient: the recipient made without age's encoding is the
// string age gives for the identity's public key.
func TestReplyRecipient(t *testing.T) {
	k := NewServerKeyForTest(3)
	for range 20 {
		c, err := NewCodename()
		if err != nil {
			t.Fatal(err)
		}
		id, err := ReplyIdentity(k, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReplyRecipient(k, c)
		if err != nil {
			t.Fatal(err)
		}
		if want := id.Recipient().String(); got != want {
			t.Fatalf("ReplyRecipient(%q) = %.40s…, age says %.40s…", c, got, want)
		}
	}
}
