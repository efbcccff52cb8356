package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// machine describes the machine the report was written on.
func machine() string {
	var b strings.Builder
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "unknown"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0]); len(f) >= 2 {
			if kb, err := strconv.Atoi(f[1]); err == nil {
				mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	osName := ""
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	goVer, _ := exec.Command("go", "version").Output()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "- CPU: %s, %d logical cores (GOMAXPROCS %d)\n", model, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "- Memory: %s\n", mem)
	fmt.Fprintf(&b, "- OS: %s, kernel %s\n", osName, strings.TrimSpace(string(kernel)))
	fmt.Fprintf(&b, "- Disk (of %s, where the benchmarks' databases live): %s\n", os.TempDir(), disk(os.TempDir()))
	fmt.Fprintf(&b, "- %s\n", strings.TrimSpace(string(goVer)))
	fmt.Fprintf(&b, "- Load average when the report was written: %s\n", strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
	fmt.Fprintf(&b, "- Date: %s\n", time.Now().UTC().Format(time.DateOnly))
	return b.String()
}

// disk describes the block device holding dir, from /sys: its name,
// whether the kernel calls it rotational, and its model if it has one.
func disk(dir string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return "unknown"
	}
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&^0xfff
	minor := dev&0xff | (dev>>12)&^0xff
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return fmt.Sprintf("device %d:%d (not a block device: a virtual or overlay file system)", major, minor)
	}
	name := filepath.Base(real)
	queue := filepath.Join(real, "queue")
	if _, err := os.Stat(queue); err != nil { // a partition: the disk is the parent
		queue = filepath.Join(filepath.Dir(real), "queue")
	}
	desc := "/dev/" + name
	if rot, err := os.ReadFile(filepath.Join(queue, "rotational")); err == nil {
		if strings.TrimSpace(string(rot)) == "1" {
			desc += ", rotational according to the kernel (a virtual disk often says so whatever backs it)"
		} else {
			desc += ", non-rotational (SSD or NVMe)"
		}
	}
	for _, p := range []string{filepath.Join(real, "device", "model"), filepath.Join(filepath.Dir(real), "device", "model")} {
		if m, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(m)) != "" {
			desc += ", model " + strings.TrimSpace(string(m))
			break
		}
	}
	if strings.HasPrefix(name, "vd") {
		desc += ", virtio"
	}
	return desc
}
