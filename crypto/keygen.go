package crypto

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
)

// Identity is an age secret key and its public key.
type Identity struct {
	Secret    string // AGE-SECRET-KEY-PQ-1… or AGE-SECRET-KEY-1…
	Recipient string // age1pq1… or age1…
	id        age.Identity
}

// GenerateIdentity makes a new post-quantum hybrid identity, or a classic
// X25519 one when classic is true.
func GenerateIdentity(classic bool) (*Identity, error) {
	if classic {
		k, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, err
		}
		return &Identity{Secret: k.String(), Recipient: k.Recipient().String(), id: k}, nil
	}
	k, err := age.GenerateHybridIdentity()
	if err != nil {
		return nil, err
	}
	return &Identity{Secret: k.String(), Recipient: k.Recipient().String(), id: k}, nil
}

// WriteIdentityFile writes id in the format of age-keygen: a creation
// comment, the public key as a comment, and the secret key.
func WriteIdentityFile(w io.Writer, id *Identity, created string) error {
	_, err := fmt.Fprintf(w, "# created: %s\n# public key: %s\n%s\n", created, id.Recipient, id.Secret)
	return err
}

// ParseIdentities reads an age identity file (the format age-keygen writes).
func ParseIdentities(r io.Reader) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(r)
	if err != nil {
		return nil, fmt.Errorf("reading identities: %v", err)
	}
	return ids, nil
}

// PublicKeysInIdentityFile returns the "# public key:" comments of an
// identity file, as age-keygen writes them.
func PublicKeysInIdentityFile(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		if k, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "# public key:"); ok {
			out = append(out, strings.TrimSpace(k))
		}
	}
	return out
}

// AgeIdentity returns the age identity.
func (id *Identity) AgeIdentity() age.Identity { return id.id }
