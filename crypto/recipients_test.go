package crypto_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"testimony/crypto"
)

func classicKeys(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		id, err := crypto.GenerateIdentity(true)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, id.Recipient)
	}
	return out
}

func pqKeys(t *testing.T) []string {
	var out []string
	for _, id := range identities(t) {
		out = append(out, id.Recipient)
	}
	return out
}

func TestParseRecipientsFile(t *testing.T) {
	pq := pqKeys(t)
	file := fmt.Sprintf(`# Investigators of the deportation inquiry
# created: 2026-11-28

%s
   %s   

# escrow key, kept offline
%s
%s
`, pq[0], pq[1], pq[2], pq[0])
	rs, err := crypto.ParseRecipients(strings.NewReader(file), "recipients.txt")
	if err != nil {
		t.Fatalf("ParseRecipients: %v", err)
	}
	if rs.Len() != 3 {
		t.Errorf("Len = %d, want 3 (a duplicate counts once)", rs.Len())
	}
	if !rs.PostQuantum() {
		t.Errorf("PostQuantum = false for age1pq1 keys")
	}
	want := slices.Sorted(slices.Values(pq))
	if got := rs.Keys(); !slices.Equal(got, want) {
		t.Errorf("Keys = %v, want sorted %v", got, want)
	}
	for _, k := range pq {
		if !rs.Contains(k) || !rs.Contains("  "+k+"\n") {
			t.Errorf("Contains(%.20s…) = false", k)
		}
	}
	other := classicKeys(t, 1)[0]
	for _, k := range []string{other, "", "age1pq1", pq[0][:len(pq[0])-1]} {
		if rs.Contains(k) {
			t.Errorf("Contains(%.30q) = true", k)
		}
	}
	classic, err := crypto.NewRecipients("classic", classicKeys(t, 2)...)
	if err != nil {
		t.Fatal(err)
	}
	if classic.PostQuantum() {
		t.Errorf("PostQuantum = true for X25519 keys")
	}
}

// A set that mixes hybrid and classic keys is refused whichever comes first,
// with an error that names the file and the offending line and says why.
func TestRecipientsMixedRefused(t *testing.T) {
	pq := pqKeys(t)
	cl := classicKeys(t, 1)[0]
	for _, c := range []struct {
		name, file string
		line       int
		mixedKind  string
	}{
		{"classic after pq", "# keys\n" + pq[0] + "\n\n" + cl + "\n" + pq[1] + "\n", 4, "classic"},
		{"pq after classic", cl + "\n# comment\n" + pq[0] + "\n", 3, "post-quantum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := crypto.ParseRecipients(strings.NewReader(c.file), "recipients.txt")
			if err == nil {
				t.Fatalf("mixed set accepted: %v", rs.Keys())
			}
			var re *crypto.RecipientError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RecipientError", err)
			}
			if re.Line != c.line || re.Source != "recipients.txt" {
				t.Errorf("error at %s:%d, want recipients.txt:%d", re.Source, re.Line, c.line)
			}
			msg := err.Error()
			for _, want := range []string{fmt.Sprintf("recipients.txt:%d:", c.line), c.mixedKind, "mix", "post-quantum"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
		})
	}
	// Merge of a classic and a PQ set is refused too.
	a, _ := crypto.NewRecipients("a", pq...)
	b, _ := crypto.NewRecipients("b", cl)
	if _, err := crypto.Merge("merged", a, b); err == nil {
		t.Errorf("Merge of PQ and classic sets accepted")
	}
}

func TestRecipientsEmptyRefused(t *testing.T) {
	for _, file := range []string{"", "\n\n", "# only comments\n  # indented comment\n\n"} {
		_, err := crypto.ParseRecipients(strings.NewReader(file), "empty.txt")
		if !errors.Is(err, crypto.ErrNoRecipients) {
			t.Errorf("ParseRecipients(%q) = %v, want ErrNoRecipients", file, err)
		}
	}
	if _, err := crypto.NewRecipients("none"); !errors.Is(err, crypto.ErrNoRecipients) {
		t.Errorf("NewRecipients() = %v, want ErrNoRecipients", err)
	}
	if _, err := crypto.NewEnvelope(nil, nil, manifestFor(nil)); !errors.Is(err, crypto.ErrNoRecipients) {
		t.Errorf("NewEnvelope with no recipients = %v, want ErrNoRecipients", err)
	}
}

func TestRecipientsGarbageLine(t *testing.T) {
	pq := pqKeys(t)
	for _, c := range []struct {
		name, bad string
	}{
		{"not a key", "alice@example.org"},
		{"ssh key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"},
		{"secret key", "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQSXUL8T"},
		{"bad checksum", pq[1][:len(pq[1])-1] + "q"},
		{"truncated classic", "age1qyqszqgpqyqszqgpqyqszqgp"},
		{"upper case", strings.ToUpper(pq[1])},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := "# keys\n" + pq[0] + "\n" + c.bad + "\n" + pq[2] + "\n"
			_, err := crypto.ParseRecipients(strings.NewReader(file), "keys.txt")
			var re *crypto.RecipientError
			if !errors.As(err, &re) {
				t.Fatalf("ParseRecipients = %v, want a *RecipientError", err)
			}
			if re.Line != 3 || !strings.HasPrefix(err.Error(), "keys.txt:3: ") {
				t.Errorf("error %q does not name keys.txt:3", err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q repeats a secret key", err)
			}
		})
	}
}

// The fingerprint names the set, not the file: order, duplicates, comments
// and spacing do not change it; any other key does.
func TestRecipientsFingerprint(t *testing.T) {
	pq := pqKeys(t)
	a, err := crypto.NewRecipients("a", pq[0], pq[1], pq[2])
	if err != nil {
		t.Fatal(err)
	}
	fp := a.Fingerprint()
	if len(fp) != 32 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("Fingerprint = %q, want 32 lower-case hex digits", fp)
	}
	file := "# reordered\n" + pq[2] + "\n\n  " + pq[0] + "\n" + pq[1] + "\n" + pq[2] + "\n"
	b, err := crypto.ParseRecipients(strings.NewReader(file), "b")
	if err != nil {
		t.Fatal(err)
	}
	perms := [][]string{{pq[2], pq[1], pq[0]}, {pq[1], pq[0], pq[2], pq[1]}}
	for _, p := range perms {
		c, err := crypto.NewRecipients("c", p...)
		if err != nil {
			t.Fatal(err)
		}
		if c.Fingerprint() != fp {
			t.Errorf("fingerprint depends on order or duplicates: %s vs %s", c.Fingerprint(), fp)
		}
	}
	if b.Fingerprint() != fp || crypto.Fingerprint(pq[1], pq[2], pq[0], " "+pq[0]) != fp {
		t.Errorf("fingerprints differ for the same set: %s, %s, %s", fp, b.Fingerprint(), crypto.Fingerprint(pq...))
	}
	if again, _ := crypto.NewRecipients("a", pq...); again.Fingerprint() != fp {
		t.Errorf("fingerprint not stable")
	}
	two, _ := crypto.NewRecipients("two", pq[0], pq[1])
	if two.Fingerprint() == fp {
		t.Errorf("a subset has the same fingerprint")
	}
	merged, err := crypto.Merge("m", two, b)
	if err != nil || merged.Fingerprint() != fp || merged.Len() != 3 {
		t.Errorf("Merge = %v (%v), want the set of 3 with fingerprint %s", merged, err, fp)
	}
}

// Files from Windows editors: a byte-order mark and CRLF line ends.
func TestRecipientsWindowsFile(t *testing.T) {
	pq := pqKeys(t)
	file := "\uFEFF" + pq[0] + "\r\n# comment\r\n" + pq[1] + "\r\n"
	rs, err := crypto.ParseRecipients(strings.NewReader(file), "win.txt")
	if err != nil || rs.Len() != 2 {
		t.Fatalf("ParseRecipients = %v, %v", rs, err)
	}
}

func TestRecipientsLongLine(t *testing.T) {
	pq := pqKeys(t)
	file := pq[0] + "\n# comment\n" + strings.Repeat("x", 100<<10) + "\n"
	_, err := crypto.ParseRecipients(strings.NewReader(file), "long.txt")
	var re *crypto.RecipientError
	if !errors.As(err, &re) || re.Line != 3 {
		t.Fatalf("ParseRecipients of a 100 KiB line = %v, want an error naming line 3", err)
	}
}
