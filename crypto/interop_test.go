package crypto_test

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"testimony/crypto"
)

var (
	ageOnce sync.Once
	ageDir  string
	ageErr  error
)

// stockAge builds the age and age-keygen commands at the version in go.mod
// and returns the path of the named one.
func stockAge(t *testing.T, name string) string {
	t.Helper()
	ageOnce.Do(func() {
		ageDir, ageErr = os.MkdirTemp("", "testimony-age-")
		if ageErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", ageDir+"/",
			"filippo.io/age/cmd/age", "filippo.io/age/cmd/age-keygen").CombinedOutput()
		if err != nil {
			ageErr = &buildError{err, out}
		}
	})
	if ageErr != nil {
		t.Fatalf("building the stock age CLI: %v", ageErr)
	}
	return filepath.Join(ageDir, name)
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

func TestMain(m *testing.M) {
	code := m.Run()
	if ageDir != "" {
		os.RemoveAll(ageDir)
	}
	os.Exit(code)
}

// writeIdentity writes id as our keygen does and returns the file's path.
func writeIdentity(t *testing.T, dir string, id *crypto.Identity) string {
	t.Helper()
	p := filepath.Join(dir, "key.txt")
	var b bytes.Buffer
	if err := crypto.WriteIdentityFile(&b, id, time.Now().UTC().Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// An item written by our code is read by `age -d | tar x` alone, and every
// file comes out byte for byte (issue 2's acceptance).
func TestInteropStockAgeAndTar(t *testing.T) {
	files := hostileFiles()
	m := manifestFor(sampleAnswers(), files...)
	t.Run("envelope", func(t *testing.T) { stockAgeAndTar(t, seal(t, recipients3(t), m, files...), m, files) })
	// Written in one pass, with room to spare after the manifest, and its
	// chunks holding the manifest and the tar headers sealed again.
	t.Run("stream", func(t *testing.T) {
		sm := manifestFor(sampleAnswers())
		stockAgeAndTar(t, sealStream(t, recipients3(t), sm, 20000, files...), sm, files)
	})
}

// stockAgeAndTar decrypts object with the stock age CLI piped into tar x,
// and compares what it extracts with m and files.
func stockAgeAndTar(t *testing.T, object []byte, m *crypto.Manifest, files []file) {
	ageBin := stockAge(t, "age")
	if _, err := exec.LookPath("tar"); err != nil {
		t.Fatalf("tar not installed: %v", err)
	}
	dir := t.TempDir()
	keyFile := writeIdentity(t, dir, identities(t)[1])
	item := filepath.Join(dir, "item.age")
	if err := os.WriteFile(item, object, 0o600); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	dec := exec.Command(ageBin, "-d", "-i", keyFile, item)
	untar := exec.Command("tar", "-x", "-f", "-", "-C", out)
	var decErr, tarErr bytes.Buffer
	dec.Stderr, untar.Stderr = &decErr, &tarErr
	pipe, err := dec.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := dec.Run(); err != nil {
		t.Fatalf("age -d: %v: %s", err, decErr.String())
	}
	if err := untar.Wait(); err != nil {
		t.Fatalf("tar x: %v: %s", err, tarErr.String())
	}
	if tarErr.Len() > 0 || decErr.Len() > 0 {
		t.Errorf("warnings: age %q, tar %q", decErr.String(), tarErr.String())
	}

	want := map[string][]byte{}
	for i, f := range files {
		want[crypto.AttachmentPath(i, f.name)] = f.data
	}
	var got []string
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		got = append(got, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantNames := slices.Sorted(func(yield func(string) bool) {
		yield(crypto.ManifestName)
		for k := range want {
			if !yield(k) {
				return
			}
		}
	})
	slices.Sort(got)
	if !slices.Equal(got, wantNames) {
		t.Fatalf("tar x extracted %q, want %q", got, wantNames)
	}
	for name, data := range want {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, data) {
			t.Errorf("%s: %d bytes extracted differ from the %d written", name, len(b), len(data))
		}
		st, _ := os.Stat(filepath.Join(out, name))
		if st.ModTime().Unix() != 0 {
			t.Errorf("%s: extracted with mtime %v, want the epoch", name, st.ModTime())
		}
	}
	mj, err := os.ReadFile(filepath.Join(out, crypto.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	var gotM crypto.Manifest
	if err := json.Unmarshal(mj, &gotM); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if err := gotM.Validate(); err != nil {
		t.Errorf("extracted manifest.json: %v", err)
	}
	if g, w := mustJSON(t, &gotM), mustJSON(t, m); g != w {
		t.Errorf("extracted manifest.json differs:\n got %.400s\nwant %.400s", g, w)
	}
	for _, p := range []string{filepath.Join(dir, "passwd"), filepath.Join(dir, "etc")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists: a name escaped the output directory", p)
		}
	}
}

// Files the stock age CLI encrypts to keys made by our keygen, hybrid or
// classic, open with our identity files; age-keygen -y reads our identity
// files and finds the same public key.
func TestInteropStockAgeEncrypts(t *testing.T) {
	ageBin, keygenBin := stockAge(t, "age"), stockAge(t, "age-keygen")
	for _, classic := range []bool{false, true} {
		id, err := crypto.GenerateIdentity(classic)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		keyFile := writeIdentity(t, dir, id)

		pub, err := exec.Command(keygenBin, "-y", keyFile).Output()
		if err != nil {
			t.Fatalf("age-keygen -y on our identity file: %v", err)
		}
		if strings.TrimSpace(string(pub)) != id.Recipient {
			t.Errorf("age-keygen -y gives %.30s…, we wrote %.30s…", pub, id.Recipient)
		}
		kf, _ := os.Open(keyFile)
		if got := crypto.PublicKeysInIdentityFile(kf); !slices.Equal(got, []string{id.Recipient}) {
			t.Errorf("PublicKeysInIdentityFile = %.40q", got)
		}
		kf.Close()
		prefix, secret := "age1pq1", "AGE-SECRET-KEY-PQ-1"
		if classic {
			prefix, secret = "age1", "AGE-SECRET-KEY-1"
		}
		if !strings.HasPrefix(id.Secret, secret) || classic == strings.HasPrefix(id.Recipient, "age1pq1") {
			t.Errorf("classic=%v: keys %.20s… %.12s…", classic, id.Secret, id.Recipient)
		}
		if !strings.HasPrefix(id.Recipient, prefix) {
			t.Errorf("classic=%v: public key %.12s…", classic, id.Recipient)
		}

		// A whole envelope (our plaintext), re-encrypted by the stock CLI
		// to our public key through a recipients file.
		files := hostileFiles()[:4]
		pt := decrypt(t, seal(t, recipients3(t), manifestFor(sampleAnswers(), files...), files...), identities(t)[0])
		rfile := filepath.Join(dir, "recipients.txt")
		os.WriteFile(rfile, []byte("# investigator\n"+id.Recipient+"\n"), 0o600)
		enc := exec.Command(ageBin, "-e", "-R", rfile)
		enc.Stdin = bytes.NewReader(pt)
		ct, err := enc.Output()
		if err != nil {
			t.Fatalf("age -e -R: %v", err)
		}
		kf, _ = os.Open(keyFile)
		ids, err := crypto.ParseIdentities(kf)
		kf.Close()
		if err != nil {
			t.Fatal(err)
		}
		r, err := crypto.OpenEnvelope(bytes.NewReader(ct), ids...)
		if err != nil {
			t.Fatalf("classic=%v: OpenEnvelope of a stock age file: %v", classic, err)
		}
		_, data, err := readAll(r)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range files {
			if !bytes.Equal(data[i], f.data) {
				t.Errorf("attachment %d differs", i)
			}
		}

		// And plain bytes, with -r and armor.
		msg := []byte(textOf(70_000))
		enc = exec.Command(ageBin, "-a", "-r", id.Recipient)
		enc.Stdin = bytes.NewReader(msg)
		ct, err = enc.Output()
		if err != nil {
			t.Fatalf("age -a -r: %v", err)
		}
		ar, err := age.Decrypt(armorReader(ct), id.AgeIdentity())
		if err != nil {
			t.Fatalf("decrypting the stock CLI's output: %v", err)
		}
		got, err := io.ReadAll(ar)
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("classic=%v: stock age → our identity: %d bytes, err %v", classic, len(got), err)
		}
	}
}

func armorReader(b []byte) io.Reader { return armor.NewReader(bytes.NewReader(b)) }
