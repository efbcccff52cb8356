package main

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strings"
)

// A photo can say where it was taken. Originals are evidence and stay as
// the witness sent them; for reading and sharing, open makes a working copy
// of each JPEG and PNG with its metadata removed, and says what it found.

// stripResult says what a working copy lost.
type stripResult struct {
	Format   string   // "JPEG" or "PNG"
	GPS      bool     // the original holds GPS data
	Stripped []string // what was removed, e.g. "EXIF", "XMP", "comment"
}

var errNotImage = errors.New("not a JPEG or PNG")

// imageFormat tells JPEG and PNG by their first bytes.
func imageFormat(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return "JPEG"
	case bytes.HasPrefix(head, pngSignature):
		return "PNG"
	}
	return ""
}

// stripImage writes to w a copy of the image src without its metadata.
func stripImage(w io.Writer, src []byte) (stripResult, error) {
	switch imageFormat(src) {
	case "JPEG":
		return stripJPEG(w, src)
	case "PNG":
		return stripPNG(w, src)
	}
	return stripResult{}, errNotImage
}

// stripJPEG keeps only the segments a decoder needs and that hold no
// description of the photo: the frame headers (SOFn), the tables (DHT,
// DQT, DAC, DRI, DNL), the scans with their data and restart markers, and
// the end of image. APP0 stays as a bare JFIF header (its pixel density
// and aspect; a thumbnail or anything else in it goes), APP14 only as
// Adobe's 12-byte colour-transform header (CMYK photos need it). Every
// other segment (EXIF, XMP, ICC profiles, maker data, comments, segments
// this code does not know) and anything after the end of image (phones
// append videos and maker data there) is dropped, and searched for GPS
// data first. An allow-list, since a deny-list misses EXIF hidden in APP0
// or a private segment.
func stripJPEG(w io.Writer, src []byte) (stripResult, error) {
	res := stripResult{Format: "JPEG"}
	if len(src) < 4 || src[0] != 0xFF || src[1] != 0xD8 {
		return res, errors.New("JPEG: no start of image")
	}
	gps := newGPSSearch()
	drop := func(what string, data []byte) {
		res.Stripped = appendOnce(res.Stripped, what)
		if gps.has(data) {
			res.GPS = true
		}
	}
	out := bytes.NewBuffer(make([]byte, 0, len(src)))
	out.Write(src[:2])
	p := 2
	for {
		if p+2 > len(src) {
			return res, errors.New("JPEG: ends before the end of image")
		}
		if src[p] != 0xFF {
			return res, fmt.Errorf("JPEG: no marker at byte %d", p)
		}
		marker := src[p+1]
		if marker == 0xFF { // fill byte
			p++
			continue
		}
		if marker >= 0xD0 && marker <= 0xD7 { // restart: no length
			out.Write(src[p : p+2])
			p += 2
			continue
		}
		if marker == 0x01 || marker == 0xD8 { // TEM, a second SOI: no length
			res.Stripped = appendOnce(res.Stripped, fmt.Sprintf("marker 0x%02X", marker))
			p += 2
			continue
		}
		if marker == 0xD9 { // end of image
			out.Write(src[p : p+2])
			if p+2 < len(src) {
				drop("data after the image", src[p+2:])
				// A phone's trailer (a motion photo's video, maker data)
				// has its own formats: any "GPS" in it counts.
				if bytes.Contains(src[p+2:], []byte("GPS")) {
					res.GPS = true
				}
			}
			break
		}
		if p+4 > len(src) {
			return res, errors.New("JPEG: truncated segment")
		}
		n := int(binary.BigEndian.Uint16(src[p+2:]))
		if n < 2 || p+2+n > len(src) {
			return res, fmt.Errorf("JPEG: bad segment length at byte %d", p)
		}
		seg := src[p : p+2+n]
		body := seg[4:]
		switch {
		case jpegKeep(marker):
			out.Write(seg)
		case marker == 0xE0 && bytes.HasPrefix(body, []byte("JFIF\x00")) && len(body) >= 14:
			// The header alone, without a thumbnail: its last two bytes
			// are the thumbnail's width and height.
			out.Write([]byte{0xFF, 0xE0, 0, 16})
			out.Write(body[:12])
			out.Write([]byte{0, 0})
			if len(body) > 14 || body[12] != 0 || body[13] != 0 {
				drop("thumbnail", body[12:])
			}
		case marker == 0xEE && len(body) == 12 && bytes.HasPrefix(body, []byte("Adobe")):
			out.Write(seg)
		case marker == 0xE1 && bytes.HasPrefix(body, []byte("Exif\x00")):
			drop("EXIF", body)
		case marker == 0xE1 && bytes.HasPrefix(body, []byte("http://ns.adobe.com/")):
			drop("XMP", body)
		case marker == 0xE2 && bytes.HasPrefix(body, []byte("ICC_PROFILE\x00")):
			drop("ICC profile", body)
		case marker >= 0xE0 && marker <= 0xEF:
			drop(fmt.Sprintf("APP%d", marker-0xE0), body)
		case marker == 0xFE:
			drop("comment", body)
		default:
			drop(fmt.Sprintf("segment 0x%02X", marker), body)
		}
		p += 2 + n
		if marker == 0xDA { // start of scan: entropy-coded data up to the next marker
			q := p
			for q+1 < len(src) && (src[q] != 0xFF || src[q+1] == 0x00 || (src[q+1] >= 0xD0 && src[q+1] <= 0xD7)) {
				q++
			}
			if q+1 >= len(src) {
				return res, errors.New("JPEG: image data without an end")
			}
			out.Write(src[p:q])
			p = q
		}
	}
	_, err := w.Write(out.Bytes())
	return res, err
}

// jpegKeep reports the segments a working copy keeps as they are: frame
// headers SOF0–SOF15 (but 0xC4, 0xC8 and 0xCC, which are not frames),
// DHT, DAC, DQT, DRI, DNL and SOS. They hold numbers and tables, no text.
func jpegKeep(marker byte) bool {
	switch marker {
	case 0xC4, 0xCC, 0xDB, 0xDD, 0xDC, 0xDA: // DHT, DAC, DQT, DRI, DNL, SOS
		return true
	case 0xC8: // JPG, reserved
		return false
	}
	return marker >= 0xC0 && marker <= 0xCF
}

// gpsSearch searches data a working copy drops for GPS data: an EXIF
// TIFF structure with a GPS IFD (after "Exif\0\0", or wherever a TIFF
// header starts), XMP's GPS properties, and the same inside zlib streams
// (PNG's compressed text chunks, zxIf). It looks, it does not parse
// everything: the working copy drops the data whatever it finds.
//
// What it inflates is bounded per image, so that a file of many small
// zlib bombs cannot make open slow; once the bound is spent, what is left
// unsearched counts as holding GPS data: "GPS present: yes" is the
// careful answer when we cannot tell.
type gpsSearch struct {
	inflate int64 // bytes it may still inflate
}

// gpsInflateMax bounds what one image's search inflates.
const gpsInflateMax = 64 << 20

func newGPSSearch() *gpsSearch { return &gpsSearch{inflate: gpsInflateMax} }

func (g *gpsSearch) has(data []byte) bool { return g.hasDepth(data, 0) }

func (g *gpsSearch) hasDepth(data []byte, depth int) bool {
	if xmpHasGPS(data) || exifHasGPS(data) {
		return true
	}
	for _, magic := range [][]byte{[]byte("II\x2a\x00"), []byte("MM\x00\x2a")} {
		rest, off := data, 0
		for range 32 { // a few candidates, not every byte of a video
			i := bytes.Index(rest, magic)
			if i < 0 {
				break
			}
			if exifHasGPS(data[off+i:]) {
				return true
			}
			rest, off = rest[i+1:], off+i+1
		}
	}
	if depth > 0 {
		return false
	}
	// A zlib stream starts with 0x78 and a check byte; look for one near
	// the start (after a chunk's keyword and flags), inflating a few.
	tries := 0
	for i := 0; i+2 <= len(data) && i < 128 && tries < 4; i++ {
		if data[i] != 0x78 || (uint16(data[i])<<8|uint16(data[i+1]))%31 != 0 {
			continue
		}
		zr, err := zlib.NewReader(bytes.NewReader(data[i:]))
		if err != nil {
			continue
		}
		tries++
		if g.inflate <= 0 {
			return true
		}
		inflated, _ := io.ReadAll(io.LimitReader(zr, min(g.inflate, 4<<20)))
		g.inflate -= int64(len(inflated))
		if len(inflated) > 0 && g.hasDepth(inflated, depth+1) {
			return true
		}
	}
	return false
}

// exifHasGPS reports whether a TIFF structure (the EXIF payload) has a
// GPS IFD pointer in its first IFD.
func exifHasGPS(tiff []byte) bool {
	if len(tiff) < 8 {
		return false
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return false
	}
	off := int(bo.Uint32(tiff[4:]))
	if off < 8 || off+2 > len(tiff) {
		return false
	}
	n := int(bo.Uint16(tiff[off:]))
	for i := range n {
		e := off + 2 + 12*i
		if e+12 > len(tiff) {
			return false
		}
		if bo.Uint16(tiff[e:]) == 0x8825 {
			return true
		}
	}
	return false
}

func xmpHasGPS(b []byte) bool {
	return bytes.Contains(b, []byte("exif:GPS")) || bytes.Contains(b, []byte("GPSLatitude"))
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// pngKeep are the chunks a working copy keeps, with the length each must
// have (0: any, for image data): what a decoder needs to draw the image
// and its colours, and APNG's frames, all numbers or pixels. Every other
// chunk (text, XMP, eXIf, zxIf, tIME, the ICC profile with its free-text
// description, C2PA's caBX, private chunks) is dropped and searched for GPS
// data first. An allow-list, since a deny-list misses EXIF in a chunk it
// does not name.
var pngKeep = map[string]struct{ min, max int }{
	"IHDR": {13, 13}, "PLTE": {3, 768}, "IDAT": {0, math.MaxInt32}, "IEND": {0, 0},
	"tRNS": {1, 256}, "gAMA": {4, 4}, "cHRM": {32, 32}, "sRGB": {1, 1}, "sBIT": {1, 4},
	"bKGD": {1, 6}, "pHYs": {9, 9},
	"acTL": {8, 8}, "fcTL": {26, 26}, "fdAT": {4, math.MaxInt32},
}

// pngNames are the names the page gives the chunks it drops most often.
var pngNames = map[string]string{"tEXt": "text", "zTXt": "text", "iTXt": "text", "eXIf": "EXIF",
	"zxIf": "EXIF", "tIME": "time", "iCCP": "ICC profile"}

var pngChunkIEND = []byte("\x00\x00\x00\x00IEND\xaeB`\x82")

// stripPNG keeps only the chunks of pngKeep, and nothing after IEND.
func stripPNG(w io.Writer, src []byte) (stripResult, error) {
	res := stripResult{Format: "PNG"}
	gps := newGPSSearch()
	drop := func(what string, data []byte) {
		res.Stripped = appendOnce(res.Stripped, what)
		if gps.has(data) {
			res.GPS = true
		}
	}
	out := bytes.NewBuffer(make([]byte, 0, len(src)))
	out.Write(pngSignature)
	p := len(pngSignature)
	for {
		if p+12 > len(src) {
			return res, errors.New("PNG: truncated chunk")
		}
		n := int(binary.BigEndian.Uint32(src[p:]))
		if n < 0 || n > len(src)-p-12 {
			return res, fmt.Errorf("PNG: bad chunk length at byte %d", p)
		}
		typ := string(src[p+4 : p+8])
		data := src[p+8 : p+8+n]
		chunk := src[p : p+12+n]
		if crc32.ChecksumIEEE(src[p+4:p+8+n]) != binary.BigEndian.Uint32(src[p+8+n:]) {
			return res, fmt.Errorf("PNG: bad checksum in chunk %q", typ)
		}
		keep, known := pngKeep[typ]
		switch {
		case known && n >= keep.min && n <= keep.max:
			out.Write(chunk)
		case typ == "iTXt" && bytes.HasPrefix(data, []byte("XML:com.adobe.xmp\x00")):
			drop("XMP", data)
		case pngNames[typ] != "":
			drop(pngNames[typ], data)
		default:
			drop(fmt.Sprintf("%q chunk", typ), data)
		}
		p += 12 + n
		if typ == "IEND" {
			if n != 0 { // dropped: end the copy with a proper one
				out.Write(pngChunkIEND)
			}
			break
		}
	}
	if p < len(src) {
		drop("data after the image", src[p:])
	}
	_, err := w.Write(out.Bytes())
	return res, err
}

// cleanName is the name of the working copy of an attachment file:
// "01-photo.jpg" gives "01-photo.clean.jpg".
func cleanName(file, format string) string {
	ext := ".jpg"
	if format == "PNG" {
		ext = ".png"
	}
	base := file
	if i := strings.LastIndexByte(file, '.'); i > 0 {
		base = file[:i]
	}
	return base + ".clean" + ext
}
