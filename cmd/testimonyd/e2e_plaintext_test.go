//go:build e2e

package main

// The plaintext search (make test-plaintext): a random marker, and a
// Cyrillic one, go into every free-text answer and every attachment (its
// bytes and its file name) of submissions and a follow-up, and into an
// investigator's reply; then the service is used as it would be (login,
// reply, bundle download, the witness reading the reply), killed in the
// middle of a large upload, backed up, purged and compacted. Afterwards
// the markers' bytes are searched for in every file of the data directory
// and the backups, in the server's $TMPDIR and every /tmp entry made
// during the test, and in all the logs; any hit fails the test. A core
// dump of the running server (gcore) is searched too, and what it finds
// is logged, not failed: see TestPlaintext/memory.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/internal/testutil"
	"testimony/store"
)

// ptMarkers are the strings searched for.
type ptMarkers struct{ ascii, cyr string }

func ptNewMarkers() ptMarkers {
	var b [8]byte
	rand.Read(b[:])
	cyr := []rune("Свидетельство")
	for range 10 {
		cyr = append(cyr, 'а'+rune(mrand.IntN(32)))
	}
	return ptMarkers{ascii: "PTMARK" + hex.EncodeToString(b[:]), cyr: string(cyr)}
}

func (m ptMarkers) needles() map[string][]byte {
	return map[string][]byte{"ascii marker": []byte(m.ascii), "Cyrillic marker": []byte(m.cyr)}
}

// text is a free-text answer holding both markers.
func (m ptMarkers) text(what string) string { return what + " " + m.ascii + " — " + m.cyr }

// ptFile is an attachment whose name and bytes hold both markers.
func ptFile(m ptMarkers, n, size int) crashFile {
	var b bytes.Buffer
	noise := make([]byte, 200)
	for b.Len() < size {
		rand.Read(noise)
		b.Write(noise)
		b.WriteString(m.text("page"))
	}
	return crashFile{name: fmt.Sprintf("фото-%d-%s-%s.jpg", n, m.cyr, m.ascii), data: b.Bytes()[:size]}
}

// ptForm is a submission of the default questionnaire with both markers
// in every free-text field (the others take fixed values or dates) and
// the files attached.
func ptForm(m ptMarkers, files []crashFile) (string, []byte) {
	return multipartForm([][2]string{
		{"lang", "ru"}, {"role", "self"},
		{"facility", m.text("facility")}, {"detention_from", "2025-03"}, {"detention_to", "2025-08-20"},
		{"conditions", "overcrowding"}, {"conditions", "threats_violence"}, {"deport_date", "2025-08-27"},
		{"depart_airport", m.text("airport")}, {"transit_country", m.text("transit")}, {"arrival_airport", m.text("arrival")},
		{"flight_treatment", "shackled"}, {"arrival_questioned", "yes"}, {"arrival_detained", "no"},
		{"charges", m.text("charges")}, {"asylum_case", m.text("asylum")}, {"account", m.text("account")},
		{"consent_use", "quote_anonymised"}, {"contact", "codename_only"},
	}, formFiles(files)...)
}

var ptCodenameRE = regexp.MustCompile(`(?s)id="codename">(.*?)</p>`)

// ptCodename reads the codename off a receipt page.
func ptCodename(t *testing.T, page []byte) string {
	t.Helper()
	m := ptCodenameRE.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no codename on the receipt:\n%s", page)
	}
	words := regexp.MustCompile(`<span>([^<]+)</span>`).FindAllSubmatch(m[1], -1)
	var ws []string
	for _, w := range words {
		ws = append(ws, string(w[1]))
	}
	return strings.Join(ws, " ")
}

// ptHit is where a marker was found.
type ptHit struct {
	where, needle string
	count         int
}

// ptCount counts the needles in r, reading it in blocks with an overlap.
func ptCount(r io.Reader, needles map[string][]byte) (map[string]int, error) {
	longest := 0
	for _, n := range needles {
		longest = max(longest, len(n))
	}
	counts := map[string]int{}
	buf := make([]byte, 4<<20)
	keep := 0
	for {
		n, err := io.ReadFull(r, buf[keep:])
		data := buf[:keep+n]
		for name, nd := range needles {
			// Count only matches that end in the new bytes, so that the
			// overlap is not counted twice.
			for i := 0; ; {
				j := bytes.Index(data[i:], nd)
				if j < 0 {
					break
				}
				if i+j+len(nd) > keep {
					counts[name]++
				}
				i += j + 1
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return counts, nil
		}
		if err != nil {
			return counts, err
		}
		keep = min(longest-1, len(data))
		copy(buf, data[len(data)-keep:])
	}
}

// ptScanTree searches every regular file under root (a file or a
// directory) and returns the hits and the number of files and bytes read.
// Files that vanish while it walks are skipped: other tests share /tmp.
func ptScanTree(t *testing.T, root string, needles map[string][]byte, skip func(string) bool) (hits []ptHit, files int, size int64) {
	t.Helper()
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if skip != nil && skip(path) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		files++
		cr := &countingReader{r: f}
		counts, _ := ptCount(cr, needles)
		size += cr.n
		for name, c := range counts {
			hits = append(hits, ptHit{path, name, c})
		}
		return nil
	})
	return hits, files, size
}

func ptReport(t *testing.T, what string, hits []ptHit) {
	t.Helper()
	for _, h := range hits {
		t.Errorf("PLAINTEXT in %s: %s, %d times, in %s", what, h.needle, h.count, h.where)
	}
}

// ptMapping is one line of /proc/PID/maps.
type ptMapping struct {
	lo, hi uint64
	perms  string
	name   string
}

func ptMaps(t *testing.T, pid int) []ptMapping {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []ptMapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 {
			continue
		}
		lohi := strings.SplitN(fs[0], "-", 2)
		lo, _ := strconv.ParseUint(lohi[0], 16, 64)
		hi, _ := strconv.ParseUint(lohi[1], 16, 64)
		m := ptMapping{lo: lo, hi: hi, perms: fs[1]}
		if len(fs) > 5 {
			m.name = fs[5]
		}
		out = append(out, m)
	}
	return out
}

// ptRegion names the mapping an address lies in.
func ptRegion(maps []ptMapping, addr uint64) string {
	for _, m := range maps {
		if addr >= m.lo && addr < m.hi {
			if m.name != "" {
				return m.name
			}
			return fmt.Sprintf("anonymous %s %#x-%#x (%d MiB)", m.perms, m.lo, m.hi, (m.hi-m.lo)>>20)
		}
	}
	return "not in the maps taken before the dump"
}

// ptSource tells which of the test's inputs a copy of a marker came from,
// by the words the test put before it.
func ptSource(before []byte, ascii string) string {
	// The Cyrillic marker follows the ASCII one: look past it.
	before = bytes.TrimSuffix(before, []byte(ascii+" — "))
	for _, w := range []struct{ prefix, what string }{
		{"page ", "attachment bytes"}, {"account ", "answer"}, {"facility ", "answer"}, {"airport ", "answer"},
		{"transit ", "answer"}, {"arrival ", "answer"}, {"charges ", "answer"}, {"asylum ", "answer"},
		{"follow-up ", "follow-up message"}, {"reply ", "investigator's reply"}, {"фото-", "file name"},
		{"видео-", "file name"}, {"-", "file name"},
	} {
		if bytes.HasSuffix(before, []byte(w.prefix)) || bytes.HasSuffix(before, []byte(w.prefix[:len(w.prefix)-1]+"\u0026")) {
			return w.what
		}
	}
	return "elsewhere (re-encoded: JSON, HTML, tar header…)"
}

// ptCoreFinding is what one look at a process's memory found.
type ptCoreFinding struct {
	how      string // "gcore core dump" or "/proc/PID/mem"
	size     int64
	copies   map[string]int            // by needle
	byRegion map[string]map[string]int // needle → mapping → copies
	bySource map[string]map[string]int // needle → input → copies
}

// ptSegment is a piece of a process's memory: size bytes at vaddr, read
// from r at off.
type ptSegment struct {
	vaddr, size, off uint64
	r                io.ReaderAt
}

// ptCore dumps the memory of a running process with gcore and counts the
// needles in it, by mapping and by the input they came from. The dump is
// deleted before it returns. Where gcore cannot attach (a container
// without CAP_SYS_PTRACE), the test, the server's parent, reads its
// readable mappings from /proc/PID/mem instead: the same bytes.
func ptCore(t *testing.T, pid int, m ptMarkers) ptCoreFinding {
	t.Helper()
	maps := ptMaps(t, pid)
	res := ptCoreFinding{copies: map[string]int{}, byRegion: map[string]map[string]int{}, bySource: map[string]map[string]int{}}
	for name := range m.needles() {
		res.byRegion[name], res.bySource[name] = map[string]int{}, map[string]int{}
	}
	var segs []ptSegment
	if gcore, err := exec.LookPath("gcore"); err != nil {
		t.Logf("gcore is missing (apt-get install -y gdb): reading /proc/%d/mem", pid)
	} else {
		dir, err := os.MkdirTemp("", "pt-core-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir) // it holds plaintext
		if out, err := exec.Command(gcore, "-o", filepath.Join(dir, "core"), strconv.Itoa(pid)).CombinedOutput(); err != nil {
			t.Logf("gcore: %v (%.200s): reading /proc/%d/mem instead", err, bytes.TrimSpace(out), pid)
		} else {
			f, err := os.Open(filepath.Join(dir, "core."+strconv.Itoa(pid)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ef, err := elf.NewFile(f)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := f.Stat()
			res.how, res.size = "gcore core dump", st.Size()
			for _, p := range ef.Progs {
				if p.Type == elf.PT_LOAD && p.Filesz > 0 {
					segs = append(segs, ptSegment{vaddr: p.Vaddr, size: p.Filesz, off: p.Off, r: f})
				}
			}
		}
	}
	if res.how == "" {
		f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
		if err != nil {
			t.Fatalf("neither gcore nor /proc/%d/mem: %v", pid, err)
		}
		defer f.Close()
		res.how = "/proc/PID/mem"
		for _, mp := range maps {
			if mp.perms[0] == 'r' && mp.name != "[vvar]" && mp.name != "[vsyscall]" {
				segs = append(segs, ptSegment{vaddr: mp.lo, size: mp.hi - mp.lo, off: mp.lo, r: f})
				res.size += int64(mp.hi - mp.lo)
			}
		}
	}
	ptScanSegments(segs, m, maps, &res)
	return res
}

// ptScanSegments counts the needles in segs, in blocks with 64 bytes of
// the block before kept for the context and for matches across the
// boundary. A segment that cannot be read past some point (a mapping
// that changed since the maps were read) ends there.
func ptScanSegments(segs []ptSegment, m ptMarkers, maps []ptMapping, res *ptCoreFinding) {
	const pre = 64
	needles := m.needles()
	buf := make([]byte, pre+16<<20)
	defer clear(buf)
	for _, sg := range segs {
		keep := 0
		for off := uint64(0); off < sg.size; {
			n := min(uint64(len(buf)-keep), sg.size-off)
			got, _ := sg.r.ReadAt(buf[keep:keep+int(n)], int64(sg.off+off))
			if got == 0 {
				break
			}
			data := buf[:keep+got]
			for name, nd := range needles {
				for i := 0; ; {
					j := bytes.Index(data[i:], nd)
					if j < 0 {
						break
					}
					at := i + j
					i = at + 1
					if at+len(nd) <= keep {
						continue // counted in the block before
					}
					addr := sg.vaddr + off + uint64(at) - uint64(keep)
					res.copies[name]++
					res.byRegion[name][ptRegion(maps, addr)]++
					res.bySource[name][ptSource(data[max(0, at-pre):at], m.ascii)]++
				}
			}
			off += uint64(got)
			keep = min(pre, len(data))
			copy(buf, data[len(data)-keep:])
		}
	}
}

// ptTmpEntries lists the names in the system's temporary directory.
func ptTmpEntries(t *testing.T) map[string]bool {
	t.Helper()
	es, err := os.ReadDir(os.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, e := range es {
		m[e.Name()] = true
	}
	return m
}

// TestPlaintext: see the comment at the top of this file.
func TestPlaintext(t *testing.T) {
	m := ptNewMarkers()
	needles := m.needles()
	t.Logf("markers %q and %q", m.ascii, m.cyr)
	tmpBefore := ptTmpEntries(t)

	root := t.TempDir()
	serverTmp := filepath.Join(root, "server-tmp")
	backups := filepath.Join(root, "backups")
	for _, d := range []string{serverTmp, backups} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	dir := newDataDir(t)
	var logs bytes.Buffer // every log line and console output of the test
	run := func(args ...string) result {
		r := mustRun(t, args...)
		logs.WriteString(r.stdout + r.stderr)
		return r
	}
	inv, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	en := parseEnrolment(t, run("investigator", "add", "--json", "--recipient", inv.Recipient, "--data", dir, "irina").stdout)
	// Old ballast, for the purge to remove.
	rs, err := crypto.NewRecipients("test", inv.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	plantItems(t, dir, rs, 32<<10, daysAgo(400), daysAgo(200))

	env := []string{"env", "TMPDIR=" + serverTmp}
	var daemons []*daemon
	serve := func() *daemon {
		d := startServe(t, dir, env)
		daemons = append(daemons, d)
		return d
	}
	d := serve()

	// Normal use. Three witnesses submit, with two files each.
	w := newPTClient(t, d.witness)
	var codenames []string
	for i := range 3 {
		ct, body := ptForm(m, []crashFile{ptFile(m, 2*i, 20<<10), ptFile(m, 2*i+1, 1<<20+i*77777)})
		code, _, page := w.do("POST", "/submit", ct, bytes.NewReader(body))
		if code != http.StatusOK {
			t.Fatalf("submission %d: %d\n%s", i, code, page)
		}
		codenames = append(codenames, ptCodename(t, page))
	}
	// The first comes back with a follow-up and a file.
	{
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("lang", "ru")
		mw.WriteField("codename", codenames[0])
		mw.WriteField("message", m.text("follow-up"))
		f := ptFile(m, 9, 300<<10)
		fw, _ := mw.CreateFormFile("files", f.name)
		fw.Write(f.data)
		mw.Close()
		if code, _, page := w.do("POST", "/followup", mw.FormDataContentType(), &b); code != http.StatusOK {
			t.Fatalf("follow-up: %d\n%s", code, page)
		}
	}
	// The second asks for their account to be deleted, with a message.
	if code, _, page := w.form("/withdraw", url.Values{"lang": {"ru"}, "codename": {codenames[1]}, "request": {"erase"},
		"message": {m.text("withdrawal")}}); code != http.StatusOK {
		t.Fatalf("withdrawal: %d\n%s", code, page)
	}
	// An investigator logs in, sets a passphrase, replies, and downloads
	// everything.
	ic := newPTClient(t, d.inv)
	code, hdr, page := ic.form("/login", url.Values{"account": {"irina"}, "passphrase": {en.Passphrase},
		"code": {oathtoolNow(t, en.TOTPSecret)}})
	if code != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", code, page)
	}
	if hdr.Get("Location") == "/passphrase" {
		np := "harbour lantern meadow quartz violet anchor"
		if code, _, page := ic.form("/passphrase", url.Values{"current": {en.Passphrase}, "new": {np}, "confirm": {np}}); code != http.StatusSeeOther {
			t.Fatalf("passphrase change: %d\n%s", code, page)
		}
	}
	code, _, page = ic.do("GET", "/", "", nil)
	src := regexp.MustCompile(`href="/sources/([^"/]+)"`).FindSubmatch(page)
	if code != http.StatusOK || src == nil {
		t.Fatalf("case list: %d\n%s", code, page)
	}
	if code, _, page := ic.form("/sources/"+string(src[1])+"/reply", url.Values{"message": {m.text("reply")}}); code/100 != 2 && code != http.StatusSeeOther {
		t.Fatalf("reply: %d\n%s", code, page)
	}
	code, _, bundle := ic.form("/bundle", url.Values{"scope": {"all"}})
	if code != http.StatusOK {
		t.Fatalf("bundle: %d\n%s", code, bundle)
	}
	// The witnesses read their threads; the one with a reply sees it.
	sawReply := false
	for _, cn := range codenames {
		code, _, page := w.form("/thread", url.Values{"lang": {"ru"}, "codename": {cn}})
		if code != http.StatusOK {
			t.Fatalf("thread: %d\n%s", code, page)
		}
		sawReply = sawReply || bytes.Contains(page, []byte(m.ascii))
	}
	if !sawReply {
		t.Error("no witness saw the investigator's reply")
	}

	// The investigator annotates offline, a note holding the markers, and
	// uploads the export: the server gets it as ciphertext only. Their
	// case folder (their air-gapped machine) is gone before the searches.
	{
		tool := testutil.Testimony(t)
		offline := t.TempDir()
		key := filepath.Join(offline, "irina.key")
		var kb bytes.Buffer
		crypto.WriteIdentityFile(&kb, inv, "2026-11-28T00:00:00Z")
		os.WriteFile(key, kb.Bytes(), 0o600)
		if _, err := crypto.CreateSigningKey(key + ".sign"); err != nil {
			t.Fatal(err)
		}
		tarFile, cases, exp := filepath.Join(offline, "b.tar"), filepath.Join(offline, "cases"), filepath.Join(offline, "a.age")
		os.WriteFile(tarFile, bundle, 0o600)
		idx, err := readIndexOf(bundle)
		if err != nil || len(idx.Items) == 0 {
			t.Fatalf("bundle index: %v", err)
		}
		var target string
		for _, e := range idx.Items {
			if e.Kind == crypto.KindSubmission {
				target = e.ID
			}
		}
		for _, args := range [][]string{
			{"open", "-i", key, "-o", cases, tarFile},
			{"annotate", "--as", "irina", cases, target, "note", m.text("annotation note")},
			{"annotations", "export", "--as", "irina", "-i", key, "-o", exp, cases},
		} {
			if out, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
				t.Fatalf("testimony %v: %v\n%s", args[0], err, out)
			}
		}
		b, _ := os.ReadFile(exp)
		if c := ptCountBytes(b, needles); c["ascii marker"]+c["Cyrillic marker"] > 0 {
			t.Fatalf("the export holds the note in the clear: %v", c)
		}
		if code, _, page := uploadFile(t, ic, "/annotations", b); code != http.StatusSeeOther {
			t.Fatalf("annotations upload: %d\n%s", code, page)
		}
		if err := os.RemoveAll(offline); err != nil {
			t.Fatal(err)
		}
	}

	// The control: the markers are really in what was stored. The bundle,
	// decrypted here with the investigator's key, holds them everywhere
	// they were put: answers, file bytes, file names (in the manifest).
	t.Run("control", func(t *testing.T) {
		got := ptBundleCounts(t, bundle, inv, needles)
		for name := range needles {
			if got[name] < 3*7+3 {
				t.Errorf("the decrypted bundle holds the %s %d times: the markers did not go where the test put them", name, got[name])
			}
		}
		t.Logf("the decrypted bundle holds the markers %v times; its ciphertext as downloaded: %v", got, ptCountBytes(bundle, needles))
		if c := ptCountBytes(bundle, needles); c["ascii marker"]+c["Cyrillic marker"] > 0 {
			t.Errorf("the bundle as downloaded holds plaintext: %v", c)
		}
		// And the search finds a marker in a file.
		probe := filepath.Join(t.TempDir(), "probe")
		os.WriteFile(probe, []byte("xx"+m.cyr+"yy"), 0o600)
		if hits, _, _ := ptScanTree(t, filepath.Dir(probe), needles, nil); len(hits) != 1 || hits[0].needle != "Cyrillic marker" {
			t.Errorf("the file search does not find a marker it should: %v", hits)
		}
		os.Remove(probe)
	})

	// The memory of the running server, after this use.
	t.Run("memory", func(t *testing.T) {
		pid := d.Pid()
		ptLogCore(t, "right after use", ptCore(t, pid, m))
		// More traffic without markers, then a second look: does the Go
		// heap reuse (and so overwrite) what the requests left?
		for i := range 40 {
			ct, body := crashWithFiles(fmt.Sprintf("churn-%d", i), []crashFile{{name: "churn.bin", data: bytes.Repeat([]byte{'z'}, 256<<10)}})
			if code, _, _ := w.do("POST", "/submit", ct, bytes.NewReader(body)); code != http.StatusOK {
				t.Fatalf("churn submission: %d", code)
			}
		}
		time.Sleep(3 * time.Second)
		ptLogCore(t, "after 40 more submissions (10 MiB) and 3 s", ptCore(t, pid, m))
	})

	// A crash in the middle of an upload: the spool, or for a large upload
	// the store, holds what came in so far, encrypted; look at it before a
	// restart empties the spool and drops the store's pending chunks.
	spoolHits := ptCrashMidUpload(t, d, dir, m, false)
	d = serve()
	streamHits := ptCrashMidUpload(t, d, dir, m, true)
	d = serve()

	// Backup (through the running server), purge, compaction.
	run("backup", "-o", filepath.Join(backups, "hot.db"), "--data", dir)
	if r := run("purge", "--older-than", "30", "--data", dir); !strings.Contains(r.stdout, "purged 2 ") {
		t.Errorf("purge: %s", r.stdout)
	}
	d.stop(t)
	run("backup", "-o", filepath.Join(backups, "cold.db"), "--data", dir)
	// Before the compaction drops the free pages, whatever they hold.
	preCompact, files, size := ptScanTree(t, dir, needles, nil)
	t.Logf("%s before the compaction: %d files, %d bytes searched", dir, files, size)
	run("compact", "--data", dir)
	run("check", "--data", dir)
	for _, dd := range daemons {
		logs.WriteString(dd.Out.String())
	}

	t.Run("disk", func(t *testing.T) {
		ptReport(t, "the spool right after a kill mid-upload", spoolHits)
		ptReport(t, "the data directory right after a kill mid-upload (streamed)", streamHits)
		ptReport(t, "the data directory before the compaction", preCompact)
		for _, where := range []string{dir, backups} {
			hits, files, size := ptScanTree(t, where, needles, nil)
			t.Logf("%s: %d files, %d bytes searched", where, files, size)
			ptReport(t, "the data directory or the backups", hits)
		}
	})
	t.Run("tmp", func(t *testing.T) {
		hits, files, size := ptScanTree(t, serverTmp, needles, nil)
		t.Logf("the server's TMPDIR %s: %d files, %d bytes searched", serverTmp, files, size)
		ptReport(t, "the server's TMPDIR", hits)
		var news []string
		for name := range ptTmpEntries(t) {
			if !tmpBefore[name] {
				news = append(news, name)
			}
		}
		sort.Strings(news)
		var all []ptHit
		files, size = 0, 0
		for _, name := range news {
			h, f, s := ptScanTree(t, filepath.Join(os.TempDir(), name), needles, func(p string) bool {
				return p == dir || p == backups || p == serverTmp // searched above
			})
			all, files, size = append(all, h...), files+f, size+s
		}
		t.Logf("%d entries made in %s during the test: %d files, %d bytes searched", len(news), os.TempDir(), files, size)
		ptReport(t, os.TempDir(), all)
	})
	t.Run("logs", func(t *testing.T) {
		c := ptCountBytes(logs.Bytes(), needles)
		t.Logf("%d bytes of logs and console output searched", logs.Len())
		for name, n := range c {
			if n > 0 {
				t.Errorf("PLAINTEXT in the logs: %s, %d times", name, n)
			}
		}
	})
}

func ptCountBytes(b []byte, needles map[string][]byte) map[string]int {
	c, _ := ptCount(bytes.NewReader(b), needles)
	return c
}

// ptBundleCounts decrypts every item of a bundle with the investigator's
// identity and counts the needles in the plaintexts: the manifest (answers
// and file names) and every attachment.
func ptBundleCounts(t *testing.T, bundle []byte, inv *crypto.Identity, needles map[string][]byte) map[string]int {
	t.Helper()
	total := map[string]int{}
	add := func(b []byte) {
		for k, v := range ptCountBytes(b, needles) {
			total[k] += v
		}
	}
	items, opened := openBundle(t, bundle, inv, add)
	if items == 0 || opened != items {
		t.Fatalf("the bundle holds %d items, %d of them open with the investigator's key", items, opened)
	}
	return total
}

// ptLogCore logs what a core dump held.
func ptLogCore(t *testing.T, when string, c ptCoreFinding) {
	t.Helper()
	for _, name := range []string{"ascii marker", "Cyrillic marker"} {
		if c.copies[name] == 0 {
			t.Logf("MEMORY %s: %s of %d MiB: no copy of the %s", when, c.how, c.size>>20, name)
			continue
		}
		t.Logf("MEMORY %s: %s of %d MiB: %d copies of the %s\n\tfrom: %v\n\tin: %v",
			when, c.how, c.size>>20, c.copies[name], name, c.bySource[name], c.byRegion[name])
	}
}

// ptCrashMidUpload streams an upload whose bytes hold the markers and
// kills the server with SIGKILL in its middle, then searches the data
// directory as the kill left it. A large upload (of unknown length: 24 MiB
// gone out at the kill) streams into the store, whose pending chunks must
// hold no marker; a small one (7 MiB announced, 5 MiB gone out) is spooled.
func ptCrashMidUpload(t *testing.T, d *daemon, dataDir string, m ptMarkers, streamed bool) []ptHit {
	t.Helper()
	pieces, at := 200, 24
	if !streamed {
		pieces, at = 5, 4
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	sent, killed := make(chan struct{}), make(chan struct{})
	go func() {
		for _, kv := range [][2]string{{"lang", "ru"}, {"role", "self"}, {"account", m.text("account")}} {
			mw.WriteField(kv[0], kv[1])
		}
		fw, _ := mw.CreateFormFile("files", "видео-"+m.cyr+"-"+m.ascii+".mp4")
		f := ptFile(m, 0, 1<<20)
		for i := 0; i < pieces; i++ {
			if _, err := fw.Write(f.data); err != nil {
				break
			}
			if i == at {
				close(sent)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if !streamed {
			<-killed // the rest of the announced length never comes
		}
		mw.Close()
		pw.Close()
	}()
	res := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", d.witness+"/submit", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if !streamed {
			req.ContentLength = 7 << 20 // as a browser announces it: small enough to spool
		}
		r, err := http.DefaultClient.Do(req)
		if err == nil {
			r.Body.Close()
			err = fmt.Errorf("the upload finished: %d", r.StatusCode)
		}
		pr.CloseWithError(err)
		res <- err
	}()
	select {
	case <-sent:
	case err := <-res:
		t.Fatalf("the upload ended before its middle: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the upload did not get going")
	}
	time.Sleep(100 * time.Millisecond)
	d.Kill(t)
	close(killed)
	<-res
	if streamed {
		db, err := store.Open(filepath.Join(dataDir, dbFile), store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		st, _ := db.Stats()
		db.Close()
		t.Logf("killed mid-upload: the store held %d chunks of the upload", st.PendingChunks)
		if st.PendingChunks < 8 {
			t.Errorf("the store held only %d chunks of the upload at the kill: it was not in the middle", st.PendingChunks)
		}
		hits, _, _ := ptScanTree(t, dataDir, m.needles(), nil)
		return hits
	}
	spool := filepath.Join(dataDir, "spool")
	hits, files, size := ptScanTree(t, spool, m.needles(), nil)
	t.Logf("killed mid-upload: the spool held %d files, %d bytes", files, size)
	if size < 4<<20 {
		t.Errorf("the spool held only %d bytes at the kill: the upload was not in the middle", size)
	}
	return hits
}
