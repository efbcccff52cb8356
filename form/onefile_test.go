package form

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneQuestionnaireFile: the questionnaire is defined once, in
// form/default.json, for the witness site and the offline tool alike. A
// copy anywhere else in the module (the tool had one, kept in step by
// hand) could drift from what witnesses answered, so any other JSON file
// that defines a form with the default's id fails the test.
func TestOneQuestionnaireFile(t *testing.T) {
	def := Default()
	var copies []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var ref struct {
			ID       string          `json:"id"`
			Sections json.RawMessage `json:"sections"`
		}
		if json.Unmarshal(b, &ref) == nil && ref.ID == def.ID && len(ref.Sections) > 0 {
			copies = append(copies, filepath.ToSlash(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(copies) != 1 || copies[0] != "../form/default.json" {
		t.Errorf("the questionnaire %q is defined in %v; want only form/default.json", def.ID, copies)
	}
	if b, _ := os.ReadFile("default.json"); !bytes.Equal(b, DefaultJSON()) {
		t.Error("DefaultJSON is not default.json")
	}
}
