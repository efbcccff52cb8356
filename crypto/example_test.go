package crypto_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"

	"testimony/crypto"
)

// A witness's testimony with one photo is sealed to the investigators' keys,
// then opened on an investigator's air-gapped machine.
func ExampleNewEnvelope() {
	// The investigator's key. On the server, only the public key is known,
	// read from a recipients file with ParseRecipients.
	id, err := crypto.GenerateIdentity(false) // post-quantum hybrid
	if err != nil {
		log.Fatal(err)
	}
	rs, err := crypto.NewRecipients("investigators", id.Recipient)
	if err != nil {
		log.Fatal(err)
	}

	// The manifest lists every attachment, with its size and SHA-256, before
	// any is written: tar needs the sizes up front.
	photo := []byte("\xff\xd8\xff\xe0 a photo of the boarding pass")
	digest := sha256.Sum256(photo)
	m := &crypto.Manifest{
		Kind: crypto.KindSubmission,
		Day:  "2026-08-27", // a UTC day, never an instant
		Lang: "ru",
		Form: crypto.FormRef{ID: "deportation", Version: 1},
		Answers: map[string]crypto.Answer{
			"account":    crypto.TextAnswer("Нас везли из Александрии в Каир в наручниках."),
			"conditions": crypto.ListAnswer("restraints", "documents_taken"),
		},
		Attachments: []crypto.Attachment{{
			Name:   crypto.CleanName("посадочный талон.jpg"),
			Size:   int64(len(photo)),
			SHA256: hex.EncodeToString(digest[:]),
			Type:   "image/jpeg",
		}},
	}

	// Seal: the object streams to any io.Writer (the store's chunk writer
	// on the server). Nothing in plaintext touches the disk.
	var object bytes.Buffer
	e, err := crypto.NewEnvelope(&object, rs, m)
	if err != nil {
		log.Fatal(err)
	}
	if err := e.WriteAttachment(bytes.NewReader(photo)); err != nil {
		log.Fatal(err)
	}
	if err := e.Close(); err != nil {
		log.Fatal(err)
	}

	// Open: the manifest first, then each attachment, checked against its
	// digest; Finish checks the padding and the end of the file.
	r, err := crypto.OpenEnvelope(&object, id.AgeIdentity())
	if err != nil {
		log.Fatal(err)
	}
	got := r.Manifest()
	fmt.Println(got.Kind, got.Day, got.Answers["account"].Text)
	fmt.Println(got.Answers["conditions"].Values())
	for i := 0; ; i++ {
		a, data, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		b, err := io.ReadAll(data)
		if err != nil {
			log.Fatal(err) // crypto.ErrDigestMismatch for a tampered attachment
		}
		fmt.Println(crypto.AttachmentPath(i, a.Name), len(b), "bytes")
	}
	if err := r.Finish(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// submission 2026-08-27 Нас везли из Александрии в Каир в наручниках.
	// [restraints documents_taken]
	// attachments/01-посадочный_талон.jpg 33 bytes
}
