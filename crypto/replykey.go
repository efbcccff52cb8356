package crypto

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"strings"

	"filippo.io/age"
	"filippo.io/hpke"
)

// ReplyIdentity derives a source's hybrid age identity for replies from its
// codename: HKDF-SHA256 of the normalised codename, salted with a key
// derived from the server key, gives the 32-byte seed of an ML-KEM-768 +
// X25519 identity. Only its public key is stored; the secret key exists
// only while a witness who typed the codename is being served. Both the
// codename and the server key are needed, so a stolen database alone
// decrypts no reply.
func ReplyIdentity(k *ServerKey, codename string) (*age.HybridIdentity, error) {
	seed, err := replySeed(k, codename)
	if err != nil {
		return nil, err
	}
	s, err := bech32Encode("age-secret-key-pq-", seed)
	if err != nil {
		return nil, err
	}
	return age.ParseHybridIdentity(strings.ToUpper(s))
}

// ReplyRecipient is the recipient string ("age1pq1…") of the reply
// identity of codename: ReplyIdentity(k, codename).Recipient().String(),
// made without the secret key's age encoding and with this file's Bech32,
// whose checksum runs by table where age's goes bit by bit: every
// submission computes one.
func ReplyRecipient(k *ServerKey, codename string) (string, error) {
	seed, err := replySeed(k, codename)
	if err != nil {
		return "", err
	}
	sk, err := hpke.MLKEM768X25519().NewPrivateKey(seed)
	if err != nil {
		return "", err
	}
	return bech32Encode("age1pq", sk.PublicKey().Bytes())
}

// replySeed is the 32-byte seed of the reply identity of codename.
func replySeed(k *ServerKey, codename string) ([]byte, error) {
	return hkdf.Key(sha256.New, []byte(NormalizeCodename(codename)), k.Derive("reply salt", 32), "testimony/v1 reply identity", 32)
}

// A Bech32 (BIP-173) encoder and decoder, without BIP-173's 90-character
// limit (age's keys are longer). age keeps its own in an internal package.

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var bech32Gen = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

// bech32Table[top] is the XOR of the generator terms the five bits top
// shifted out of the checksum select.
var bech32Table = func() (t [32]uint32) {
	for top := range t {
		for i := range 5 {
			if (top>>i)&1 == 1 {
				t[top] ^= bech32Gen[i]
			}
		}
	}
	return t
}()

func bech32Polymod(values []byte) uint32 {
	chk := uint32(1)
	for _, v := range values {
		chk = (chk&0x1ffffff)<<5 ^ uint32(v) ^ bech32Table[chk>>25]
	}
	return chk
}

func bech32HRPExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

// convertBits regroups bits; pad adds zero bits to finish the last group.
func convertBits(data []byte, from, to uint, pad bool) ([]byte, error) {
	var acc uint32
	var bits uint
	maxv := uint32(1)<<to - 1
	var out []byte
	for _, b := range data {
		if uint32(b)>>from != 0 {
			return nil, errors.New("bech32: value out of range")
		}
		acc = acc<<from | uint32(b)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(to-bits)&maxv))
		}
	} else if bits >= from || acc<<(to-bits)&maxv != 0 {
		return nil, errors.New("bech32: invalid padding")
	}
	return out, nil
}

// bech32Encode encodes data with a lower-case human-readable part.
func bech32Encode(hrp string, data []byte) (string, error) {
	if strings.ToLower(hrp) != hrp || hrp == "" {
		return "", errors.New("bech32: the human-readable part must be lower-case and not empty")
	}
	values, err := convertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	poly := bech32Polymod(append(append(bech32HRPExpand(hrp), values...), 0, 0, 0, 0, 0, 0)) ^ 1
	var b strings.Builder
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, v := range values {
		b.WriteByte(bech32Charset[v])
	}
	for i := range 6 {
		b.WriteByte(bech32Charset[(poly>>uint(5*(5-i)))&31])
	}
	return b.String(), nil
}

// bech32Decode decodes a string of one case; the HRP is returned lower-case.
func bech32Decode(s string) (string, []byte, error) {
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, errors.New("bech32: mixed case")
	}
	s = strings.ToLower(s)
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, errors.New("bech32: separator misplaced")
	}
	hrp := s[:pos]
	for i := 0; i < len(hrp); i++ {
		if hrp[i] < 33 || hrp[i] > 126 {
			return "", nil, errors.New("bech32: invalid character in the human-readable part")
		}
	}
	values := make([]byte, 0, len(s)-pos-1)
	for i := pos + 1; i < len(s); i++ {
		d := strings.IndexByte(bech32Charset, s[i])
		if d < 0 {
			return "", nil, errors.New("bech32: invalid character in the data")
		}
		values = append(values, byte(d))
	}
	if bech32Polymod(append(bech32HRPExpand(hrp), values...)) != 1 {
		return "", nil, errors.New("bech32: bad checksum")
	}
	data, err := convertBits(values[:len(values)-6], 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}
