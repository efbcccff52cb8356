package testutil

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// natsServerPkg is the NATS server the replicated store is tested against,
// installed from the module proxy at a pinned version (Debian's 2.9
// package lacks sync_interval).
const natsServerPkg = "github.com/nats-io/nats-server/v2@v2.15.3"

// NATSServer is the path of nats-server, built once.
func NATSServer(t testing.TB) string { t.Helper(); return Build(t, natsServerPkg) }

// NATSNode is one nats-server of a [NATSCluster], on loopback.
type NATSNode struct {
	Name    string
	URL     string // nats://127.0.0.1:PORT, for clients
	Monitor string // http://127.0.0.1:PORT, its monitoring endpoint
	Dir     string // its JetStream store
	Conf    string // its configuration file
	Proc    *Proc
	bin     string
}

// NATSCluster starts n nats-server processes on loopback, each with
// JetStream syncing every write to disk before it acknowledges
// (sync_interval: always) and routes to the others, and waits until every
// one reports itself healthy with JetStream ready. They are killed when
// the test ends.
func NATSCluster(t testing.TB, n int) []*NATSNode {
	t.Helper()
	bin := NATSServer(t)
	ports := FreePorts(t, 3*n)
	root := t.TempDir()
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3*i+2]))
	}
	nodes := make([]*NATSNode, n)
	for i := range n {
		nd := &NATSNode{
			Name:    fmt.Sprintf("n%d", i+1),
			URL:     fmt.Sprintf("nats://127.0.0.1:%d", ports[3*i]),
			Monitor: fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+1]),
			Dir:     filepath.Join(root, fmt.Sprintf("n%d", i+1)),
			bin:     bin,
		}
		conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n"+
			"jetstream { store_dir: %q, sync_interval: always }\n",
			nd.Name, ports[3*i], ports[3*i+1], nd.Dir)
		if n > 1 {
			conf += fmt.Sprintf("cluster { name: testimony, listen: 127.0.0.1:%d, routes: [%s] }\n",
				ports[3*i+2], strings.Join(routes, ", "))
		}
		nd.Conf = filepath.Join(root, nd.Name+".conf")
		if err := os.WriteFile(nd.Conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		nodes[i] = nd
	}
	for _, nd := range nodes {
		nd.Start(t)
	}
	for _, nd := range nodes {
		nd.WaitHealthy(t)
	}
	return nodes
}

// Start runs the node (again, after Kill), with its store as it was.
func (nd *NATSNode) Start(t testing.TB) {
	t.Helper()
	nd.Proc = Start(t, exec.Command(nd.bin, "-c", nd.Conf))
}

// Kill ends the node with SIGKILL, as a crash or a seizure would.
func (nd *NATSNode) Kill(t testing.TB) {
	t.Helper()
	nd.Proc.Kill(t)
}

// WaitHealthy waits until the node's /healthz answers 200: it has
// JetStream running and, in a cluster, a current view of its meta group.
func (nd *NATSNode) WaitHealthy(t testing.TB) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	nd.Proc.Await(t, "report healthy on "+nd.Monitor+"/healthz", startTimeout, func(string) bool {
		res, err := c.Get(nd.Monitor + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

// Info reads the INFO line a client gets on connecting to the node.
func (nd *NATSNode) Info(t testing.TB) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(nd.URL, "nats://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("INFO from %s: %v", nd.URL, err)
	}
	return line
}

// FreePorts returns n distinct loopback ports free at the time of asking.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
