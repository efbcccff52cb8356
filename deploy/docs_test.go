package deploy_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"testimony/internal/testutil"
)

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocsStockAgeVersion: wherever the stock "age -d … | tar x" is shown,
// the text next to it says it needs age 1.3 or later. Debian 12's age
// 1.1.1 cannot read the post-quantum identities testimony keygen makes,
// and fails with a message that does not say why.
func TestDocsStockAgeVersion(t *testing.T) {
	near := func(what, text string) {
		t.Helper()
		found := false
		for _, loc := range regexp.MustCompile(`age -d -i`).FindAllStringIndex(text, -1) {
			found = true
			lo, hi := max(0, loc[0]-300), min(len(text), loc[1]+400)
			if !strings.Contains(text[lo:hi], "1.3") {
				t.Errorf("%s shows age -d without saying it needs age 1.3 or later:\n%s", what, text[lo:hi])
			}
		}
		if !found {
			t.Errorf("%s no longer shows age -d: update this test", what)
		}
	}
	near("README.md", readRepoFile(t, "README.md"))
	near("crypto/doc.go", readRepoFile(t, "crypto/doc.go"))

	// The item page: the text is a translation key on the same line.
	page := readRepoFile(t, "server/investigator/templates/investigator/item.html")
	locales, _ := filepath.Glob("../server/web/locales/investigator.*.json")
	if len(locales) == 0 {
		t.Fatal("no investigator locales")
	}
	found := false
	for l := range strings.Lines(page) {
		if !strings.Contains(l, "age -d") {
			continue
		}
		found = true
		keys := regexp.MustCompile(`\{\{t "([^"]+)"\}\}`).FindAllStringSubmatch(l, -1)
		for _, f := range locales {
			var m map[string]string
			if err := json.Unmarshal([]byte(readRepoFile(t, strings.TrimPrefix(f, "../"))), &m); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			said := false
			for _, k := range keys {
				said = said || strings.Contains(m[k[1]], "1.3")
			}
			if !said {
				t.Errorf("%s: the item page's line %q does not say age 1.3 or later in %v", filepath.Base(f), strings.TrimSpace(l), keys)
			}
		}
	}
	if !found {
		t.Error("the item page no longer shows age -d: update this test")
	}
}

// TestDocsInvestigatorAdd: the README's deploy block, deploy/README.md and
// the package's "next steps" all name "testimonyd investigator add", each
// with a recipient (the command refuses to run without one) and only flags
// the command has.
func TestDocsInvestigatorAdd(t *testing.T) {
	bin := testutil.Testimonyd(t)
	usage, _ := exec.Command(bin, "investigator", "--help").CombinedOutput()
	if !strings.Contains(string(usage), "--recipient-file") {
		t.Fatalf("testimonyd investigator --help:\n%s", usage)
	}
	readme := readRepoFile(t, "README.md")
	deployBlock := regexp.MustCompile("(?s)## Deploy on Debian.*?```sh\n(.*?)```").FindStringSubmatch(readme)
	if deployBlock == nil {
		t.Fatal("README.md has no deploy block")
	}
	for what, text := range map[string]string{
		"README.md's deploy block": deployBlock[1],
		"deploy/README.md":         readRepoFile(t, "deploy/README.md"),
		"deploy/debian/postinst":   readRepoFile(t, "deploy/debian/postinst"),
	} {
		// A command continued with "\" is one line.
		text = strings.ReplaceAll(text, "\\\n", " ")
		lines := regexp.MustCompile(`testimonyd investigator add .*`).FindAllString(text, -1)
		if len(lines) == 0 {
			t.Errorf("%s does not say \"testimonyd investigator add\"", what)
		}
		for _, l := range lines {
			l, _, _ = strings.Cut(l, "#")
			if !strings.Contains(l, "--recipient") {
				t.Errorf("%s: %q has no --recipient-file or --recipient", what, l)
			}
			for _, fl := range regexp.MustCompile(`--[a-z-]+`).FindAllString(l, -1) {
				if !regexp.MustCompile(`(^|[\s\[])` + fl + `\b`).Match(usage) {
					t.Errorf("%s: %q uses %s, which investigator add does not have:\n%s", what, l, fl, usage)
				}
			}
		}
	}
}
