//go:build e2e

package main

// The crash battery for the console's long operations: SIGKILL during a
// backup (of the server, or of the backup command itself, hot or cold),
// during a purge (the command, or the server that runs it) and during a
// compaction. See e2e_crash_test.go for the rounds and the seed.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"

	"testimony/internal/testutil"
	"testimony/store"
)

// crashSpawn starts a console command as a child that a test may kill.
func crashSpawn(t *testing.T, args ...string) *testutil.Proc {
	t.Helper()
	return testutil.Start(t, exec.Command(testutil.Testimonyd(t), args...))
}

// crashKillAfter kills p with SIGKILL after d unless it ended first; it
// reports whether the kill came first.
func crashKillAfter(t *testing.T, p *testutil.Proc, d time.Duration) (killed bool) {
	t.Helper()
	select {
	case <-p.Done():
		return false
	case <-time.After(d):
	}
	p.Kill(t)
	return !p.Cmd.ProcessState.Exited()
}

// timed runs testimonyd to its end and returns how long it took.
func crashTimed(t *testing.T, args ...string) time.Duration {
	t.Helper()
	began := time.Now()
	mustRun(t, args...)
	return time.Since(began)
}

// crashAllGood reads every item of a stopped data directory and fails the
// test on any that does not read whole; it returns the ids read.
func crashAllGood(t *testing.T, dataDir string, id age.Identity) map[string]bool {
	t.Helper()
	good, bad := crashReadAll(t, dataDir, id)
	for iid, err := range bad {
		t.Errorf("item %s is visible but does not read whole: %v", iid, err)
	}
	ids := map[string]bool{}
	for _, ci := range good {
		ids[ci.it.ID] = true
	}
	return ids
}

// crashMustCheck runs testimonyd check on a data directory.
func crashMustCheck(t *testing.T, round int, dataDir string) {
	t.Helper()
	if r := runBin(t, "check", "--data", dataDir); r.code != 0 {
		t.Errorf("round %d: check exit %d: %s%s", round, r.code, r.stdout, r.stderr)
	}
}

// crashBackupFile checks a backup file that a killed or cut backup left
// claimed complete (at its final name): it must pass check and restore
// with every item whole.
func crashBackupFile(t *testing.T, round int, file string, id age.Identity, want map[string]bool) {
	t.Helper()
	if r := runBin(t, "check", "--file", file); r.code != 0 {
		t.Errorf("round %d: %s is at its final name but does not check: %s", round, file, r.stderr)
		return
	}
	restored := newDataDir(t)
	mustRun(t, "restore", file, "--data", restored)
	got := crashAllGood(t, restored, id)
	for iid := range want {
		if !got[iid] {
			t.Errorf("round %d: backup %s lacks item %s", round, file, iid)
		}
	}
	os.RemoveAll(filepath.Dir(restored))
}

// crashPartials lists the temporary files a backup to file left beside it.
func crashPartials(t *testing.T, file string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+".partial-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCrashDuringBackup: a SIGKILL of the server during a hot backup, of
// the backup command during a hot backup, and of the backup command during
// a cold one (no server). Afterwards the database checks clean and serves,
// a backup file at its final name always checks and restores whole, and
// what a killed command leaves is a hidden .partial file, never the name
// asked for.
func TestCrashDuringBackup(t *testing.T) {
	rounds := crashRounds(t)
	rng := crashRand(t)
	rs, ident := testRecipients(t)
	id := ident.AgeIdentity()
	dir := newDataDir(t)
	// Ballast, so that a backup takes long enough to be cut.
	days := slices.Repeat([]string{daysAgo(1)}, 64)
	want := map[string]bool{}
	for _, p := range plantItems(t, dir, rs, 512<<10, days...) {
		want[p.id] = true
	}
	out := t.TempDir()

	for _, mode := range []string{"kill the server", "kill the hot backup", "kill the cold backup"} {
		t.Run(mode, func(t *testing.T) {
			var d *daemon
			if mode != "kill the cold backup" {
				d = startServe(t, dir, nil)
			}
			full := crashTimed(t, "backup", "-o", filepath.Join(out, "full.db"), "--data", dir)
			t.Logf("an uninterrupted backup takes %v", full.Round(time.Millisecond))
			var killed, cut, whole, partials, partialBad int
			for round := range rounds {
				file := filepath.Join(out, strings.ReplaceAll(mode, " ", "-")+"-"+time.Now().Format("150405.000")+".db")
				delay := crashDelay(rng, time.Millisecond, full*6/5)
				p := crashSpawn(t, "backup", "-o", file, "--data", dir)
				code := -1
				switch mode {
				case "kill the server":
					time.Sleep(delay)
					d.Kill(t)
					p.Wait(t, time.Minute)
					code = p.ExitCode()
					if code == 0 {
						whole++
					} else {
						cut++
					}
				default:
					if crashKillAfter(t, p, delay) {
						killed++
					} else {
						code = p.ExitCode()
						if code != 0 {
							t.Errorf("round %d: backup failed without a kill: %s", round, p.Out.String())
						}
					}
				}
				_, err := os.Stat(file)
				switch {
				case err == nil && code > 0:
					t.Errorf("round %d: the backup failed (exit %d) but left %s:\n%s", round, code, file, p.Out.String())
				case err == nil:
					crashBackupFile(t, round, file, id, want)
				case code == 0:
					t.Errorf("round %d: the backup said it succeeded but %s is missing", round, file)
				}
				if code > 0 && !strings.Contains(p.Out.String(), "backup") {
					t.Errorf("round %d: a cut backup exits %d without saying why: %s", round, code, p.Out.String())
				}
				// What a killed command leaves is hidden and marked partial;
				// whatever it holds, it is not the file asked for.
				left := crashPartials(t, file)
				partials += len(left)
				if code >= 0 && len(left) > 0 {
					t.Errorf("round %d: a backup that ended on its own left %v", round, left)
				}
				for _, f := range left {
					if r := runBin(t, "check", "--file", f); r.code != 0 {
						partialBad++
					}
					os.Remove(f)
				}
				os.Remove(file)

				// The live database is intact: serve comes back on it,
				// check passes, and every item reads whole.
				if d == nil || d.Exited() {
					d = startServe(t, dir, nil)
				}
				crashMustCheck(t, round, dir)
				if mode == "kill the cold backup" || round == rounds-1 {
					d.stop(t)
					d = nil
					got := crashAllGood(t, dir, id)
					if len(got) != len(want) {
						t.Errorf("round %d: %d items, want %d", round, len(got), len(want))
					}
				}
			}
			if d != nil {
				d.stop(t)
			}
			t.Logf("%d rounds: server killed mid-backup %d times (backup cut %d, whole %d); backup command killed %d times, leaving %d hidden .partial files (%d of them cut short: check refuses them)",
				rounds, whole+cut, cut, whole, killed, partials, partialBad)
		})
	}
}

// TestCrashDuringPurge: old items are planted, then "testimonyd purge" is
// killed mid-way (even rounds: the command itself, working on the file;
// odd rounds: the server it asked). Each planted item is then whole or
// gone, recent items all stay, and the database checks clean.
func TestCrashDuringPurge(t *testing.T) {
	rounds := crashRounds(t)
	rng := crashRand(t)
	rs, ident := testRecipients(t)
	id := ident.AgeIdentity()
	dir := newDataDir(t)
	keep := map[string]bool{}
	for _, p := range plantItems(t, dir, rs, 16<<10, daysAgo(0), daysAgo(1), daysAgo(29)) {
		keep[p.id] = true
	}
	old := func() map[string]bool {
		var days []string
		for i := range 120 {
			days = append(days, daysAgo(31+i%200))
		}
		m := map[string]bool{}
		for _, p := range plantItems(t, dir, rs, 16<<10, days...) {
			m[p.id] = true
		}
		return m
	}
	old()
	full := crashTimed(t, "purge", "--older-than", "30", "--data", dir)
	t.Logf("an uninterrupted purge of 120 items takes %v", full.Round(time.Millisecond))
	var purged, left int
	for round := range rounds {
		olds := old()
		delay := crashDelay(rng, time.Millisecond, full*6/5)
		server := round%2 == 1
		if server {
			d := startServe(t, dir, nil)
			p := crashSpawn(t, "purge", "--older-than", "30", "--data", dir)
			time.Sleep(delay)
			d.Kill(t)
			p.Wait(t, time.Minute)
			startServe(t, dir, nil).stop(t)
		} else {
			p := crashSpawn(t, "purge", "--older-than", "30", "--data", dir)
			crashKillAfter(t, p, delay)
		}
		crashMustCheck(t, round, dir)
		got := crashAllGood(t, dir, id)
		for iid := range keep {
			if !got[iid] {
				t.Errorf("round %d: recent item %s was purged", round, iid)
			}
		}
		n := 0
		for iid := range olds {
			if got[iid] {
				n++
			}
		}
		for iid := range got {
			if !keep[iid] && !olds[iid] {
				t.Errorf("round %d: item %s of an earlier round survived its purge", round, iid)
			}
		}
		purged += len(olds) - n
		left += n
		t.Logf("round %2d (%s killed after %3d ms): %3d of %d old items purged, %3d whole",
			round, map[bool]string{true: "server", false: "purge"}[server], delay.Milliseconds(), len(olds)-n, len(olds), n)
		// The rest goes now, so that each round starts alike.
		mustRun(t, "purge", "--older-than", "30", "--data", dir)
	}
	t.Logf("%d rounds: %d old items purged before the kill, %d left whole, none partial", rounds, purged, left)
}

// TestCrashDuringCompaction: "testimonyd compact" is killed mid-way. The
// database file is then still the original, whole (or, if the kill came
// after the rename, the compacted one, whole): it checks clean and holds
// every item; a second compact succeeds.
func TestCrashDuringCompaction(t *testing.T) {
	rounds := crashRounds(t)
	rng := crashRand(t)
	rs, ident := testRecipients(t)
	id := ident.AgeIdentity()
	dir := newDataDir(t)
	days := slices.Repeat([]string{daysAgo(2)}, 48)
	keep := map[string]bool{}
	for _, p := range plantItems(t, dir, rs, 256<<10, days...) {
		keep[p.id] = true
	}
	// Free pages for the compaction to leave out: old items, purged.
	garbage := func() {
		days := slices.Repeat([]string{daysAgo(90)}, 16)
		plantItems(t, dir, rs, 256<<10, days...)
		mustRun(t, "purge", "--older-than", "30", "--data", dir)
	}
	garbage()
	dbPath := filepath.Join(dir, dbFile)
	full := crashTimed(t, "compact", "--data", dir)
	t.Logf("an uninterrupted compaction takes %v", full.Round(time.Millisecond))
	var killed, replaced int
	for round := range rounds {
		garbage()
		before, err := os.Stat(dbPath)
		if err != nil {
			t.Fatal(err)
		}
		delay := crashDelay(rng, time.Millisecond, full*3/2)
		p := crashSpawn(t, "compact", "--data", dir)
		if crashKillAfter(t, p, delay) {
			killed++
		} else if c := p.ExitCode(); c != 0 {
			t.Errorf("round %d: compact failed without a kill: %s", round, p.Out.String())
		}
		after, err := os.Stat(dbPath)
		if err != nil {
			t.Fatalf("round %d: the database file is gone: %v", round, err)
		}
		swapped := !os.SameFile(before, after)
		if swapped {
			replaced++
		}
		var leftovers []string
		if m, _ := filepath.Glob(dbPath + ".*"); m != nil {
			for _, l := range m {
				leftovers = append(leftovers, filepath.Base(l))
			}
		}
		crashMustCheck(t, round, dir)
		got := crashAllGood(t, dir, id)
		if len(got) != len(keep) {
			t.Errorf("round %d: %d items after the kill, want %d", round, len(got), len(keep))
		}
		for iid := range keep {
			if !got[iid] {
				t.Errorf("round %d: item %s is gone", round, iid)
			}
		}
		// Compacting again works, whatever the kill left beside the file;
		// its time (with the machine's load now) scales the next kill.
		full = max(full, crashTimed(t, "compact", "--data", dir))
		crashMustCheck(t, round, dir)
		if got := crashAllGood(t, dir, id); len(got) != len(keep) {
			t.Errorf("round %d: %d items after the second compaction, want %d", round, len(got), len(keep))
		}
		if left, _ := filepath.Glob(dbPath + ".*"); len(left) > 0 {
			t.Errorf("round %d: a finished compaction left %v", round, left)
		}
		t.Logf("round %2d: killed after %3d ms: file %s; beside it: %v",
			round, delay.Milliseconds(), map[bool]string{true: "replaced by the compacted one", false: "the original"}[swapped], leftovers)
	}
	t.Logf("%d rounds: compact killed %d times; the file was replaced whole %d times, left whole as it was the other times", rounds, killed, replaced)
}

// killedBy reports whether a process ended by signal sig, itself or as
// strace reports a child that did (exit status 128+sig).
func killedBy(ee *exec.ExitError, sig syscall.Signal) bool {
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && (ws.Signaled() && ws.Signal() == sig || ws.Exited() && ws.ExitStatus() == 128+int(sig))
}

// crashItemIDs opens a database file read-only, checks it, and returns
// its item ids.
func crashItemIDs(t *testing.T, path string) (map[string]bool, error) {
	t.Helper()
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		return nil, err
	}
	items, err := db.Items()
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, it := range items {
		ids[it.ID] = true
	}
	return ids, nil
}

// TestCrashDuringRestore: restore is SIGKILLed at each of its steps (every
// fsync, link and rename it makes) and after random delays; after
// every kill testimony.db is there, passes check, and is wholly the old
// database or wholly the backup; and a restore run again then succeeds.
func TestCrashDuringRestore(t *testing.T) {
	rs, _ := testRecipients(t)
	src := newDataDir(t)
	days := slices.Repeat([]string{daysAgo(1)}, 24)
	plantItems(t, src, rs, 256<<10, days...)
	backupFile := filepath.Join(t.TempDir(), "backup.db")
	mustRun(t, "backup", "-o", backupFile, "--data", src)
	newIDs, err := crashItemIDs(t, backupFile)
	if err != nil {
		t.Fatal(err)
	}
	equal := func(a, b map[string]bool) bool {
		if len(a) != len(b) {
			return false
		}
		for k := range a {
			if !b[k] {
				return false
			}
		}
		return true
	}
	fresh := func() (string, map[string]bool) {
		dir := newDataDir(t)
		plantItems(t, dir, rs, 64<<10, daysAgo(3), daysAgo(2))
		ids, err := crashItemIDs(t, filepath.Join(dir, dbFile))
		if err != nil {
			t.Fatal(err)
		}
		return dir, ids
	}
	after := func(what, dir string, oldIDs map[string]bool) string {
		t.Helper()
		got, err := crashItemIDs(t, filepath.Join(dir, dbFile))
		if err != nil {
			t.Errorf("%s: testimony.db after the kill: %v", what, err)
			return "broken"
		}
		state := "?"
		switch {
		case equal(got, oldIDs):
			state = "old"
		case equal(got, newIDs):
			state = "restored"
		default:
			t.Errorf("%s: testimony.db holds %d items, neither the old %d nor the backup's %d", what, len(got), len(oldIDs), len(newIDs))
		}
		// Restoring again works, whatever the kill left.
		mustRun(t, "restore", backupFile, "--data", dir)
		if got, err := crashItemIDs(t, filepath.Join(dir, dbFile)); err != nil || !equal(got, newIDs) {
			t.Errorf("%s: a second restore: %d items, %v", what, len(got), err)
		}
		return state
	}

	// The steps that change what the directory holds, under strace: SIGKILL
	// as the process enters its first fsync (the copy written, not yet
	// synced), link (the copy checked) and rename (the old file linked),
	// the call not made; and once the rename is made, while strace holds
	// its return. (strace counts calls per thread, and Go moves between
	// threads, so only a first call is a well-defined point.)
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace is not installed: apt-get install -y strace (.ci/run does)")
	}
	traced := func(inject string) *exec.Cmd {
		cmd := exec.Command("strace", "-f", "-qq", "-o", os.DevNull, "-e", "trace=fsync,/^link,/^rename",
			"-e", "inject="+inject, testutil.Testimonyd(t), "restore", backupFile, "--data", "")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // strace and restore, killed together
		return cmd
	}
	for _, step := range []struct{ inject, want string }{
		{"fsync:signal=SIGKILL:when=1", "old"},
		{"/^link:signal=SIGKILL:when=1", "old"},
		{"/^rename:signal=SIGKILL:when=1", "old"},
	} {
		dir, oldIDs := fresh()
		cmd := traced(step.inject)
		cmd.Args[len(cmd.Args)-1] = dir
		out, err := cmd.CombinedOutput()
		// strace ends as its child did: by the same signal.
		if ee, ok := err.(*exec.ExitError); !ok || !killedBy(ee, syscall.SIGKILL) {
			t.Fatalf("restore with %s was not killed: %v\n%s", step.inject, err, out)
		}
		if got := after("kill at "+step.inject, dir, oldIDs); got != step.want {
			t.Errorf("kill at %s: testimony.db is the %s one, want the %s one", step.inject, got, step.want)
		}
	}
	{
		dir, oldIDs := fresh()
		cmd := traced("/^rename:delay_exit=30000000")
		cmd.Args[len(cmd.Args)-1] = dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The rename is made once the old file has its second name and the
		// copy has gone from its own.
		renamed := func() bool {
			kept, _ := filepath.Glob(filepath.Join(dir, dbFile+".before-restore-*"))
			_, err := os.Stat(filepath.Join(dir, "."+dbFile+".restoring"))
			return len(kept) > 0 && os.IsNotExist(err)
		}
		for deadline := time.Now().Add(time.Minute); !renamed(); time.Sleep(2 * time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, dbFile)); err != nil {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("a rename left no %s: %v", dbFile, err)
			}
			if time.Now().After(deadline) {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatal("restore made no rename in a minute")
			}
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if got := after("kill after the rename", dir, oldIDs); got != "restored" {
			t.Errorf("kill after the rename: testimony.db is the %s one, want the restored one", got)
		}
	}

	rng := crashRand(t)
	dir, _ := fresh()
	full := crashTimed(t, "restore", backupFile, "--data", dir)
	for round := range crashRounds(t) {
		dir, oldIDs := fresh()
		delay := crashDelay(rng, time.Millisecond, full*3/2)
		p := crashSpawn(t, "restore", backupFile, "--data", dir)
		killed := crashKillAfter(t, p, delay)
		t.Logf("round %d: killed %v after %v: testimony.db is the %s one", round, killed, delay, after(fmt.Sprintf("round %d", round), dir, oldIDs))
	}
}
