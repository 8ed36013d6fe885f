// Package couchtest gives tests a real CouchDB-compatible server.
//
// Unless COUCHDB_URL is set, the first test that asks for a server starts
// pouchdb-server (installed by `npm ci` from the repository's package.json)
// in memory on a free loopback port, and [Main] stops it when the test
// binary ends. With COUCHDB_URL set (for example
// http://admin:secret@127.0.0.1:5984) the same tests run against that
// server, Apache CouchDB 3.x included.
//
// A package that uses it declares
//
//	func TestMain(m *testing.M) { os.Exit(couchtest.Main(m)) }
//
// and each test takes its own freshly named database:
//
//	db := couchtest.NewDB(t) // created now, deleted when the test ends
//
// When no server can be had, the test fails with a message naming the
// command that fixes it; it never skips.
package couchtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/accord-db/accord/internal/modroot"
)

// EnvURL names the environment variable that points tests at an existing
// server instead of starting pouchdb-server.
const EnvURL = "COUCHDB_URL"

// fixHint is what a failing test tells the developer to do.
const fixHint = "run `make test` (or `npm ci` in the repository root) to install pouchdb-server, " +
	"or set " + EnvURL + " to a running CouchDB, e.g. " + EnvURL + "=http://admin:secret@127.0.0.1:5984"

var (
	startOnce sync.Once
	started   *server
	startErr  error
)

// server is a pouchdb-server this package started.
type server struct {
	url  *url.URL
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	out  *tailBuffer // the end of what the server printed
}

// Main starts the server unless COUCHDB_URL names one, exports its URL as
// COUCHDB_URL to the tests (so examples can read it too), runs them, and
// stops the server. Use it from TestMain: os.Exit(couchtest.Main(m)).
// If no server can be had, it says how to fix that and fails.
func Main(m *testing.M) int {
	if os.Getenv(EnvURL) == "" {
		startOnce.Do(func() { started, startErr = start() })
		if startErr != nil {
			fmt.Fprintf(os.Stderr, "couchtest: no CouchDB-compatible server: %v\nTo fix: %s\n", startErr, fixHint)
			return 1
		}
		os.Setenv(EnvURL, started.url.String())
		defer os.Unsetenv(EnvURL)
	}
	return finish(m.Run())
}

// finish stops the server this package started, and reports it if it
// died before the tests ended.
func finish(code int) int {
	if started == nil {
		return code
	}
	select {
	case <-started.done:
		fmt.Fprintf(os.Stderr, "couchtest: pouchdb-server exited during the tests (%v); the end of its output:\n%s\n", started.cmd.ProcessState, started.out.String())
		if code == 0 {
			code = 1
		}
	default:
	}
	started.stop()
	return code
}

// MainLazy runs the tests and stops the server if one of them started it.
// Unlike [Main] it starts no server up front, for packages where only a
// few tests or benchmarks need one. Use it from TestMain:
// os.Exit(couchtest.MainLazy(m)).
func MainLazy(m *testing.M) int {
	return finish(m.Run())
}

// URL returns the base URL of the test server, credentials included. It
// is COUCHDB_URL, set by the developer or by [Main]; without either it
// starts pouchdb-server on first use. It fails t if no server can be had.
func URL(t testing.TB) *url.URL {
	t.Helper()
	if started != nil {
		started.checkAlive(t)
	}
	if raw := os.Getenv(EnvURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			t.Fatalf("couchtest: %s=%q is not a server URL such as http://admin:secret@127.0.0.1:5984", EnvURL, raw)
		}
		return u
	}
	startOnce.Do(func() { started, startErr = start() })
	if startErr != nil {
		t.Fatalf("couchtest: no CouchDB-compatible server: %v\nTo fix: %s", startErr, fixHint)
	}
	u := *started.url
	return &u
}

// NewDB creates a database with a fresh name on the test server and
// deletes it when the test ends. It returns the database's name; the
// server's URL is [URL].
func NewDB(t testing.TB) string {
	t.Helper()
	base := URL(t)
	name := DBName(t)
	do(t, base, http.MethodPut, name, http.StatusCreated)
	t.Cleanup(func() {
		if os.Getenv("COUCHTEST_KEEP") != "" {
			return
		}
		do(t, base, http.MethodDelete, name, http.StatusOK)
	})
	return name
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// DBName returns a fresh database name derived from the test's name, valid
// for CouchDB (lower case, starting with a letter) and unique across runs.
func DBName(t testing.TB) string {
	name := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_")
	name = strings.Trim(name, "_")
	if len(name) > 60 {
		name = name[:60]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "accord_test_" + name + "_" + hex.EncodeToString(b[:])
}

// do sends a bodiless request for a database and fails t unless the
// status is want.
func do(t testing.TB, base *url.URL, method, db string, want int) {
	t.Helper()
	u := base.JoinPath(db)
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		t.Fatalf("couchtest: %s %s: %v", method, db, err)
	}
	if pw, ok := base.User.Password(); ok {
		req.SetBasicAuth(base.User.Username(), pw)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("couchtest: %s %s: %v\nTo fix: %s", method, db, err, fixHint)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want && !(want == http.StatusCreated && resp.StatusCode == http.StatusAccepted) {
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		t.Fatalf("couchtest: %s %s: status %d, want %d: %s", method, db, resp.StatusCode, want, body.String())
	}
}

// Root returns the repository root: the nearest directory above the
// working directory that holds go.mod.
func Root() (string, error) { return modroot.Find() }

// start launches pouchdb-server in memory on a free loopback port and
// waits until it answers. A port taken between choosing and binding is
// retried with another.
func start() (*server, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(root, "node_modules", ".bin", "pouchdb-server")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s is not installed", bin)
	}
	var lastErr error
	for range 3 {
		s, err := startOn(bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOn(bin string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "couchtest-")
	if err != nil {
		return nil, err
	}
	// The server writes its config and log file; keep them out of the
	// repository.
	cmd := exec.Command(bin, "--in-memory", "--no-stdout-logs",
		"--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--config", filepath.Join(dir, "config.json"))
	cmd.Dir = dir
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	// The server must not outlive a test binary that crashes or is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &server{
		url:  &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port), Path: "/"},
		cmd:  cmd,
		dir:  dir,
		done: make(chan struct{}),
		out:  stderr,
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := s.wait(30 * time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w (server said: %s)", err, strings.TrimSpace(stderr.String()))
	}
	return s, nil
}

// checkAlive fails t, with the end of the server's output, if the server
// this package started has exited.
func (s *server) checkAlive(t testing.TB) {
	t.Helper()
	select {
	case <-s.done:
		t.Fatalf("couchtest: pouchdb-server exited during the tests (%v); the end of its output:\n%s", s.cmd.ProcessState, s.out.String())
	default:
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// wait polls GET / until the server answers 200.
func (s *server) wait(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url.String(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("pouchdb-server exited before it answered on %s", s.url.Host)
		case <-ctx.Done():
			return fmt.Errorf("pouchdb-server did not answer on %s within %v", s.url.Host, limit)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		// Kill the whole process group: the npm shim may have children.
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
	os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
