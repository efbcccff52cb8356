// Package store keeps Testimony's data in one bbolt file.
//
// The store holds opaque bytes: it does not know that items are age files,
// and it imports no cryptography. An item is a record (kind, UTC day, size,
// the fingerprint of the recipient set it was encrypted to, the pseudonym of
// its source) and its bytes, kept as chunks.
//
// # Writing an item
//
// [DB.NewItem] returns an [ItemWriter]; write the item's bytes to it and
// call [ItemWriter.Commit] with the record. Chunks are written a few at a
// time as they fill, in the background while the next ones fill, the item
// marked pending meanwhile; the record is committed last, with the final
// chunks, so an item is visible only once all its bytes are on disk. A
// write that never commits (a crash, a client gone) leaves pending chunks
// that [Open] removes. Items of a few chunks go to disk in one
// transaction, and concurrent writers share transactions (and their
// fsync) through bbolt's Batch. [ItemWriter.Rewrite] changes bytes already
// written, in place, at Commit: a layer above fills in what it did not
// know when it wrote them.
//
// # Other data
//
// Accounts, sessions and the like are kept by the layers above in buckets of
// their own through [DB.Update] and [DB.View], as opaque keys and values.
package store
