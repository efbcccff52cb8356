package crypto

import (
	"bytes"
	"encoding/json"
	"testing"
)

// encodeManifest writes the bytes that encoding a Manifest with
// Answer.MarshalJSON writes: manifest.json did not change when the
// envelope stopped going through the method.
func TestEncodeManifestAsBefore(t *testing.T) {
	for _, m := range []*Manifest{
		{Format: Format, Kind: KindSubmission, Day: "2026-01-02", Answers: map[string]Answer{}, Attachments: []Attachment{}},
		{Format: Format, Kind: KindFollowup, Day: "2026-01-02", Lang: "ru", Form: FormRef{"f", 2},
			Answers: map[string]Answer{
				"account": TextAnswer("Нас <заковали> & \"везли\"\n\tв\u2028кандалах \x00 \xff"),
				"empty":   TextAnswer(""),
				"multi":   ListAnswer("a<b", "c&d"),
				"none":    ListAnswer(),
				"nil":     {IsList: true},
			},
			Attachments: []Attachment{{Name: "фото <1>.jpg", Size: 3, SHA256: "ab", Type: "image/jpeg"}}},
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
		got, err := encodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("encodeManifest:\n%s\nwant:\n%s", got, want.Bytes())
		}
	}
}
