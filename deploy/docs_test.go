package deploy_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
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

// TestDesignWalk: docs/design.md's "Follow a submission" walks a POST
// /submit through at most six files, and every file and Go name it gives
// exists: a name without a package is declared in one of the six files, a
// name with one ("crypto.NewCodename", "form.Form.Validate") in that
// package. A rename that the walk does not follow fails here.
func TestDesignWalk(t *testing.T) {
	doc := readRepoFile(t, "docs/design.md")
	start := strings.Index(doc, "\n## Follow a submission\n")
	if start < 0 {
		t.Fatal(`docs/design.md has no "## Follow a submission" section`)
	}
	sec := doc[start+1:]
	if end := strings.Index(sec[3:], "\n## "); end >= 0 {
		sec = sec[:end+3]
	}

	var files []string
	seen := map[string]bool{}
	for _, f := range regexp.MustCompile(`[\w/]+\.go\b`).FindAllString(sec, -1) {
		if strings.HasSuffix(f, "_test.go") || seen[f] {
			continue
		}
		seen[f] = true
		files = append(files, f)
	}
	if len(files) > 6 {
		t.Errorf("the walk names %d files, more than six: %v", len(files), files)
	}
	if len(files) < 4 {
		t.Fatalf("the walk names %d files (%v): the check saw too little", len(files), files)
	}
	local := map[string]bool{}
	for _, f := range files {
		declaredIn(t, local, filepath.Join("..", f))
	}

	pkgDirs := map[string]string{"web": "server/web", "witness": "server/witness", "crypto": "crypto",
		"form": "form", "records": "records", "store": "store", "bundle": "bundle"}
	pkgs := map[string]map[string]bool{}
	ident := regexp.MustCompile(`^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$`)
	checked := 0
	for _, m := range regexp.MustCompile("`([^`\n]+)`").FindAllStringSubmatch(sec, -1) {
		name := strings.TrimSuffix(strings.TrimPrefix(m[1], "*"), "()")
		if !ident.MatchString(name) {
			continue // a path, a method and route, a command
		}
		parts := strings.Split(name, ".")
		if parts[0] == "http" {
			continue // the standard library
		}
		decls := local
		if dir, ok := pkgDirs[parts[0]]; ok && len(parts) > 1 {
			if pkgs[parts[0]] == nil {
				pkgs[parts[0]] = map[string]bool{}
				paths, _ := filepath.Glob(filepath.Join("..", dir, "*.go"))
				for _, p := range paths {
					if !strings.HasSuffix(p, "_test.go") {
						declaredIn(t, pkgs[parts[0]], p)
					}
				}
			}
			decls, name = pkgs[parts[0]], strings.Join(parts[1:], ".")
		}
		checked++
		if !decls[name] {
			t.Errorf("the walk names %q, which is not declared where it says", m[1])
		}
	}
	if checked < 40 {
		t.Errorf("the walk named only %d Go names: the check saw too little", checked)
	}
}

// declaredIn adds to names what the Go file path declares: functions,
// types, constants and variables by name, methods and struct fields as
// "Type.name" and by name.
func declaredIn(t *testing.T, names map[string]bool, path string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("the walk names %s: %v", path, err)
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			names[d.Name.Name] = true
			if d.Recv != nil && len(d.Recv.List) == 1 {
				typ := d.Recv.List[0].Type
				if s, ok := typ.(*ast.StarExpr); ok {
					typ = s.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					names[id.Name+"."+d.Name.Name] = true
				}
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					names[s.Name.Name] = true
					if st, ok := s.Type.(*ast.StructType); ok {
						for _, fl := range st.Fields.List {
							for _, n := range fl.Names {
								names[n.Name] = true
								names[s.Name.Name+"."+n.Name] = true
							}
						}
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						names[n.Name] = true
					}
				}
			}
		}
	}
}
