// Package testutil holds what the tests of several packages need from the
// world outside the process: the module's own commands built once, a
// child process watched while it runs, the stock age CLI, and a headless
// Chromium with JavaScript off. Only tests import it (deps_test.go at the
// module's root says so).
//
// # Building a command
//
// [Build] compiles a command of the module (or of a dependency in go.mod,
// such as the age CLI) once per test binary, with go build and no race
// detector, into a directory that lives until the tests end. A package
// that builds must remove that directory at exit, so its TestMain calls
// [Main]:
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
//
// # Running a child
//
// [Start] runs a command with its output collected in a [Buffer];
// [Proc.Serving] waits for the JSON log lines in which testimonyd names
// its listeners, [Proc.Stop] asks the process to end, [Proc.Kill] ends it
// with SIGKILL, as a crash test wants. Whatever a test leaves running is
// killed when the test ends.
//
// # A NATS cluster
//
// [NATSCluster] starts real nats-server processes (built at a pinned
// version from the module proxy, with JetStream syncing every write) as a
// cluster on loopback, for the replicated store; a [NATSNode] can be
// killed and started again over its store.
//
// # A browser
//
// [Chromium] starts a headless Chromium with scripts disabled, as Tor
// Browser's "Safest" mode has it; [ChromiumCommand] runs the same binary
// with the same switches for a one-off screenshot or DOM dump.
package testutil
