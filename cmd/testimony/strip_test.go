package main

import (
	"bytes"
	"testing"
)

// FuzzStripImage: whatever the bytes, stripping never panics, and a
// working copy it makes is a fixed point (stripping it again removes
// nothing and finds no GPS) — so no metadata survives in it.
func FuzzStripImage(f *testing.F) {
	f.Add(gpsJPEG(&testing.T{}))
	f.Add(gpsPNG(&testing.T{}))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x02, 0xFF, 0xDA, 0x00, 0x02})
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x00IEND\xaeB`\x82"))
	f.Fuzz(func(t *testing.T, src []byte) {
		var out bytes.Buffer
		if _, err := stripImage(&out, src); err != nil {
			return
		}
		var again bytes.Buffer
		res, err := stripImage(&again, out.Bytes())
		if err != nil {
			t.Fatalf("the working copy does not parse: %v", err)
		}
		if len(res.Stripped) != 0 || res.GPS {
			t.Fatalf("the working copy still holds %v (GPS %v)", res.Stripped, res.GPS)
		}
		if !bytes.Equal(again.Bytes(), out.Bytes()) {
			t.Fatal("stripping a working copy changed it")
		}
	})
}

func TestStripFindsGPS(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src      []byte
		stripped []string
	}{
		{"jpeg", gpsJPEG(t), []string{"EXIF", "XMP", "comment"}},
		{"png", gpsPNG(t), []string{"text", "EXIF"}},
		{"jpeg with a trailer", append(gpsJPEGWithout(t), "MotionPhoto_Data ftypmp4 GPS 55.75 37.61"...), []string{"data after the image"}},
	} {
		var out bytes.Buffer
		res, err := stripImage(&out, tc.src)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !res.GPS {
			t.Errorf("%s: GPS not found", tc.name)
		}
		if !equalStrings(res.Stripped, tc.stripped) {
			t.Errorf("%s: stripped %v, want %v", tc.name, res.Stripped, tc.stripped)
		}
	}
	// Without GPS: says so.
	var out bytes.Buffer
	res, err := stripImage(&out, gpsJPEGWithout(t))
	if err != nil || res.GPS {
		t.Errorf("a JPEG without GPS: GPS %v, %v", res.GPS, err)
	}
}

func gpsJPEGWithout(t *testing.T) []byte {
	var out bytes.Buffer
	if _, err := stripImage(&out, gpsJPEG(t)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
