// Package crypto holds Testimony's cryptography: the envelope every testimony
// is kept in, recipient sets, key generation, padding, codenames and the
// helpers for investigators' passphrases and TOTP codes.
//
// # The envelope
//
// Every stored object is one standard age file. Its plaintext is a POSIX tar
// (PAX) whose first entry is manifest.json, then one entry per attachment
// named attachments/NN-<safe name>, then zero padding up to the PADMÉ length
// of the tar, and never less than the tar of 16 KiB of content, so that a
// 1 KiB and a 15 KiB testimony give files of the same size. So
//
//	age -d -i key.txt item.age | tar x
//
// reads any object without this package, with age 1.3 or later: older ones
// (Debian 12 ships 1.1.1) cannot read post-quantum hybrid identities. Write
// one with [NewEnvelope] and read it back with [OpenEnvelope], which checks
// every attachment against the SHA-256 in the manifest. [NewEnvelope] needs
// every attachment's size and digest first; [NewStreamEnvelope] writes an
// upload in one pass as it arrives, keeping room for the manifest, whose
// manifest.json then ends in spaces (valid JSON all the same), and mending
// the age chunks that hold it and the attachments' tar headers at the end.
//
// # Recipients
//
// Objects are encrypted to a [Recipients] set, parsed from age recipient
// files with [ParseRecipients]. Post-quantum hybrid keys (age1pq1…) are the
// default; a set that mixes them with classic X25519 keys is refused, as age
// itself refuses it. [Recipients.Fingerprint] names a set independently of
// its order, so each item can record which keys can open it.
//
// This package knows nothing of storage or HTTP.
package crypto
