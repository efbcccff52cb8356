package deploy_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha3"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"testimony/internal/testutil"
)

// clusterNode is one node of the shipped cluster configuration, rewritten
// for loopback: its ports, its files under a test directory.
type clusterNode struct {
	name                   string
	conf                   string
	client, route, monitor int
	proc                   *testutil.Proc
}

// makeCerts runs the shipped make-certs.sh.
func makeCerts(t *testing.T, dir string, args ...string) {
	t.Helper()
	out, err := exec.Command("sh", append([]string{"cluster/make-certs.sh", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("make-certs.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// clusterConfigs writes the shipped nats-server.conf for three loopback
// nodes a, b and c, with certificates made by make-certs.sh in dir.
func clusterConfigs(t *testing.T, dir string) []*clusterNode {
	t.Helper()
	shipped, err := os.ReadFile("cluster/nats-server.conf")
	if err != nil {
		t.Fatal(err)
	}
	makeCerts(t, dir, "ca")
	ports := testutil.FreePorts(t, 9)
	nodes := make([]*clusterNode, 3)
	for i, n := range []string{"a", "b", "c"} {
		nodes[i] = &clusterNode{name: "nats-" + n, client: ports[3*i], route: ports[3*i+1], monitor: ports[3*i+2]}
		makeCerts(t, dir, "node", "nats-"+n, "localhost", "127.0.0.1")
	}
	for _, nd := range nodes {
		text := string(shipped)
		for from, to := range map[string]string{
			"/etc/nats/tls/node.crt":  filepath.Join(dir, nd.name+".crt"),
			"/etc/nats/tls/node.key":  filepath.Join(dir, nd.name+".key"),
			"/etc/nats/tls/ca.crt":    filepath.Join(dir, "ca.crt"),
			"/var/lib/nats/jetstream": filepath.Join(dir, nd.name+"-js"),
			`"127.0.0.1:4222"`:        fmt.Sprintf(`"127.0.0.1:%d"`, nd.client),
			`"0.0.0.0:6222"`:          fmt.Sprintf(`"127.0.0.1:%d"`, nd.route),
			`"127.0.0.1:8222"`:        fmt.Sprintf(`"127.0.0.1:%d"`, nd.monitor),
		} {
			if !strings.Contains(text, from) {
				t.Fatalf("nats-server.conf has no %s", from)
			}
			text = strings.ReplaceAll(text, from, to)
		}
		for j, other := range nodes {
			from := other.name + ".example.org:6222"
			if !strings.Contains(text, from) {
				t.Fatalf("nats-server.conf has no route to %s", from)
			}
			text = strings.ReplaceAll(text, from, fmt.Sprintf("localhost:%d", nodes[j].route))
		}
		nd.conf = filepath.Join(dir, nd.name+".conf")
		if err := os.WriteFile(nd.conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

// command runs the node's nats-server with NODE_NAME set.
func (nd *clusterNode) command(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"-c", nd.conf}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_NAME="+nd.name)
	return cmd
}

// natsHello connects to a node's client port as a NATS client with cert
// (none if nil), sends CONNECT, then send and PING, and reads until the
// server refuses (-ERR) or until what it said satisfies done. It returns
// what the server said after INFO, or the error that ended the exchange.
func natsHello(addr string, roots *x509.CertPool, cert *tls.Certificate, send string, done func(string) bool) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	info, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("INFO: %w", err)
	}
	if !strings.Contains(info, `"tls_required":true`) {
		return "", fmt.Errorf("INFO does not require TLS: %s", info)
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return "", fmt.Errorf("handshake: %w", err)
	}
	if _, err := fmt.Fprintf(tc, "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":true,\"headers\":true}\r\n%sPING\r\n", send); err != nil {
		return "", err
	}
	r := bufio.NewReader(tc)
	var said strings.Builder
	for {
		l, err := r.ReadString('\n')
		said.WriteString(l)
		if err != nil {
			return said.String(), err
		}
		if strings.HasPrefix(l, "-ERR") || done(said.String()) {
			return said.String(), nil
		}
	}
}

// TestClusterNATS: the shipped nats-server.conf and make-certs.sh give,
// on three real nats-server processes (the pinned version), a cluster
// that forms over TLS routes with JetStream, that refuses a client
// without a certificate, with one from another CA, or with one of the CA
// whose name is not a user, and that serves JetStream to a testimonyd
// certificate.
func TestClusterNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nats-server processes")
	}
	bin := testutil.NATSServer(t)
	dir := t.TempDir()
	nodes := clusterConfigs(t, dir)
	for _, nd := range nodes {
		if out, err := nd.command(bin, "-t").CombinedOutput(); err != nil {
			t.Fatalf("nats-server -t -c %s: %v\n%s", nd.name, err, out)
		}
	}
	for _, nd := range nodes {
		nd.proc = testutil.Start(t, nd.command(bin))
	}
	c := &http.Client{Timeout: 2 * time.Second}
	for _, nd := range nodes {
		url := fmt.Sprintf("http://127.0.0.1:%d/routez", nd.monitor)
		nd.proc.Await(t, "route to the other two over TLS", time.Minute, func(string) bool {
			res, err := c.Get(url)
			if err != nil {
				return false
			}
			defer res.Body.Close()
			var rz struct {
				Routes []struct {
					RemoteName string `json:"remote_name"`
				} `json:"routes"`
			}
			if json.NewDecoder(res.Body).Decode(&rz) != nil {
				return false
			}
			peers := map[string]bool{}
			for _, r := range rz.Routes {
				peers[r.RemoteName] = true
			}
			return len(peers) == 2
		})
		health := fmt.Sprintf("http://127.0.0.1:%d/healthz", nd.monitor)
		nd.proc.Await(t, "report JetStream healthy", time.Minute, func(string) bool {
			res, err := c.Get(health)
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
	}

	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	load := func(dir, name string) *tls.Certificate {
		t.Helper()
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}
	makeCerts(t, dir, "client", "testimonyd-a")
	makeCerts(t, dir, "client", "testimonyd-x") // the CA's, but not a user
	other := filepath.Join(dir, "other")
	makeCerts(t, other, "ca")
	makeCerts(t, other, "client", "testimonyd-b") // a user's name, another CA

	addr := fmt.Sprintf("127.0.0.1:%d", nodes[1].client)
	// The testimonyd certificate is a user of the account that has
	// JetStream: $JS.API.INFO answers with the account's limits.
	pong := func(s string) bool { return strings.Contains(s, "PONG") }
	got, err := natsHello(addr, roots, load(dir, "testimonyd-a"), "SUB _INBOX.t 1\r\nPUB $JS.API.INFO _INBOX.t 0\r\n\r\n",
		func(s string) bool { return pong(s) && strings.Contains(s, `"limits"`) })
	if err != nil || strings.Contains(got, "-ERR") {
		t.Fatalf("testimonyd-a: %q, %v", got, err)
	}
	if !strings.Contains(got, "io.nats.jetstream.api.v1.account_info_response") {
		t.Errorf("testimonyd-a: no JetStream account info: %q", got)
	}
	for _, tc := range []struct {
		name string
		cert *tls.Certificate
	}{
		{"no certificate", nil},
		{"another CA's certificate", load(other, "testimonyd-b")},
		{"the CA's certificate of no user", load(dir, "testimonyd-x")},
	} {
		got, err := natsHello(addr, roots, tc.cert, "", pong)
		if err == nil && !strings.HasPrefix(got, "-ERR") {
			t.Errorf("%s: accepted: %q", tc.name, got)
		}
	}

	// The route port too asks for TLS, and refuses a peer without a
	// certificate of the CA.
	routeAddr := fmt.Sprintf("127.0.0.1:%d", nodes[0].route)
	if got, err := natsHello(routeAddr, roots, nil, "", pong); err == nil && !strings.HasPrefix(got, "-ERR") {
		t.Errorf("the route port accepted a peer without a certificate: %q", got)
	} else if err != nil && strings.Contains(err.Error(), "does not require TLS") {
		t.Error(err)
	}
	conf, _ := os.ReadFile("cluster/nats-server.conf")
	if !strings.Contains(string(conf), "sync_interval: always") {
		t.Error("jetstream does not fsync every write")
	}
}

// onionAddress is the v3 onion address of an ed25519 public key (tor's
// rend-spec-v3: base32 of key, checksum and version).
func onionAddress(pub ed25519.PublicKey) string {
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub)
	h.Write([]byte{3})
	b := append(append(append([]byte{}, pub...), h.Sum(nil)[:2]...), 3)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

// witnessInstanceTorrc is the shipped torrc with the one line the cluster
// README adds under the witness service.
func witnessInstanceTorrc(t *testing.T, dir string) string {
	t.Helper()
	path := torrcFor(t, dir)
	b, _ := os.ReadFile(path)
	witness := "HiddenServiceDir " + dir + "/testimony-witness/\n"
	if !bytes.Contains(b, []byte(witness)) {
		t.Fatalf("no witness service in %s", b)
	}
	b = bytes.Replace(b, []byte(witness), []byte(witness+"HiddenServiceOnionbalanceInstance 1\n"), 1)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClusterOnionbalance: the witness address over three instances, as
// far as a machine without the Tor network allows. Debian's tor accepts
// an instance's torrc with the README's line and its ob_config (and
// refuses it without); the frontend's torrc is valid; Debian's
// onionbalance loads the shipped config with real addresses and goes on
// to ask tor for a consensus, and refuses the config with its
// placeholders left in.
func TestClusterOnionbalance(t *testing.T) {
	tor := need(t, "tor", "tor")
	ob := need(t, "onionbalance", "onionbalance")
	obConfig := need(t, "onionbalance-config", "onionbalance")
	dir := t.TempDir()

	// The master key, as the README makes it.
	keys := filepath.Join(dir, "keys")
	if out, err := exec.Command(obConfig, "--hs-version", "v3", "-n", "3", "--no-interactive", "--output", keys).CombinedOutput(); err != nil {
		t.Fatalf("onionbalance-config: %v\n%s", err, out)
	}
	found, _ := filepath.Glob(filepath.Join(keys, "*.key"))
	if len(found) != 1 {
		t.Fatalf("onionbalance-config made %v", found)
	}
	master := strings.TrimSuffix(filepath.Base(found[0]), ".key")

	// An instance: valid with ob_config naming the master, not without.
	inst := filepath.Join(dir, "instance")
	os.MkdirAll(filepath.Join(inst, "testimony-witness"), 0o700)
	os.Chmod(inst, 0o700)
	torrc := witnessInstanceTorrc(t, inst)
	verify := func(path string) ([]byte, error) {
		return exec.Command(tor, "--verify-config", "-f", path, "--defaults-torrc", filepath.Join(filepath.Dir(path), "defaults")).CombinedOutput()
	}
	if out, err := verify(torrc); err == nil {
		t.Errorf("tor accepted an Onionbalance instance without ob_config:\n%s", out)
	}
	obc := filepath.Join(inst, "testimony-witness", "ob_config")
	if err := os.WriteFile(obc, []byte("MasterOnionAddress "+master+".onion\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(torrc); err != nil || !bytes.Contains(out, []byte("Configuration was valid")) {
		t.Fatalf("tor --verify-config of an instance: %v\n%s", err, out)
	}

	// The frontend's tor, on a free control port, without the network.
	front := filepath.Join(dir, "front")
	os.MkdirAll(filepath.Join(front, "data"), 0o700)
	os.Chmod(front, 0o700)
	port := testutil.FreePorts(t, 1)[0]
	shipped, err := os.ReadFile("cluster/torrc-frontend")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(shipped, []byte("ControlPort 127.0.0.1:9051\n")) {
		t.Fatal("torrc-frontend: no ControlPort 127.0.0.1:9051 (Debian's onionbalance default)")
	}
	text := strings.Replace(string(shipped), "ControlPort 127.0.0.1:9051", fmt.Sprintf("ControlPort 127.0.0.1:%d", port), 1) +
		"DataDirectory " + filepath.Join(front, "data") + "\nDisableNetwork 1\nLog notice stdout\n"
	ftorrc := filepath.Join(front, "torrc")
	os.WriteFile(ftorrc, []byte(text), 0o600)
	os.WriteFile(filepath.Join(front, "defaults"), nil, 0o600)
	if out, err := verify(ftorrc); err != nil {
		t.Fatalf("tor --verify-config of the frontend: %v\n%s", err, out)
	}
	p := testutil.Start(t, exec.Command(tor, "-f", ftorrc, "--defaults-torrc", filepath.Join(front, "defaults")))
	p.Await(t, "open its control port", time.Minute, func(out string) bool { return strings.Contains(out, "Opened Control listener") })

	// The shipped Onionbalance config with real addresses.
	yaml, err := os.ReadFile("cluster/onionbalance.yaml")
	if err != nil {
		t.Fatal(err)
	}
	run := func(conf string) string {
		t.Helper()
		path := filepath.Join(dir, "config.yaml")
		os.WriteFile(path, []byte(conf), 0o600)
		cmd := exec.Command(ob, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-c", path, "-v", "info")
		cmd.Env = append(os.Environ(), "ONIONBALANCE_LOG_LOCATION="+filepath.Join(dir, "ob.log"))
		done := make(chan []byte, 1)
		go func() { out, _ := cmd.CombinedOutput(); done <- out }()
		select {
		case out := <-done:
			return string(out)
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			t.Fatal("onionbalance neither ran on nor stopped")
			return ""
		}
	}
	if out := run(string(yaml)); !strings.Contains(out, "Cannot load instance with address") {
		t.Errorf("onionbalance took the config with its placeholders:\n%s", out)
	}
	conf := strings.Replace(string(yaml), "/etc/onionbalance/private_keys/MASTER.key", found[0], 1)
	for _, n := range []string{"A", "B", "C"} {
		pub, _, _ := ed25519.GenerateKey(nil)
		conf = strings.Replace(conf, "INSTANCE_"+n+".onion", onionAddress(pub)+".onion", 1)
	}
	out := run(conf)
	if !strings.Contains(out, "Loaded the config file") || strings.Contains(out, "ConfigError") {
		t.Fatalf("onionbalance did not load the config:\n%s", out)
	}
	// With no network tor has no consensus: that is as far as it goes here.
	if !strings.Contains(out, "consensus") {
		t.Errorf("onionbalance stopped before asking for a consensus:\n%s", out)
	}
}

// TestClusterNATSUnit: systemd accepts the shipped nats-server unit, and
// its exposure stays low (the network is open to it: routes cross it).
func TestClusterNATSUnit(t *testing.T) {
	sa := need(t, "systemd-analyze", "systemd")
	b, err := os.ReadFile("cluster/nats-server.service")
	if err != nil {
		t.Fatal(err)
	}
	const exec0 = "ExecStart=/usr/local/bin/nats-server"
	if !bytes.Contains(b, []byte(exec0)) {
		t.Fatalf("no %s", exec0)
	}
	unit := filepath.Join(t.TempDir(), "nats-server.service")
	os.WriteFile(unit, bytes.Replace(b, []byte(exec0), []byte("ExecStart="+testutil.NATSServer(t)), 1), 0o644)
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, _ = exec.Command(sa, "security", "--offline=yes", unit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for nats-server.service: (\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security:\n%s", out)
	}
	if lvl, _ := strconv.ParseFloat(string(m[1]), 64); lvl > 1.5 {
		t.Errorf("exposure level %s, want at most 1.5:\n%s", m[1], out)
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])
}
