package investigator

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// TestInvestigatorCatalogComplete: every message key the investigator
// site uses (t "…" in its templates, invText("…") and Msg: "inv.…" in its
// Go files) is in locales/investigator.en.json, and every key there is
// used.
func TestInvestigatorCatalogComplete(t *testing.T) {
	var cat map[string]string
	b, err := os.ReadFile("../web/locales/investigator.en.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cat); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	tplRE := regexp.MustCompile(`\{\{[^}]*\bt "(inv\.[a-z0-9._]+)"`)
	goRE := regexp.MustCompile(`"(inv\.[a-z0-9._]+)"`)
	fs.WalkDir(os.DirFS("."), "templates/investigator", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			src, _ := os.ReadFile(p)
			for _, m := range tplRE.FindAllSubmatch(src, -1) {
				used[string(m[1])] = true
			}
		}
		return nil
	})
	goFiles, _ := filepath.Glob("*.go")
	for _, f := range goFiles {
		src, _ := os.ReadFile(f)
		for _, m := range goRE.FindAllSubmatch(src, -1) {
			if f == "text_test.go" {
				continue
			}
			used[string(m[1])] = true
		}
	}
	// Keys built in templates: print "inv.inset." .InSet.
	for _, k := range []string{"inv.inset.yes", "inv.inset.no", "inv.inset.unknown"} {
		used[k] = true
	}
	var missing, unused []string
	for k := range used {
		if _, ok := cat[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k, v := range cat {
		if !used[k] {
			unused = append(unused, k)
		}
		if v == "" {
			t.Errorf("%s has an empty text", k)
		}
	}
	slices.Sort(missing)
	slices.Sort(unused)
	if len(missing) > 0 {
		t.Errorf("keys used but not in locales/investigator.en.json: %q", missing)
	}
	if len(unused) > 0 {
		t.Errorf("keys in locales/investigator.en.json never used: %q", unused)
	}
	if len(used) < 50 {
		t.Errorf("only %d keys found: the scan is broken", len(used))
	}
}
