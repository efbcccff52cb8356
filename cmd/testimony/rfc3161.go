package main

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// An RFC 3161 timestamp token, read with encoding/asn1. A reply
// (TimeStampResp) holds a status and the token; the token is a CMS
// SignedData (RFC 5652) whose content is a TSTInfo: the hash of the data
// stamped (the message imprint) and the TSA's time. The token is signed
// over its signed attributes, which hold the hash of the TSTInfo, its
// content type and the TSA's certificate's hash (ESS signing
// certificate).
//
// Only DER is read (what TSAs and openssl write; BER's indefinite lengths
// are refused). The certificates are parsed and their chain checked by
// crypto/x509, not here. The Go libraries for RFC 3161 on the module
// proxy either need a newer Go than ours or link the testing package
// into the program; this is the part of them we need.

var (
	oidSignedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidAttrContent    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrDigest     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningCert    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSigningCertV2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidEKU            = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidSHA256         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidRSA            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSASHA256      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidRSASHA384      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidRSASHA512      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECPublicKey    = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidECDSASHA256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384    = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512    = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519        = asn1.ObjectIdentifier{1, 3, 101, 112}
	errTokenStructure = errors.New("not an RFC 3161 timestamp token (DER)")
)

type pkiStatusInfo struct {
	Status       int
	StatusString []string       `asn1:"optional,utf8"`
	FailInfo     asn1.BitString `asn1:"optional"`
}

type timeStampResp struct {
	Status pkiStatusInfo
	Token  asn1.RawValue `asn1:"optional"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     []byte `asn1:"explicit,optional,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type cmsAttribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

type messageImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

type tsAccuracy struct {
	Seconds int `asn1:"optional"`
	Millis  int `asn1:"optional,tag:0"`
	Micros  int `asn1:"optional,tag:1"`
}

type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        time.Time        `asn1:"generalized"`
	Accuracy       tsAccuracy       `asn1:"optional"`
	Ordering       bool             `asn1:"optional"`
	Nonce          *big.Int         `asn1:"optional"`
	TSA            asn1.RawValue    `asn1:"optional,explicit,tag:0"`
	Extensions     []pkix.Extension `asn1:"optional,tag:1"`
}

// essCertIDv2 is an entry of SigningCertificateV2 (RFC 5035), whose hash
// algorithm defaults to SHA-256; essCertID of SigningCertificate (RFC
// 2634), SHA-1.
type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
	CertHash      []byte
	IssuerSerial  asn1.RawValue `asn1:"optional"`
}
type signingCertV2 struct {
	Certs    []essCertIDv2
	Policies asn1.RawValue `asn1:"optional"`
}
type essCertID struct {
	CertHash     []byte
	IssuerSerial asn1.RawValue `asn1:"optional"`
}
type signingCertV1 struct {
	Certs    []essCertID
	Policies asn1.RawValue `asn1:"optional"`
}

// tsToken is a timestamp token as read and its signature checked against
// the certificate it carries.
type tsToken struct {
	Hash         crypto.Hash // of the message imprint
	Imprint      []byte
	Time         time.Time // the TSA's
	Signer       *x509.Certificate
	Certificates []*x509.Certificate
}

// unmarshalDER reads exactly one DER value into v.
func unmarshalDER(b []byte, v any, params string) error {
	rest, err := asn1.UnmarshalWithParams(b, v, params)
	if err != nil {
		return fmt.Errorf("%w: %v", errTokenStructure, err)
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: trailing data", errTokenStructure)
	}
	return nil
}

// parseToken reads a TSA's reply (TimeStampResp) or a bare token
// (TimeStampToken) and checks that it is whole: the signed attributes
// name a TSTInfo and hold its hash, and the signature over them holds
// under the signer's certificate, which the token must carry (the query
// asks for it: openssl ts -query -cert). Whom to trust is [checkTSA]'s.
func parseToken(b []byte) (*tsToken, error) {
	raw := b
	var resp timeStampResp
	if err := unmarshalDER(b, &resp, ""); err == nil {
		if resp.Status.Status > 1 { // 0 granted, 1 granted with mods
			return nil, fmt.Errorf("the TSA refused the query (status %d: %q)", resp.Status.Status, resp.Status.StatusString)
		}
		if len(resp.Token.FullBytes) == 0 {
			return nil, errors.New("the reply holds no token")
		}
		raw = resp.Token.FullBytes
	}
	var ci contentInfo
	if err := unmarshalDER(raw, &ci, ""); err != nil {
		return nil, err
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: not CMS signed data", errTokenStructure)
	}
	var sd signedData
	if err := unmarshalDER(ci.Content.Bytes, &sd, ""); err != nil {
		return nil, err
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidTSTInfo) || len(sd.EncapContentInfo.EContent) == 0 {
		return nil, fmt.Errorf("%w: its content is not a TSTInfo", errTokenStructure)
	}
	if len(sd.SignerInfos) != 1 {
		return nil, fmt.Errorf("%w: %d signers, want 1", errTokenStructure, len(sd.SignerInfos))
	}
	var certs []*x509.Certificate
	if len(sd.Certificates.Bytes) > 0 {
		var err error
		if certs, err = x509.ParseCertificates(sd.Certificates.Bytes); err != nil {
			return nil, fmt.Errorf("%w: its certificates: %v", errTokenStructure, err)
		}
	}
	si := sd.SignerInfos[0]
	signer := findSigner(si.SID, certs)
	if signer == nil {
		return nil, errors.New("the token does not carry its signer's certificate: ask for it in the query (openssl ts -query -cert)")
	}
	content := sd.EncapContentInfo.EContent
	digest, err := hashOf(si.DigestAlgorithm.Algorithm)
	if err != nil {
		return nil, err
	}
	attrs, err := parseAttributes(si.SignedAttrs)
	if err != nil {
		return nil, err
	}
	var ct asn1.ObjectIdentifier
	if err := attrs.one(oidAttrContent, &ct); err != nil || !ct.Equal(oidTSTInfo) {
		return nil, errors.New("the token's signed attributes do not name a TSTInfo as its content")
	}
	var md []byte
	if err := attrs.one(oidAttrDigest, &md); err != nil {
		return nil, errors.New("the token's signed attributes hold no message digest")
	}
	h := digest.New()
	h.Write(content)
	if subtle.ConstantTimeCompare(h.Sum(nil), md) != 1 {
		return nil, errors.New("the token's TSTInfo does not match the digest its signature covers: it was altered")
	}
	if err := attrs.checkSigningCert(signer); err != nil {
		return nil, err
	}
	alg, err := signatureAlgorithm(si.SignatureAlgorithm.Algorithm, digest)
	if err != nil {
		return nil, err
	}
	// The signature covers the DER of the signed attributes as a SET,
	// not under the [0] tag they carry in the SignerInfo (RFC 5652, 5.4).
	signed := slices.Clone(si.SignedAttrs.FullBytes)
	signed[0] = 0x31
	if err := signer.CheckSignature(alg, signed, si.Signature); err != nil {
		return nil, fmt.Errorf("the token's signature does not hold under its signer's certificate: %v", err)
	}
	var info tstInfo
	if err := unmarshalDER(content, &info, ""); err != nil {
		return nil, err
	}
	ih, err := hashOf(info.MessageImprint.HashAlgorithm.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("the message imprint: %v", err)
	}
	return &tsToken{Hash: ih, Imprint: info.MessageImprint.HashedMessage, Time: info.GenTime.UTC(),
		Signer: signer, Certificates: certs}, nil
}

func findSigner(sid asn1.RawValue, certs []*x509.Certificate) *x509.Certificate {
	if sid.Class == asn1.ClassContextSpecific && sid.Tag == 0 { // subjectKeyIdentifier
		for _, c := range certs {
			if len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, sid.Bytes) {
				return c
			}
		}
		return nil
	}
	var ias issuerAndSerial
	if unmarshalDER(sid.FullBytes, &ias, "") != nil || ias.Serial == nil {
		return nil
	}
	for _, c := range certs {
		if bytes.Equal(c.RawIssuer, ias.Issuer.FullBytes) && c.SerialNumber.Cmp(ias.Serial) == 0 {
			return c
		}
	}
	return nil
}

func hashOf(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("hash algorithm %v: only SHA-256, SHA-384 and SHA-512 are accepted (openssl ts -query -sha256)", oid)
}

// signatureAlgorithm is the x509 algorithm of a SignerInfo's signature
// algorithm, which names either the key (rsaEncryption, the digest then
// being the SignerInfo's) or the key and the hash.
func signatureAlgorithm(oid asn1.ObjectIdentifier, digest crypto.Hash) (x509.SignatureAlgorithm, error) {
	byHash := func(s256, s384, s512 x509.SignatureAlgorithm) x509.SignatureAlgorithm {
		switch digest {
		case crypto.SHA384:
			return s384
		case crypto.SHA512:
			return s512
		}
		return s256
	}
	switch {
	case oid.Equal(oidRSA):
		return byHash(x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA), nil
	case oid.Equal(oidRSASHA256):
		return x509.SHA256WithRSA, nil
	case oid.Equal(oidRSASHA384):
		return x509.SHA384WithRSA, nil
	case oid.Equal(oidRSASHA512):
		return x509.SHA512WithRSA, nil
	case oid.Equal(oidECPublicKey):
		return byHash(x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512), nil
	case oid.Equal(oidECDSASHA256):
		return x509.ECDSAWithSHA256, nil
	case oid.Equal(oidECDSASHA384):
		return x509.ECDSAWithSHA384, nil
	case oid.Equal(oidECDSASHA512):
		return x509.ECDSAWithSHA512, nil
	case oid.Equal(oidEd25519):
		return x509.PureEd25519, nil
	}
	return 0, fmt.Errorf("signature algorithm %v is not supported (RSA PKCS #1 v1.5, ECDSA or Ed25519 are)", oid)
}

type signedAttrs []cmsAttribute

func parseAttributes(raw asn1.RawValue) (signedAttrs, error) {
	if len(raw.FullBytes) == 0 || raw.Class != asn1.ClassContextSpecific || !raw.IsCompound {
		return nil, fmt.Errorf("%w: no signed attributes", errTokenStructure)
	}
	var out signedAttrs
	for rest := raw.Bytes; len(rest) > 0; {
		var a cmsAttribute
		var err error
		if rest, err = asn1.Unmarshal(rest, &a); err != nil {
			return nil, fmt.Errorf("%w: signed attributes: %v", errTokenStructure, err)
		}
		for _, o := range out {
			if o.Type.Equal(a.Type) {
				return nil, fmt.Errorf("%w: signed attribute %v twice", errTokenStructure, a.Type)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// one reads the single value of attribute oid into v.
func (as signedAttrs) one(oid asn1.ObjectIdentifier, v any) error {
	for _, a := range as {
		if a.Type.Equal(oid) {
			return unmarshalDER(a.Values.Bytes, v, "")
		}
	}
	return fmt.Errorf("no attribute %v", oid)
}

// checkSigningCert checks that the signed attributes name the signer's
// certificate (RFC 3161, 2.4.1), so that no other certificate of the same
// key passes for it.
func (as signedAttrs) checkSigningCert(signer *x509.Certificate) error {
	var v2 signingCertV2
	if err := as.one(oidSigningCertV2, &v2); err == nil && len(v2.Certs) > 0 {
		alg := v2.Certs[0].HashAlgorithm.Algorithm
		h := crypto.SHA256
		if len(alg) > 0 {
			var err error
			if h, err = hashOf(alg); err != nil {
				return fmt.Errorf("the token's signing certificate: %v", err)
			}
		}
		d := h.New()
		d.Write(signer.Raw)
		if !bytes.Equal(d.Sum(nil), v2.Certs[0].CertHash) {
			return errors.New("the token's signed attributes name another certificate than its signer's")
		}
		return nil
	}
	var v1 signingCertV1
	if err := as.one(oidSigningCert, &v1); err == nil && len(v1.Certs) > 0 {
		s := sha1.Sum(signer.Raw) // RFC 2634 fixes SHA-1 here; the signature itself is not SHA-1
		if !bytes.Equal(s[:], v1.Certs[0].CertHash) {
			return errors.New("the token's signed attributes name another certificate than its signer's")
		}
		return nil
	}
	return errors.New("the token names no signing certificate in its signed attributes (RFC 3161 requires it)")
}

// checkImprint checks that the token stamps data.
func checkImprint(t *tsToken, data []byte) error {
	h := t.Hash.New()
	h.Write(data)
	if !bytes.Equal(h.Sum(nil), t.Imprint) {
		return fmt.Errorf("its message imprint is %x, the file's %v hash is %x", t.Imprint, t.Hash, h.Sum(nil))
	}
	return nil
}

// checkTSA checks that the token's signer is a timestamping authority
// whose certificate chains to one of the CAs in pool, valid at the time
// it gives, with the timeStamping purpose alone, marked critical (RFC
// 3161, 2.3).
func checkTSA(t *tsToken, pool *x509.CertPool) error {
	s := t.Signer
	if !slices.Equal(s.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}) || len(s.UnknownExtKeyUsage) > 0 {
		return fmt.Errorf("the signer %q is not a timestamping authority's certificate (extended key usage timeStamping only)", s.Subject)
	}
	if !slices.ContainsFunc(s.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oidEKU) && e.Critical }) {
		return fmt.Errorf("the signer %q has its timeStamping purpose not marked critical (RFC 3161, 2.3)", s.Subject)
	}
	inter := x509.NewCertPool()
	for _, c := range t.Certificates {
		if c != s {
			inter.AddCert(c)
		}
	}
	_, err := s.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}, CurrentTime: t.Time})
	if err != nil {
		return fmt.Errorf("the signer %q does not chain to a TSA CA given: %v", s.Subject, err)
	}
	return nil
}
