package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// chunkSize is the size of the chunks an item's bytes are kept in.
const chunkSize = 1 << 20

// The layout (schema 3). An item's record is kept under its 16-byte id in
// the chunks bucket, and its bytes in that bucket after it, chunk seq
// under id||seq (seq big-endian, 4 bytes): the record sorts first, then
// the chunks in order. Ids are random, so each new item lands in a random
// leaf of the tree; a record kept apart, in a bucket of its own (as the
// items bucket of schemas 1 and 2 keeps it), would put each small item in
// two random leaves instead of one, and a batch of small items would
// write and sync the leaf and branch pages of both trees. Listing the
// records seeks from one record past the item's chunks to the next, so
// it reads one leaf per item, not the leaves of its chunks.
var (
	bucketMeta   = []byte("meta")
	bucketItems  = []byte("items") // the records of schemas 1 and 2
	bucketChunks = []byte("chunks")
	// bucketPending holds the ids of items whose chunks are being written
	// and whose record is not committed yet: their chunks are work in
	// progress (or the remains of an interrupted write), not damage. Open
	// removes them.
	bucketPending = []byte("pending")
	keySchema     = []byte("schema")
)

// Item is the record of one stored object.
type Item struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Day        string `json:"day"` // YYYY-MM-DD, UTC
	Size       int64  `json:"size"`
	Recipients string `json:"recipients"` // fingerprint of the recipient set
	Source     string `json:"source"`     // pseudonym of the source
	Chunks     int    `json:"chunks"`
}

const idLen = 16

func newID() []byte {
	id := make([]byte, idLen)
	rand.Read(id)
	return id
}

// parseID converts an item id from its hex form.
func parseID(s string) ([]byte, error) {
	id, err := hex.DecodeString(s)
	if err != nil || len(id) != idLen {
		return nil, fmt.Errorf("item %q: %w", s, ErrNotFound)
	}
	return id, nil
}

func chunkKey(id []byte, seq int) []byte {
	return binary.BigEndian.AppendUint32(bytes.Clone(id), uint32(seq))
}

// putChunks puts values, numbered from first. It may run more than once
// (Batch), and in the background: it reads no field of the writer but its
// id.
func putChunks(b *bolt.Bucket, id []byte, first int, values [][]byte) error {
	for i, v := range values {
		if err := b.Put(chunkKey(id, first+i), v); err != nil {
			return err
		}
	}
	return nil
}

// tailPieces is how many small pieces begin a large item and end each of
// its transactions. bbolt keeps values inside their leaf, rewrites a whole
// leaf when a key is added to it, and never splits a leaf of four values
// or fewer, however large. Keys are random per item, so a new item lands
// in a leaf beside another item's first or last values; were those MiB
// chunks, writing a 1 MiB item would rewrite several MiB of its
// neighbours (and, at the size cap, need a run of free pages that no
// deletion had freed). Begun and ended in four small pieces, an item
// shares leaves with its neighbours only through those. Within an item, the next flush
// adds its chunks to the leaf that holds the last values of the one
// before: small pieces there too, so a large item is written about once
// instead of twice (BenchmarkStoreWriteLarge, TestFlushTailPieces).
const tailPieces = 4

// A small item (all its bytes still in the writer at Commit) is kept in
// chunks of at most [DB.smallChunk] bytes rather than in one. bbolt keeps
// values inside their leaf and rewrites a whole leaf, with its two to four
// values, when a key is added; keys are random, so each new item lands in
// another item's leaf. With 4 KiB values, or a padded 20 KiB submission,
// that leaf is many pages, rewritten and synced for every item. Values
// small enough for four of them, with their keys, to fill one page (up to
// chunksFill) let adding an item rewrite little besides its own bytes.
// Large items keep chunkSize chunks between their small first and last
// pieces: their keys are consecutive and fill leaves of their own.
const smallItemMax = 256 << 10

// chunksFill is the FillPercent of the chunks bucket: bbolt splits a node
// whose elements pass that share of a page. At bbolt's default, 0.5, a
// leaf of small pieces holds two of them and leaves half of every page it
// writes empty; at 1.0 a full page splits, on each random insert, into a
// full node and a nearly empty one, which multiplies branch pages. At 0.9
// a leaf holds four small pieces (smallChunkFor), and the pages a small
// item or a batch of them writes, and syncs, carry little empty space
// (TestChunksFilled compares it with bbolt's default).
const chunksFill = 0.9

// chunksBucket is the chunks bucket of a write transaction, with its
// FillPercent set to fill: bbolt reads it when the transaction commits,
// so one call in a transaction sets it for all of that transaction's
// writes.
func chunksBucket(tx *bolt.Tx, fill float64) *bolt.Bucket {
	b := tx.Bucket(bucketChunks)
	if b != nil {
		b.FillPercent = fill
	}
	return b
}

// smallChunkFor is the chunk size of small items for a page size and a
// FillPercent: four values with their keys and leaf elements fill that
// share of a page (881 bytes for 4 KiB pages at chunksFill), so that a
// leaf holds four before it splits.
func smallChunkFor(pageSize int, fill float64) int {
	return (int(float64(pageSize)*fill)-pageHeaderSize)/4 - elementSize - idLen - 4
}

// deleteChunks deletes every key that begins with id: an item's record
// and chunks, or the chunks of a write that never committed.
func deleteChunks(tx *bolt.Tx, id []byte) error {
	c := tx.Bucket(bucketChunks).Cursor()
	var last []byte
	for k, _ := c.Seek(id); k != nil && bytes.HasPrefix(k, id); k, _ = c.Seek(id) {
		// In a damaged page whose keys are out of order, a delete can
		// miss the key it was given; seeking again would find it forever.
		if bytes.Equal(k, last) {
			return fmt.Errorf("%w: key %x cannot be deleted", ErrCorrupt, k)
		}
		last = append(last[:0], k...)
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}
