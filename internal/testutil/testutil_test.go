package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestMain(m *testing.M) { Main(m) }

// TestBuffer: writers on many goroutines and a reader at once (run with
// -race), and nothing lost.
func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}

// TestBuildOnce: the age CLI builds, runs, and a second Build reuses the
// binary.
func TestBuildOnce(t *testing.T) {
	bin := Age(t)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "v1.") {
		t.Fatalf("age --version: %v %q", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if again := Age(t); again != bin {
		t.Errorf("second build at %s, first at %s", again, bin)
	}
	if fi2, err := os.Stat(bin); err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("the binary was built again: %v", err)
	}
	if filepath.Dir(bin) != builds.dir || !strings.HasPrefix(filepath.Base(builds.dir), "testutil-bin-") {
		t.Errorf("built at %s, not in the directory Main removes (%s)", bin, builds.dir)
	}
}

// TestServingAndStop: Serving waits for every listener named, whatever
// else the child prints, and Stop ends it with the signal given.
func TestServingAndStop(t *testing.T) {
	p := Start(t, exec.Command("sh", "-c", `
		echo not json
		echo '{"msg":"serving","listener":"witness","addr":"127.0.0.1:1"}' >&2
		sleep 0.3
		echo '{"msg":"other","listener":"control","addr":"x"}' >&2
		echo '{"msg":"serving","listener":"control","addr":"/tmp/c"}' >&2
		exec sleep 60`))
	addrs := p.Serving(t, "witness", "control")
	if addrs["witness"] != "127.0.0.1:1" || addrs["control"] != "/tmp/c" {
		t.Errorf("addresses %v", addrs)
	}
	if p.Exited() {
		t.Fatal("exited already")
	}
	err := p.Stop(t, syscall.SIGTERM)
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("Stop: %v, want the end by SIGTERM", err)
	}
	if !p.Exited() || p.ExitCode() != -1 {
		t.Errorf("after Stop: exited %v, code %d", p.Exited(), p.ExitCode())
	}
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("Stop of an ended process: %v", err)
	}
}

// TestKillGroup: Kill of a process that leads a group kills its children
// too, as a crash test of strace and its server needs.
func TestKillGroup(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 60 & echo $!; wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := Start(t, cmd)
	out := p.Await(t, "print its child's pid", time.Minute, func(out string) bool { return strings.HasSuffix(out, "\n") })
	child, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(out)
	}
	p.Kill(t)
	if p.Err() == nil {
		t.Error("the killed shell exited cleanly")
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break // gone, or dead and not yet reaped
		}
		if time.Now().After(deadline) {
			syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("the shell's child %d outlived Kill: %s", child, stat)
		}
	}
}

// TestWaitExitCode: Wait returns the child's end, ExitCode its status.
func TestWaitExitCode(t *testing.T) {
	p := Start(t, exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"))
	if err := p.Wait(t, time.Minute); err == nil || p.ExitCode() != 3 {
		t.Errorf("Wait: %v, code %d", err, p.ExitCode())
	}
	if got := p.Out.String(); !strings.Contains(got, "out\n") || !strings.Contains(got, "err\n") {
		t.Errorf("output %q", got)
	}
}

// page runs a script that would change its title.
const page = `<!doctype html><title>static</title><script>document.title = "ran"</script><p id=p>hello</p>`

// TestChromiumScriptsOff: a page's script does not run in Chromium's
// context, and does in ChromiumCommand's (scripts on), so that the first
// check can fail.
func TestChromiumScriptsOff(t *testing.T) {
	file := filepath.Join(t.TempDir(), "page.html")
	if err := os.WriteFile(file, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := Chromium(t, chromedp.WindowSize(800, 600))
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible(chromedp.ID("p"))); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "static" {
		t.Errorf("the title is %q: the page's script ran", title)
	}
	dom, err := ChromiumCommand(t, "--dump-dom", "file://"+file).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dom), "<title>ran</title>") {
		t.Errorf("with scripts on, the script did not run:\n%s", dom)
	}
}

// TestNATSCluster: three real nats-server processes form a JetStream
// cluster on loopback; with one SIGKILLed the other two stay healthy, and
// the killed one comes back with its store.
func TestNATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs nats-server")
	}
	nodes := NATSCluster(t, 3)
	for _, nd := range nodes {
		info := nd.Info(t)
		if !strings.HasPrefix(info, "INFO ") || !strings.Contains(info, `"jetstream":true`) || !strings.Contains(info, `"server_name":"`+nd.Name+`"`) {
			t.Errorf("%s: INFO %s", nd.Name, info)
		}
	}
	if out := nodes[0].Proc.Out.String(); !strings.Contains(out, "2.15.3") {
		t.Errorf("not the pinned version:\n%s", out)
	}
	nodes[2].Kill(t)
	for _, nd := range nodes[:2] {
		nd.WaitHealthy(t)
	}
	nodes[2].Start(t)
	nodes[2].WaitHealthy(t)
}
