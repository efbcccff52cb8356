package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSampleConfigCopyMatchesDeploy(t *testing.T) {
	deploy, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	if string(deploy) != sampleConfig {
		t.Fatal("cmd/testimonyd/config_sample.toml differs from deploy/testimonyd.toml: cp deploy/testimonyd.toml cmd/testimonyd/config_sample.toml")
	}
}

// TestInitCommand: init makes the data directory 0700, the key 0600, a
// database and a commented config that config check accepts; a second
// init refuses and changes nothing.
func TestInitCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir", "data")
	r := mustRun(t, "init", "--data", dir)
	if !strings.Contains(r.stdout, "created "+dir) {
		t.Errorf("stdout: %s", r.stdout)
	}
	for name, mode := range map[string]os.FileMode{"": 0o700, keyFile: 0o600, dbFile: 0o600, configFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", filepath.Join(dir, name), fi.Mode().Perm(), mode)
		}
	}
	cfgText, _ := os.ReadFile(filepath.Join(dir, configFile))
	if !strings.Contains(string(cfgText), "data_dir = \""+dir+"\"\n") || !strings.Contains(string(cfgText), "# Escrow keys") {
		t.Errorf("config file lacks data_dir or comments:\n%s", cfgText)
	}
	r = mustRun(t, "config", "check", "--config", filepath.Join(dir, configFile))
	if !strings.Contains(r.stdout, "data_dir = \""+dir+"\"") || !strings.Contains(r.stdout, `session_idle = "30m0s"`) {
		t.Errorf("config check output:\n%s", r.stdout)
	}
	key1, _ := os.ReadFile(filepath.Join(dir, keyFile))

	r = runBin(t, "init", "--data", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "refusing to overwrite") {
		t.Errorf("second init: exit %d: %s", r.code, r.stderr)
	}
	key2, _ := os.ReadFile(filepath.Join(dir, keyFile))
	if string(key1) != string(key2) || len(key1) != 32 {
		t.Error("second init changed the server key")
	}
	// A directory holding only a config written by hand is also refused.
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, configFile), []byte("# mine\n"), 0o600)
	if r := runBin(t, "init", "--data", dir2); r.code != 1 {
		t.Errorf("init over an existing config: exit %d", r.code)
	}
	if b, _ := os.ReadFile(filepath.Join(dir2, configFile)); string(b) != "# mine\n" {
		t.Error("init overwrote a config file")
	}
}

// TestConfigCheckCommand: the real binary names an unknown key, and a
// flag overrides the file in the printed result.
func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("data_dir = \"/srv/t\"\nmax_upload_mb = 100\nretension_days = 3\n"), 0o600)
	r := runBin(t, "config", "check", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, `unknown setting "retension_days"`) {
		t.Errorf("unknown key: exit %d: %s", r.code, r.stderr)
	}
	os.WriteFile(cfg, []byte("data_dir = \"/srv/t\"\nmax_upload_mb = 100\nretention_days = 3\n"), 0o600)
	r = mustRun(t, "config", "check", "--config", cfg, "--retention-days", "9")
	for _, want := range []string{"max_upload_mb = 100", "retention_days = 9", `witness_addr = "127.0.0.1:8080"`, "secure_cookies = true"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config check output lacks %q:\n%s", want, r.stdout)
		}
	}
	os.WriteFile(cfg, []byte("data_dir = \"/srv/t\"\nwitness_addr = \"0.0.0.0:80\"\nlog_level = \"chatty\"\n"), 0o600)
	r = runBin(t, "config", "check", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "non-loopback") || !strings.Contains(r.stderr, "log_level") {
		t.Errorf("two problems should both be named: exit %d: %s", r.code, r.stderr)
	}
	// A data directory not made yet is a warning, not an error.
	os.WriteFile(cfg, []byte("data_dir = \"not-yet\"\n"), 0o600)
	r = mustRun(t, "config", "check", "--config", cfg)
	if !strings.Contains(r.stderr, "warning: data_dir "+filepath.Join(dir, "not-yet")) || !strings.Contains(r.stderr, "testimonyd init") {
		t.Errorf("no warning about the missing data directory: %s", r.stderr)
	}
}
