// Package deploy_test checks the files a sysadmin installs: the torrc with
// Debian's tor, the systemd unit with systemd-analyze, and the Debian
// package with dpkg. Each test skips, saying what to install, when its tool
// is missing; .ci/run installs them all.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"testimony/internal/testutil"
)

func need(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s is not installed: apt-get install -y %s (.ci/run does)", tool, pkg)
	}
	return p
}

// TestMain removes the binaries testutil built.
func TestMain(m *testing.M) { testutil.Main(m) }

// torrcFor rewrites the shipped torrc for a test: its onion directories
// under dir, a data directory there too, no SOCKS port, and extra lines.
func torrcFor(t *testing.T, dir string, extra ...string) string {
	t.Helper()
	b, err := os.ReadFile("tor/torrc")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if n := strings.Count(text, "\nHiddenServiceDir /var/lib/tor/"); n != 2 {
		t.Fatalf("torrc has %d HiddenServiceDir lines under /var/lib/tor, want 2", n)
	}
	text = strings.ReplaceAll(text, "HiddenServiceDir /var/lib/tor/", "HiddenServiceDir "+dir+"/")
	text += "\nDataDirectory " + dir + "/data\nSocksPort 0\nLog notice stdout\n" + strings.Join(extra, "\n") + "\n"
	path := filepath.Join(dir, "torrc")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "defaults"), nil, 0o600)
	return path
}

// TestTorrcShape: two services, each on its own directory and pointing at
// loopback, both with PoW defences, and the client-authorization how-to.
func TestTorrcShape(t *testing.T) {
	b, err := os.ReadFile("tor/torrc")
	if err != nil {
		t.Fatal(err)
	}
	var dirs, ports []string
	pow := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "HiddenServiceDir":
			dirs = append(dirs, f[1])
		case "HiddenServicePort":
			ports = append(ports, f[2])
		case "HiddenServicePoWDefensesEnabled":
			if f[1] == "1" {
				pow++
			}
		}
	}
	if len(dirs) != 2 || dirs[0] == dirs[1] {
		t.Errorf("onion directories %v: want two distinct", dirs)
	}
	if len(ports) != 2 || ports[0] != "127.0.0.1:8080" || ports[1] != "127.0.0.1:8081" {
		t.Errorf("targets %v: want the witness and investigator loopback defaults", ports)
	}
	if pow != 2 {
		t.Errorf("PoW defences on %d services, want 2", pow)
	}
	for _, want := range []string{"authorized_clients/", "testimonyd onion-client-key", "systemctl reload tor"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("torrc comments do not mention %q", want)
		}
	}
}

// torrcServices returns the options of each onion service in the shipped
// torrc, keyed by its directory's base name (testimony-witness, ...).
func torrcServices(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := os.ReadFile("tor/torrc")
	if err != nil {
		t.Fatal(err)
	}
	svc := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] == "HiddenServiceDir" {
			cur = map[string]string{}
			svc[filepath.Base(f[1])] = cur
			continue
		}
		if cur != nil && strings.HasPrefix(f[0], "HiddenService") && f[0] != "HiddenServicePort" {
			cur[f[0]] = f[1]
		}
	}
	return svc
}

// TestTorrcWitnessDefences: the public witness onion has tor's own DoS
// defences, with explicit values that make sense together: proof of work
// with a dispatch rate for a small server, the introduction-point limit on
// and not disabled by a 0 (which tor reads as "no limit"), passing more
// than the PoW queue takes so that the puzzle, not the blind limit, picks
// who is served under a moderate flood, and a stream cap per circuit.
func TestTorrcWitnessDefences(t *testing.T) {
	w := torrcServices(t)["testimony-witness"]
	if w == nil {
		t.Fatal("no testimony-witness service in the torrc")
	}
	num := func(k string) int {
		n, err := strconv.Atoi(w[k])
		if err != nil {
			t.Errorf("witness onion: %s is %q, want a number", k, w[k])
		}
		return n
	}
	for _, k := range []string{"HiddenServicePoWDefensesEnabled", "HiddenServiceEnableIntroDoSDefense", "HiddenServiceMaxStreamsCloseCircuit"} {
		if w[k] != "1" {
			t.Errorf("witness onion: %s is %q, want 1", k, w[k])
		}
	}
	rate, burst := num("HiddenServiceEnableIntroDoSRatePerSec"), num("HiddenServiceEnableIntroDoSBurstPerSec")
	if rate < 1 || burst < rate {
		t.Errorf("witness onion: intro DoS rate %d, burst %d: want 1 <= rate <= burst (0 means no limit)", rate, burst)
	}
	qrate, qburst := num("HiddenServicePoWQueueRate"), num("HiddenServicePoWQueueBurst")
	if qrate < 1 || qrate >= 250 || qburst < qrate {
		t.Errorf("witness onion: PoW queue rate %d, burst %d: want 1 <= rate < 250 (tor's default, for a large site) and burst >= rate", qrate, qburst)
	}
	// Three introduction points by default (HiddenServiceNumIntroductionPoints).
	points := 3
	if v, ok := w["HiddenServiceNumIntroductionPoints"]; ok {
		points, _ = strconv.Atoi(v)
	}
	if points*rate <= qrate {
		t.Errorf("witness onion: %d introduction points × %d/s do not exceed the PoW queue rate %d/s: the blind limit, not the puzzle, would pick who is served", points, rate, qrate)
	}
	if n := num("HiddenServiceMaxStreams"); n < 8 || n > 256 {
		t.Errorf("witness onion: HiddenServiceMaxStreams %d, want 8..256", n)
	}
}

// TestTorrcWithTor: Debian's tor accepts the shipped torrc
// (--verify-config), creates both onion directories 0700 when it runs
// (with the network disabled), and accepts a client key made by
// "testimonyd onion-client-key" while it warns about a malformed one.
func TestTorrcWithTor(t *testing.T) {
	tor := need(t, "tor", "tor")
	out, _ := exec.Command(tor, "--version").Output()
	m := regexp.MustCompile(`Tor version (\d+)\.(\d+)\.(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("tor --version: %q", out)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	if major == 0 && (minor < 4 || minor == 4 && patch < 8) {
		t.Fatalf("tor %s.%s.%s lacks HiddenServicePoWDefensesEnabled (needs 0.4.8): install tor from bookworm or later", m[1], m[2], m[3])
	}
	t.Logf("tor %s.%s.%s", m[1], m[2], m[3])

	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil { // tor wants its directories private
		t.Fatal(err)
	}
	torrc := torrcFor(t, dir)
	out, err := exec.Command(tor, "--verify-config", "-f", torrc, "--defaults-torrc", filepath.Join(dir, "defaults")).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Configuration was valid")) {
		t.Fatalf("tor --verify-config: %v\n%s", err, out)
	}
	// Valid, and without a warning about any of our lines (tor warns about
	// running as root, which a test may do, and which is not ours).
	for l := range strings.Lines(string(out)) {
		if strings.Contains(l, "[warn]") && !strings.Contains(l, "running Tor as root") {
			t.Errorf("tor --verify-config warns: %s", l)
		}
	}
	// --verify-config parses the onion-service options, values included:
	// a bad value in the witness service's DoS lines is refused.
	b, _ := os.ReadFile(torrc)
	bad := filepath.Join(dir, "torrc-bad")
	os.WriteFile(bad, bytes.Replace(b, []byte("HiddenServiceEnableIntroDoSRatePerSec 25"), []byte("HiddenServiceEnableIntroDoSRatePerSec -1"), 1), 0o600)
	if out, err := exec.Command(tor, "--verify-config", "-f", bad, "--defaults-torrc", filepath.Join(dir, "defaults")).CombinedOutput(); err == nil {
		t.Errorf("tor --verify-config accepted a negative intro DoS rate:\n%s", out)
	}
	// Proof of work is a module tor can be built without (a non-GPL
	// build); such a tor accepts the option and does nothing with it.
	t.Run("pow-module", func(t *testing.T) {
		mods, err := exec.Command(tor, "--list-modules").Output()
		if err != nil {
			t.Fatalf("tor --list-modules: %v", err)
		}
		if !regexp.MustCompile(`(?m)^pow: yes$`).Match(mods) {
			t.Skipf("this tor is built without the pow module (tor --list-modules: %q): HiddenServicePoWDefensesEnabled would be ignored; Debian's tor has it", mods)
		}
	})

	// Run it, offline, until both services have their keys.
	torrc = torrcFor(t, dir, "DisableNetwork 1")
	logs := runTorUntil(t, tor, dir, torrc, func() bool {
		_, e1 := os.Stat(filepath.Join(dir, "testimony-witness", "hostname"))
		_, e2 := os.Stat(filepath.Join(dir, "testimony-investigator", "hostname"))
		return e1 == nil && e2 == nil
	})
	for _, d := range []string{"testimony-witness", "testimony-investigator", "testimony-investigator/authorized_clients"} {
		fi, err := os.Stat(filepath.Join(dir, d))
		if err != nil {
			t.Fatalf("%s: %v\n%s", d, err, logs)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %v, want 0700", d, fi.Mode().Perm())
		}
	}

	// A client key for the investigator onion.
	bin := testutil.Testimonyd(t)
	inv := filepath.Join(dir, "testimony-investigator")
	out, err = exec.Command(bin, "onion-client-key", "--name", "alice", "--hostname-file", filepath.Join(inv, "hostname")).Output()
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.ReadFile(filepath.Join(inv, "hostname"))
	addr := strings.TrimSuffix(strings.TrimSpace(string(host)), ".onion")
	var authLine string
	for l := range strings.Lines(string(out)) {
		if strings.HasPrefix(l, "descriptor:x25519:") {
			authLine = l
		}
	}
	if authLine == "" || !strings.Contains(string(out), "\n"+addr+":descriptor:x25519:") {
		t.Fatalf("onion-client-key output:\n%s", out)
	}
	authFile := filepath.Join(inv, "authorized_clients", "alice.auth")
	os.WriteFile(authFile, []byte(authLine), 0o600)
	logs = runTorUntil(t, tor, dir, torrc, func() bool { return false })
	if strings.Contains(logs, "lient authorization") {
		t.Errorf("tor refused the client key of onion-client-key:\n%s", logs)
	}
	// The same check notices a malformed key: it can fail.
	os.WriteFile(authFile, []byte("descriptor:x25519:"+strings.Repeat("A", 10)+"\n"), 0o600)
	logs = runTorUntil(t, tor, dir, torrc, func() bool { return false })
	if !strings.Contains(logs, "lient authorization") {
		t.Errorf("tor did not warn about a malformed client key:\n%s", logs)
	}
}

// TestBridgeTorrc: deploy/bridge/torrc is an unpublished obfs4 bridge
// (BridgeRelay 1, PublishServerDescriptor 0, Debian's obfs4proxy, tor's own
// port on loopback only, no onion service), and Debian's tor accepts it
// (--verify-config; it needs obfs4proxy installed). The same check refuses
// the file with an option misspelt, so it can fail.
func TestBridgeTorrc(t *testing.T) {
	b, err := os.ReadFile("bridge/torrc")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"BridgeRelay": "1", "PublishServerDescriptor": "0", "BridgeDistribution": "none", "ExitRelay": "0",
		"ORPort": "127.0.0.1:9001", "ServerTransportPlugin": "obfs4 exec /usr/bin/obfs4proxy",
		"ServerTransportListenAddr": "obfs4 0.0.0.0:8443", "ExtORPort": "auto", "SocksPort": "0",
	}
	got := map[string]string{}
	for l := range strings.Lines(string(b)) {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		got[f[0]] = strings.Join(f[1:], " ")
		if strings.HasPrefix(f[0], "HiddenService") {
			t.Errorf("the bridge torrc has an onion service line: %s", l)
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	tor := need(t, "tor", "tor")
	need(t, "obfs4proxy", "obfs4proxy")
	verify := func(text string) (string, error) {
		dir := t.TempDir()
		os.Chmod(dir, 0o700)
		text += "\nDataDirectory " + dir + "/data\nLog notice stdout\n"
		path := filepath.Join(dir, "torrc")
		os.WriteFile(path, []byte(text), 0o600)
		os.WriteFile(filepath.Join(dir, "defaults"), nil, 0o600)
		out, err := exec.Command(tor, "--verify-config", "-f", path, "--defaults-torrc", filepath.Join(dir, "defaults")).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(string(b)); err != nil || !strings.Contains(out, "Configuration was valid") {
		t.Fatalf("tor --verify-config: %v\n%s", err, out)
	}
	broken := strings.Replace(string(b), "PublishServerDescriptor 0", "PublishServerDescriptr 0", 1)
	if out, err := verify(broken); err == nil || strings.Contains(out, "Configuration was valid") {
		t.Errorf("tor accepted a misspelt option: the check cannot fail\n%s", out)
	}
}

// runTorUntil runs tor until done() holds and it has bootstrapped to 0%
// (the services are loaded by then), or for a few seconds, and returns
// its log.
func runTorUntil(t *testing.T, tor, dir, torrc string, done func() bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tor, "-f", torrc, "--defaults-torrc", filepath.Join(dir, "defaults"))
	var buf testutil.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var startedAt time.Time
	for time.Now().Before(deadline) {
		if startedAt.IsZero() && strings.Contains(buf.String(), "Bootstrapped 0%") {
			startedAt = time.Now()
		}
		if !startedAt.IsZero() && (done() || time.Since(startedAt) > 2*time.Second) {
			time.Sleep(500 * time.Millisecond)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	return buf.String()
}

// TestSystemdUnit: the unit carries every hardening directive, and
// systemd-analyze verify accepts it without a warning.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/testimonyd.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := map[string][]string{}
	for l := range strings.Lines(string(b)) {
		l = strings.TrimSpace(l)
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			dir[k] = append(dir[k], v)
		}
	}
	want := map[string]string{
		"User": "testimony", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "MemoryDenyWriteExecute": "yes",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6", "IPAddressDeny": "any", "IPAddressAllow": "localhost",
		"SystemCallFilter": "@system-service", "LockPersonality": "yes", "ProtectKernelTunables": "yes",
		"ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
		"RestrictNamespaces": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes", "CapabilityBoundingSet": "",
		"AmbientCapabilities": "", "StateDirectory": "testimony", "StateDirectoryMode": "0700", "UMask": "0077",
		"SystemCallArchitectures": "native", "ProtectClock": "yes", "ProtectHostname": "yes", "LimitCORE": "0", "Environment": "GODEBUG=clobberfree=1",
		"ExecStart": "/usr/bin/testimonyd serve --config /etc/testimony/testimonyd.toml",
		// Issue 17.2: a memory ceiling above what the server bounds
		// itself to, and a Go heap limit under it, so that the collector
		// works harder before the kernel kills.
		"MemoryMax": "1G",
	}
	if !slices.Contains(dir["Environment"], "GOMEMLIMIT=768MiB") {
		t.Errorf("Environment=GOMEMLIMIT=768MiB missing (have %q)", dir["Environment"])
	}
	for k, v := range want {
		found := false
		for _, got := range dir[k] {
			found = found || got == v
		}
		if !found {
			t.Errorf("%s=%s missing (have %q)", k, v, dir[k])
		}
	}

	sa := need(t, "systemd-analyze", "systemd")
	// verify wants ExecStart's binary to exist: point it at a real build.
	bin := testutil.Testimonyd(t)
	tmp := t.TempDir()
	unit := filepath.Join(tmp, "testimonyd.service")
	os.WriteFile(unit, bytes.Replace(b, []byte("ExecStart=/usr/bin/testimonyd"), []byte("ExecStart="+bin), 1), 0o644)
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, _ = exec.Command(sa, "security", "--offline=yes", unit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for testimonyd.service: (\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security:\n%s", out)
	}
	if lvl, _ := strconv.ParseFloat(string(m[1]), 64); lvl > 1.5 {
		t.Errorf("exposure level %s, want at most 1.5:\n%s", m[1], out)
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])

	// A misspelt directive is caught: the check above can fail.
	os.WriteFile(unit, bytes.Replace(b, []byte("ExecStart=/usr/bin/testimonyd"), []byte("ExecStart="+bin), 1), 0o644)
	bad := bytes.Replace(b, []byte("IPAddressDeny="), []byte("IPAdressDeny="), 1)
	os.WriteFile(unit, bytes.Replace(bad, []byte("ExecStart=/usr/bin/testimonyd"), []byte("ExecStart="+bin), 1), 0o644)
	if out, _ := exec.Command(sa, "verify", unit).CombinedOutput(); !bytes.Contains(out, []byte("IPAdressDeny")) {
		t.Errorf("systemd-analyze verify did not flag a misspelt directive: %s", out)
	}
}

// TestDebPackage: "make deb" builds a package holding the expected files,
// with the config as a conffile. As root, it also installs it with dpkg -i
// (then purges it): the user and the data directory are made, nothing is
// enabled, testimonyd --version runs, and init works as the service user.
func TestDebPackage(t *testing.T) {
	need(t, "dpkg-deb", "dpkg")
	need(t, "make", "make")
	dist := t.TempDir()
	out, err := exec.Command("make", "-C", "..", "deb", "DIST="+dist).CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	var deb string
	for l := range strings.Lines(string(out)) {
		if l = strings.TrimSpace(l); strings.HasSuffix(l, ".deb") && !strings.Contains(l, " ") {
			deb = l
		}
	}
	if deb == "" {
		t.Fatalf("make deb did not name a package:\n%s", out)
	}
	out, err = exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-rwxr-xr-x root/root .* ./usr/bin/testimonyd\n",
		"-rwxr-xr-x root/root .* ./usr/bin/testimony\n",
		"-rw-r--r-- root/root .* ./lib/systemd/system/testimonyd.service\n",
		"-rw-r----- root/root .* ./etc/testimony/testimonyd.toml\n",
		"-rw-r--r-- root/root .* ./usr/share/testimony/torrc\n",
		"^drwxr-xr-x root/root .* ./\n",
	} {
		if !regexp.MustCompile("(?m)" + want).Match(out) {
			t.Errorf("dpkg-deb -c lacks %q:\n%s", want, out)
		}
	}
	if c, _ := exec.Command("dpkg-deb", "-I", deb, "conffiles").Output(); strings.TrimSpace(string(c)) != "/etc/testimony/testimonyd.toml" {
		t.Errorf("conffiles: %q", c)
	}
	pkgVersion, _ := exec.Command("dpkg-deb", "-f", deb, "Version").Output()
	t.Logf("%s: version %s", filepath.Base(deb), bytes.TrimSpace(pkgVersion))

	if os.Getuid() != 0 {
		t.Skip("installing with dpkg -i needs root")
	}
	need(t, "dpkg", "dpkg")
	if exec.Command("dpkg", "-s", "testimony").Run() == nil {
		t.Skip("a testimony package is already installed here; not touching it")
	}
	_, userErr := exec.Command("getent", "passwd", "testimony").Output()
	_, dataErr := os.Stat("/var/lib/testimony")
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "testimony").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
		if _, err := os.Stat("/usr/bin/testimonyd"); err == nil {
			t.Error("/usr/bin/testimonyd left after purge")
		}
		if userErr != nil {
			exec.Command("userdel", "testimony").Run()
		}
		if dataErr != nil {
			os.RemoveAll("/var/lib/testimony")
		}
	})
	out, err = exec.Command("dpkg", "-i", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "testimony: not started") {
		t.Errorf("postinst did not say what to do next:\n%s", out)
	}
	ver, err := exec.Command("/usr/bin/testimonyd", "--version").Output()
	if err != nil || !strings.HasPrefix(string(ver), "testimonyd ") {
		t.Errorf("testimonyd --version: %v %q", err, ver)
	}
	if out, err := exec.Command("getent", "passwd", "testimony").Output(); err != nil || !strings.Contains(string(out), "/usr/sbin/nologin") {
		t.Errorf("user testimony: %v %q", err, out)
	}
	if fi, err := os.Stat("/var/lib/testimony"); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("/var/lib/testimony: %v %v", fi, err)
	}
	if out, err := exec.Command("stat", "-c", "%a %U %G", "/etc/testimony/testimonyd.toml", "/var/lib/testimony").Output(); err != nil ||
		string(out) != "640 root testimony\n700 testimony testimony\n" {
		t.Errorf("owners and modes: %v %q", err, out)
	}
	for _, p := range []string{"/etc/systemd/system/multi-user.target.wants/testimonyd.service"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists: the package must not enable the service", p)
		}
	}
	// The sysadmin's first steps work as the service user.
	for _, args := range [][]string{
		{"runuser", "-u", "testimony", "--", "testimonyd", "init", "--data", "/var/lib/testimony"},
		{"runuser", "-u", "testimony", "--", "testimonyd", "config", "check", "--config", "/etc/testimony/testimonyd.toml"},
		{"runuser", "-u", "testimony", "--", "testimonyd", "status"},
	} {
		if dataErr == nil {
			break // an existing /var/lib/testimony is not ours to initialise
		}
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Errorf("%v: %v\n%s", args[4:], err, out)
		}
	}
}
