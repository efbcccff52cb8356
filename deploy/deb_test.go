package deploy_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// makeDeb runs "make deb" into dist with the environment env and returns
// the package and the SBOMs it printed.
func makeDeb(t *testing.T, dist string, env []string) (deb string, sboms []string) {
	t.Helper()
	cmd := exec.Command("make", "-C", "..", "deb", "DIST="+dist)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	for l := range strings.Lines(string(out)) {
		l = strings.TrimSpace(l)
		if strings.Contains(l, " ") {
			continue
		}
		switch {
		case strings.HasSuffix(l, ".deb"):
			deb = l
		case strings.HasSuffix(l, ".cdx.json"):
			sboms = append(sboms, l)
		}
	}
	if deb == "" {
		t.Fatalf("make deb did not name a package:\n%s", out)
	}
	return deb, sboms
}

// TestDebReproducible: "make deb" run twice, into two directories, with
// nothing set by the caller, gives byte-identical packages and SBOMs. The
// time in the package is the last commit's; the SBOM (CycloneDX JSON) of
// each binary lies beside the package; the "dpkg -i" lines of the READMEs
// name the file make deb writes.
func TestDebReproducible(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	need(t, "make", "make")
	need(t, "git", "git")
	// Nothing from the caller: no SOURCE_DATE_EPOCH, the usual umask of a
	// sysadmin's shell is the test's own.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=") })
	debA, sbomsA := makeDeb(t, t.TempDir(), env)
	debB, sbomsB := makeDeb(t, t.TempDir(), env)

	if filepath.Base(debA) != filepath.Base(debB) {
		t.Fatalf("two builds named %s and %s", debA, debB)
	}
	a, _ := os.ReadFile(debA)
	b, _ := os.ReadFile(debB)
	if len(a) == 0 || !bytes.Equal(a, b) {
		// Say where: the file lists (modes, owners, times, order) and the
		// control files.
		for _, args := range [][]string{{"-c"}, {"-I"}} {
			la, _ := exec.Command("dpkg-deb", append(args, debA)...).Output()
			lb, _ := exec.Command("dpkg-deb", append(args, debB)...).Output()
			if !bytes.Equal(la, lb) {
				t.Errorf("dpkg-deb %s differs:\n%s\n---\n%s", args[0], la, lb)
			}
		}
		t.Fatalf("make deb twice gave different packages (%d and %d bytes)", len(a), len(b))
	}

	// Every entry carries the last commit's time, not the build's.
	ct, err := exec.Command("git", "log", "-1", "--format=%ct").Output()
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := strconv.ParseInt(strings.TrimSpace(string(ct)), 10, 64)
	stamp := time.Unix(sec, 0).UTC().Format("2006-01-02 15:04")
	cmd := exec.Command("dpkg-deb", "-c", debA)
	cmd.Env = append(env, "TZ=UTC")
	list, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(list)) {
		if !strings.Contains(l, " "+stamp+" ") {
			t.Errorf("an entry not dated %s (the last commit): %s", stamp, strings.TrimSpace(l))
		}
	}

	// The SBOMs: one per binary, CycloneDX JSON, naming what is linked in.
	if len(sbomsA) != 2 || len(sbomsB) != 2 {
		t.Fatalf("make deb wrote SBOMs %v and %v, want one per binary", sbomsA, sbomsB)
	}
	for i, p := range sbomsA {
		if filepath.Dir(p) != filepath.Dir(debA) || !strings.HasPrefix(filepath.Base(p), strings.TrimSuffix(filepath.Base(debA), ".deb")+".") {
			t.Errorf("SBOM %s is not beside %s, named after it", p, debA)
		}
		ja, _ := os.ReadFile(p)
		jb, _ := os.ReadFile(sbomsB[i])
		if !bytes.Equal(ja, jb) {
			t.Errorf("the SBOM %s differs between two builds", filepath.Base(p))
		}
		var bom struct {
			BOMFormat string `json:"bomFormat"`
			Metadata  struct {
				Component struct{ Name, Version string }
			}
			Components []struct{ Name, Version, Purl string }
		}
		if err := json.Unmarshal(ja, &bom); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var names []string
		for _, c := range bom.Components {
			names = append(names, c.Name+"@"+c.Version)
		}
		if bom.BOMFormat != "CycloneDX" || !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "filippo.io/age@v") }) {
			t.Errorf("%s: format %q, components %v: want CycloneDX naming filippo.io/age", filepath.Base(p), bom.BOMFormat, names)
		}
		t.Logf("%s: %s %s, %d components", filepath.Base(p), bom.Metadata.Component.Name, bom.Metadata.Component.Version, len(names))
	}
	// The READMEs' "dpkg -i" lines name this file under make's default DIST.
	got := "dist/" + filepath.Base(debA)
	for _, doc := range []string{"README.md", "deploy/README.md"} {
		m := regexp.MustCompile(`dpkg -i (\S+)`).FindAllStringSubmatch(readRepoFile(t, doc), -1)
		if m == nil {
			t.Errorf("%s has no dpkg -i line", doc)
		}
		for _, g := range m {
			if ok, _ := filepath.Match(g[1], got); !ok {
				t.Errorf("%s says dpkg -i %s, make deb writes %s", doc, g[1], got)
			}
		}
	}
}
