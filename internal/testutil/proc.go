package testutil

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Timeouts generous enough for a loaded machine: they catch a hang, they
// time nothing.
const (
	startTimeout = time.Minute      // until a server names its listeners
	stopTimeout  = 30 * time.Second // from a signal to the process's end
)

// Proc is a child process that a test watches while it runs.
type Proc struct {
	Cmd *exec.Cmd
	// Out holds the child's stdout and stderr, unless the caller set
	// Cmd.Stdout or Cmd.Stderr before Start.
	Out  *Buffer
	done chan struct{}
	err  error // Cmd.Wait's, once done is closed
}

// Start starts cmd, collects its output in Out, and kills it (and its
// process group, if it has one) when the test ends, if it still runs.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, Out: &Buffer{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Out
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", cmd.Args, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.done
	})
	return p
}

// Pid is the child's process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is what Cmd.Wait returned; call it only once the process has ended.
func (p *Proc) Err() error { return p.err }

// ExitCode is the process's exit code, -1 if a signal ended it; call it
// only once the process has ended.
func (p *Proc) ExitCode() int { return p.Cmd.ProcessState.ExitCode() }

// Signal sends sig to the process (not to its group).
func (p *Proc) Signal(sig os.Signal) { p.Cmd.Process.Signal(sig) }

// signal sends sig to the process's group where it leads one (strace and
// its child, a script and its server), else to the process.
func (p *Proc) signal(sig syscall.Signal) {
	if a := p.Cmd.SysProcAttr; a != nil && a.Setpgid {
		syscall.Kill(-p.Pid(), sig)
		return
	}
	p.Cmd.Process.Signal(sig)
}

// Wait waits for the process to end on its own and returns Cmd.Wait's
// error; after timeout it kills the process and fails the test.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.signal(syscall.SIGKILL)
		<-p.done
		t.Fatalf("%v hangs (killed after %v):\n%s", p.Cmd.Args, timeout, p.Out.String())
	}
	return p.err
}

// Stop sends sig (SIGTERM or SIGINT: a clean shutdown) and waits for the
// end; it returns Cmd.Wait's error, or nil if the process had ended
// already. A process that does not end is killed and the test fails.
func (p *Proc) Stop(t testing.TB, sig os.Signal) error {
	t.Helper()
	if p.Exited() {
		return nil
	}
	p.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopTimeout):
		p.signal(syscall.SIGKILL)
		<-p.done
		t.Errorf("%s did not stop on %v within %v:\n%s", p.Cmd.Args[0], sig, stopTimeout, p.Out.String())
		return p.err
	}
}

// Kill ends the process (and its group, if it leads one) with SIGKILL, as
// a crash does, and waits until it is gone.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Fatalf("%s did not die of SIGKILL within %v", p.Cmd.Args[0], stopTimeout)
	}
}

// Await polls the output until ok holds for it, and returns it. The test
// fails if the process ends first, or after timeout; what says what was
// awaited.
func (p *Proc) Await(t testing.TB, what string, timeout time.Duration, ok func(out string) bool) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := p.Out.String()
		if ok(out) {
			return out
		}
		if p.Exited() {
			// The output is whole once the process has been waited for.
			if out := p.Out.String(); ok(out) {
				return out
			}
			t.Fatalf("%s ended (%v) before %s:\n%s", p.Cmd.Args[0], p.err, what, p.Out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not %s within %v:\n%s", p.Cmd.Args[0], what, timeout, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Serving waits until testimonyd has logged its JSON line
// {"msg":"serving","listener":L,"addr":A} for every listener named, and
// returns their addresses by name. Name last the one it opens last (the
// control socket): the server is ready then.
func (p *Proc) Serving(t testing.TB, listeners ...string) map[string]string {
	t.Helper()
	addrs := map[string]string{}
	p.Await(t, "log serving on "+strings.Join(listeners, ", "), startTimeout, func(out string) bool {
		for line := range strings.Lines(out) {
			var l struct{ Msg, Listener, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "serving" {
				addrs[l.Listener] = l.Addr
			}
		}
		for _, name := range listeners {
			if _, ok := addrs[name]; !ok {
				return false
			}
		}
		return true
	})
	return addrs
}
