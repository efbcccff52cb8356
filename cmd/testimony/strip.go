package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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

// stripJPEG drops the APP1…APP15 and COM segments (EXIF, XMP, ICC, maker
// data, comments) wherever they are, and anything after the end of the
// image (phones append videos and maker data there); APP0 (JFIF), the
// tables and the image data stay as they are.
func stripJPEG(w io.Writer, src []byte) (stripResult, error) {
	res := stripResult{Format: "JPEG"}
	if len(src) < 4 || src[0] != 0xFF || src[1] != 0xD8 {
		return res, errors.New("JPEG: no start of image")
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
		if marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7) { // no length
			out.Write(src[p : p+2])
			p += 2
			continue
		}
		if marker == 0xD9 { // end of image
			out.Write(src[p : p+2])
			if p+2 < len(src) {
				res.Stripped = appendOnce(res.Stripped, "data after the image")
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
		case marker == 0xE1:
			switch {
			case bytes.HasPrefix(body, []byte("Exif\x00")):
				res.Stripped = appendOnce(res.Stripped, "EXIF")
				if len(body) >= 6 && exifHasGPS(body[6:]) {
					res.GPS = true
				}
			case bytes.HasPrefix(body, []byte("http://ns.adobe.com/")):
				res.Stripped = appendOnce(res.Stripped, "XMP")
				if xmpHasGPS(body) {
					res.GPS = true
				}
			default:
				res.Stripped = appendOnce(res.Stripped, "APP1")
			}
		case marker == 0xE2 && bytes.HasPrefix(body, []byte("ICC_PROFILE\x00")):
			res.Stripped = appendOnce(res.Stripped, "ICC profile")
		case marker >= 0xE2 && marker <= 0xEF:
			res.Stripped = appendOnce(res.Stripped, fmt.Sprintf("APP%d", marker-0xE0))
		case marker == 0xFE:
			res.Stripped = appendOnce(res.Stripped, "comment")
		default:
			out.Write(seg)
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

// stripPNG drops the text chunks (tEXt, zTXt, iTXt, which also carry XMP),
// eXIf and tIME, and keeps every other chunk as it is.
func stripPNG(w io.Writer, src []byte) (stripResult, error) {
	res := stripResult{Format: "PNG"}
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
		switch typ {
		case "tEXt", "zTXt", "iTXt":
			if typ == "iTXt" && bytes.HasPrefix(data, []byte("XML:com.adobe.xmp\x00")) {
				res.Stripped = appendOnce(res.Stripped, "XMP")
			} else {
				res.Stripped = appendOnce(res.Stripped, "text")
			}
			if xmpHasGPS(data) {
				res.GPS = true
			}
		case "eXIf":
			res.Stripped = appendOnce(res.Stripped, "EXIF")
			if exifHasGPS(data) {
				res.GPS = true
			}
		case "tIME":
			res.Stripped = appendOnce(res.Stripped, "time")
		default:
			out.Write(chunk)
		}
		p += 12 + n
		if typ == "IEND" {
			break
		}
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
