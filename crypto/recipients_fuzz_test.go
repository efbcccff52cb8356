package crypto_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"testimony/crypto"
)

// FuzzParseRecipients: any recipients file (keys, comments, blank lines,
// a byte-order mark, CRLF, junk) gives an error that names the file — a
// line error, ErrNoRecipients, or a read error — or a set of one kind of
// key, each of which was a line of the file, that written back out one
// per line parses to the same set and fingerprint.
func FuzzParseRecipients(f *testing.F) {
	var pq, classic []string
	for range 2 {
		id, err := crypto.GenerateIdentity(false)
		if err != nil {
			f.Fatal(err)
		}
		pq = append(pq, id.Recipient)
		id, err = crypto.GenerateIdentity(true)
		if err != nil {
			f.Fatal(err)
		}
		classic = append(classic, id.Recipient)
	}
	for _, s := range []string{
		"# investigators of the group\n" + pq[0] + "\n\n# escrow\n" + pq[1] + "\n",
		"\uFEFF" + pq[0] + "\r\n" + pq[0] + "\r\n",
		"   " + classic[0] + "   \n#" + pq[0] + "\n" + classic[1],
		pq[0] + "\n" + classic[0] + "\n",
		"# only comments\n\n   \n",
		"",
		"AGE-SECRET-KEY-1QQQQ\n",
		strings.ToUpper(classic[0]),
		"age1pq1notakey\n",
		"age1\n",
		pq[0][:200] + "\n",
		classic[0] + " # trailing comment",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := crypto.ParseRecipients(bytes.NewReader(b), "escrow.txt")
		if err != nil {
			var re *crypto.RecipientError
			switch {
			case errors.As(err, &re):
				if re.Source != "escrow.txt" || re.Line < 1 || re.Reason == "" {
					t.Fatalf("line error without its place: %+v", re)
				}
			case errors.Is(err, crypto.ErrNoRecipients):
			default:
				if !strings.Contains(err.Error(), "escrow.txt") {
					t.Fatalf("error does not name the file: %v", err)
				}
			}
			if rs != nil {
				t.Fatal("an error and a set")
			}
			return
		}
		keys := rs.Keys()
		if len(keys) == 0 || rs.Len() != len(keys) {
			t.Fatalf("a set of %d keys, Len %d", len(keys), rs.Len())
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r", "\n"), "\n") {
			lines[strings.TrimSpace(strings.TrimPrefix(l, "\uFEFF"))] = true
		}
		for _, k := range keys {
			if !lines[k] {
				t.Fatalf("key %.20q… is not a line of the file", k)
			}
			if !rs.Contains(k) {
				t.Fatalf("the set does not contain its own key %.20q…", k)
			}
			if strings.HasPrefix(k, "age1pq1") != rs.PostQuantum() {
				t.Fatalf("key %.20q… in a set with PostQuantum %v", k, rs.PostQuantum())
			}
		}
		again, err := crypto.ParseRecipients(strings.NewReader(strings.Join(keys, "\n")), "again")
		if err != nil {
			t.Fatalf("the set's own keys do not parse: %v", err)
		}
		if again.Fingerprint() != rs.Fingerprint() || strings.Join(again.Keys(), ",") != strings.Join(keys, ",") {
			t.Fatal("the set written out parses to another set")
		}
	})
}
