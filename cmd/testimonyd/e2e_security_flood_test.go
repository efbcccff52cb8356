//go:build e2e

package main

// A flood of the witness site, as a few hundred Tor circuits that send
// next to nothing can make it, against the real binary (issue 17.1).

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSecurityWitnessFloodSparesInvestigators: testimonyd runs with a file
// limit of 256 (prlimit), and 300 connections to the witness site each
// send the start of a url-encoded form and then nothing. Before issue 17
// they were held for ever and took every file the process had: neither
// site answered. Now: the investigator site answers while the flood lasts
// (each listener has its own share of the file limit), the server itself
// cuts off the stalled forms it took in — a 408 with Connection: close,
// at the form's body time-out (30 s, waited for in real time) — and the
// witness site answers once the flood stops.
func TestSecurityWitnessFloodSparesInvestigators(t *testing.T) {
	const (
		nofile = 256
		flood  = 300 // more than the file limit
		// the default Limits.FormWindow in server/web/http.go, and room for a loaded machine.
		cutBy = 30*time.Second + 15*time.Second
	)
	d := startServe(t, newDataDir(t), []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", nofile, nofile), "--"})
	start := time.Now()
	conns := make([]net.Conn, 0, flood)
	for range flood {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(d.witness, "http://"), 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d to the witness site: %v", len(conns)+1, err)
		}
		defer c.Close()
		fmt.Fprint(c, "POST /thread HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ncodename=")
		conns = append(conns, c)
	}
	time.Sleep(time.Second) // for the server to take in all it will

	cl := &http.Client{Timeout: 15 * time.Second}
	if res, err := cl.Get(d.inv + "/login"); err != nil {
		t.Errorf("the investigator site does not answer while the witness site is flooded: %v", err)
	} else {
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("investigator /login during the flood: %d", res.StatusCode)
		}
	}

	// The connections the server took in end with a 408; those still in
	// the listen queue wait their turn (their answers come after cutBy).
	var cut, other atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			c.SetReadDeadline(start.Add(cutBy))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			switch {
			case err != nil: // not answered yet
			case res.StatusCode == http.StatusRequestTimeout && res.Close:
				cut.Add(1)
			default:
				other.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d stalled forms cut off by the server within %v", cut.Load(), flood, cutBy)
	if cut.Load() == 0 {
		t.Errorf("no stalled form was cut off within %v: the server holds them", cutBy)
	}
	if other.Load() > 0 {
		t.Errorf("%d stalled forms got an answer other than 408 with Connection: close", other.Load())
	}

	for _, c := range conns {
		c.Close()
	}
	cl.Timeout = 30 * time.Second
	res, err := cl.Get(d.witness + "/")
	if err != nil {
		t.Fatalf("the witness site does not answer once the flood stops: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("witness / after the flood: %d", res.StatusCode)
	}
}
