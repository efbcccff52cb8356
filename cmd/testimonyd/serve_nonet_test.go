package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"testimony/crypto"
	"testimony/internal/testutil"
)

// The no-network test runs the real server in a network namespace that
// has only a loopback interface, under strace, exercises both sites and
// the console, and then reads the trace: any connect or sendto to an
// address off loopback is an outbound connection, and any read of
// /etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf or /etc/gai.conf is the
// start of a name lookup. A control run with a host name for an address
// shows the same reading catches a lookup.

// netnsOnlyLo makes a network namespace with only lo, up, or skips.
func netnsOnlyLo(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip is not installed: apt-get install -y iproute2 (.ci/run does)")
	}
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace is not installed: apt-get install -y strace (.ci/run does)")
	}
	name := fmt.Sprintf("testimony-nonet-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v %s", err, out)
	}
	out, _ := exec.Command("ip", "-n", name, "-o", "link").Output()
	if n := strings.Count(strings.TrimSpace(string(out)), "\n") + 1; n != 1 || !strings.Contains(string(out), ": lo:") {
		t.Fatalf("namespace has other interfaces than lo:\n%s", out)
	}
	return name
}

// nsDialer dials from inside the namespace: a goroutine locks its thread,
// moves the thread into the namespace and makes the socket there. The
// goroutine ends without unlocking, so the thread is thrown away.
func nsDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			runtime.LockOSThread()
			f, err := os.Open("/run/netns/" + ns)
			if err != nil {
				ch <- res{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- res{nil, fmt.Errorf("setns: %w", err)}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// tracedServe runs "testimonyd serve" in the namespace under strace and
// returns the daemon, the trace file and the server's pid.
func tracedServe(t *testing.T, ns, dataDir, trace string, extra ...string) (*daemon, int) {
	t.Helper()
	prefix := []string{"ip", "netns", "exec", ns, "strace", "-f", "-qq", "-o", trace,
		"-e", "trace=" + traceCalls, "-e", "signal=none"}
	d := startServe(t, dataDir, prefix, extra...)
	// ip execs strace, which forks testimonyd.
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", d.Pid(), d.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(kids)))
	if err != nil {
		t.Fatalf("strace's child: %q", kids)
	}
	return d, pid
}

// stopTraced stops the traced server with SIGINT and waits for strace.
func stopTraced(t *testing.T, d *daemon, pid int) {
	t.Helper()
	unix.Kill(pid, unix.SIGINT)
	select {
	case <-d.Done():
		if err := d.Err(); err != nil {
			t.Errorf("traced serve: %v\n%s", err, d.Out.String())
		}
	case <-time.After(30 * time.Second):
		unix.Kill(pid, unix.SIGKILL) // strace leaves its tracee running if killed itself
		t.Fatal("traced serve did not stop")
	}
}

// traceCalls are the system calls the no-network test traces.
const traceCalls = "socket,connect,sendto,sendmsg,sendmmsg,openat,open"

var (
	traceDNSRE  = regexp.MustCompile(`sin6?_port=htons\(53\)|socket\(AF_INET6?, SOCK_DGRAM`)
	traceAddrRE = regexp.MustCompile(`inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6?, "([^"]+)"`)
	traceOpenRE = regexp.MustCompile(`open(at)?\(.*"(/etc/(resolv\.conf|hosts|nsswitch\.conf|gai\.conf|host\.conf))"`)
)

// networkUse lists the trace lines that reach off loopback or start a name
// lookup.
func networkUse(t *testing.T, trace string) (bad []string, connects int) {
	t.Helper()
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if traceOpenRE.MatchString(l) || traceDNSRE.MatchString(l) {
			bad = append(bad, l) // a lookup, even to a resolver on loopback
			continue
		}
		if !strings.Contains(l, "connect(") && !strings.Contains(l, "send") {
			continue
		}
		connects++
		for _, m := range traceAddrRE.FindAllStringSubmatch(l, -1) {
			a, err := netip.ParseAddr(m[1] + m[2])
			if err != nil || !a.Unmap().IsLoopback() {
				bad = append(bad, l)
			}
		}
		if strings.Contains(l, "AF_INET") && !traceAddrRE.MatchString(l) {
			bad = append(bad, l) // an address strace printed in a form we do not know
		}
	}
	return bad, connects
}

// TestServeMakesNoOutboundConnection: exercised through both sites and
// every console request, the server makes no connection off loopback and
// no name lookup.
func TestServeMakesNoOutboundConnection(t *testing.T) { checkNoOutbound(t) }

// checkNoOutbound is the test, shared with the security suite.
func checkNoOutbound(t *testing.T) {
	ns := netnsOnlyLo(t)
	escrow, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	dir := newDataDir(t)
	rs, _ := testRecipients(t)
	plantItems(t, dir, rs, 20<<10, daysAgo(60), daysAgo(0))
	trace := filepath.Join(t.TempDir(), "trace")
	d, pid := tracedServe(t, ns, dir, trace, "--escrow-recipients", escrow.Recipient, "--retention-days", "30")

	client := &http.Client{Transport: &http.Transport{DialContext: nsDialer(ns)}, Timeout: 30 * time.Second}
	get := func(url string) int {
		res, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s from inside the namespace: %v", url, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, u := range []string{d.witness + "/", d.witness + "/form", d.witness + "/static/witness.css", d.witness + "/nope", d.inv + "/", d.inv + "/login"} {
		get(u)
	}
	for i := range 3 {
		ct, body := witnessForm(fmt.Sprintf("load-nonet-%d", i))
		res, err := client.Post(d.witness+"/submit", ct, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("submission in the namespace: %d\n%s", res.StatusCode, page)
		}
	}
	// The server really is cut off: from its namespace, nothing outside
	// is reachable.
	if c, err := nsDialer(ns)(context.Background(), "tcp", "192.0.2.1:80"); err == nil {
		c.Close()
		t.Fatal("the namespace reaches 192.0.2.1: it is not loopback-only")
	}
	// The console, over the control socket.
	mustRun(t, "status", "--data", dir)
	mustRun(t, "check", "--data", dir)
	mustRun(t, "backup", "-o", filepath.Join(t.TempDir(), "b.db"), "--data", dir)
	mustRun(t, "purge", "--older-than", "400", "--data", dir)
	stopTraced(t, d, pid)

	bad, connects := networkUse(t, trace)
	for _, l := range bad {
		t.Errorf("network use off loopback or a name lookup: %s", l)
	}
	b, _ := os.ReadFile(trace)
	if !bytes.Contains(b, []byte("openat(")) {
		t.Fatalf("the trace holds no openat at all: strace did not trace the server\n%.2000s", b)
	}
	t.Logf("trace: %d bytes, %d connect/send calls, none off loopback", len(b), connects)
	if testing.Verbose() {
		t.Logf("%s", b)
	}

	// Control: the same reading catches a lookup made by the same binary,
	// given a host name to listen on.
	trace2 := filepath.Join(t.TempDir(), "trace2")
	cmd := exec.Command("ip", "netns", "exec", ns, "strace", "-f", "-qq", "-o", trace2,
		"-e", "trace="+traceCalls, "-e", "signal=none",
		testutil.Testimonyd(t), "serve", "--data", dir, "--allow-public-bind",
		"--witness-addr", "witness.example.invalid:0", "--investigator-addr", "127.0.0.1:0")
	out, _ := cmd.CombinedOutput()
	if bad, _ := networkUse(t, trace2); len(bad) == 0 {
		t.Errorf("the control run's lookup of witness.example.invalid was not caught; its output:\n%s", out)
	}
	// Control: a DNS packet to a resolver on loopback, with no resolver
	// file read, is caught too (by its UDP socket and port 53).
	trace3 := filepath.Join(t.TempDir(), "trace3")
	out, err = exec.Command("ip", "netns", "exec", ns, "strace", "-f", "-qq", "-o", trace3, "-e", "trace="+traceCalls,
		"bash", "-c", "exec 3<>/dev/udp/127.0.0.1/53; printf x >&3").CombinedOutput()
	if err != nil {
		t.Fatalf("the DNS control: %v %s", err, out)
	}
	if bad, _ := networkUse(t, trace3); len(bad) == 0 {
		b, _ := os.ReadFile(trace3)
		t.Errorf("a UDP packet to 127.0.0.1:53 was not caught; the trace:\n%s", b)
	}
}
