package couchtest

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// EnvDist names the environment variable that points at the folder holding
// Apache CouchDB's `couchdb` start script (the repository's
// ../shared/couchdb unless set; `make test-couchdb` sets it).
const EnvDist = "COUCHDB_DIST"

// Dist returns the path of the `couchdb` start script: $COUCHDB_DIST/couchdb,
// else ../shared/couchdb/couchdb beside the repository. It fails if there
// is none.
func Dist() (string, error) {
	dir := os.Getenv(EnvDist)
	if dir == "" {
		root, err := Root()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "..", "shared", "couchdb")
	}
	script := filepath.Join(dir, "couchdb")
	if fi, err := os.Stat(script); err != nil || fi.IsDir() {
		return "", fmt.Errorf("no Apache CouchDB start script at %s: set %s to the folder that holds it", script, EnvDist)
	}
	return script, nil
}

// CouchDB is an Apache CouchDB server a test started for itself, on a port
// of its own, with its data in a temporary directory. It can be stopped and
// started again on the same port and data, to play an outage.
type CouchDB struct {
	script string
	dir    string
	url    *url.URL
}

// StartCouchDB starts a single-node Apache CouchDB 3.x from [Dist] and stops
// it when the test ends, showing the end of its log if the test failed. It
// fails t, saying how to fix it, when there is none.
func StartCouchDB(t testing.TB) *CouchDB {
	t.Helper()
	s, err := newCouchDB(t)
	if err == nil {
		err = s.start()
	}
	if err != nil {
		t.Fatalf("couchtest: %v", err)
	}
	return s
}

// newCouchDB prepares an Apache CouchDB in a temporary directory of t's,
// stopped and its log shown (if t failed) when t ends; it does not start
// it.
func newCouchDB(t testing.TB) (*CouchDB, error) {
	script, err := Dist()
	if err != nil {
		return nil, err
	}
	s := &CouchDB{script: script, dir: t.TempDir()}
	t.Cleanup(func() {
		_ = s.run("stop")
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(s.dir, "couch.log")); err == nil {
				t.Logf("couchtest: the end of the log of the CouchDB in %s:\n%s", s.dir, log[max(0, len(log)-8<<10):])
			}
		}
	})
	return s, nil
}

// URL returns the server's URL, credentials included.
func (s *CouchDB) URL() *url.URL { u := *s.url; return &u }

// Dir is where the server keeps its data and its log (couch.log).
func (s *CouchDB) Dir() string { return s.dir }

// Start starts the server (again), on the port it had before if it ran
// already, and waits until it answers.
func (s *CouchDB) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("couchtest: %v", err)
	}
}

func (s *CouchDB) start() error {
	args := []string{"start", s.dir}
	if s.url != nil {
		args = append(args, s.url.Port())
	}
	out, err := exec.Command(s.script, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return fmt.Errorf("start Apache CouchDB in %s: %w", s.dir, err)
	}
	u, err := url.Parse(strings.TrimSpace(string(out)))
	if err != nil || u.Host == "" {
		return fmt.Errorf("start Apache CouchDB in %s: no URL in its answer", s.dir)
	}
	s.url = u
	return nil
}

// Stop stops the server; its data stays for [CouchDB.Start].
func (s *CouchDB) Stop(t testing.TB) {
	t.Helper()
	if err := s.run("stop"); err != nil {
		t.Fatalf("couchtest: stop Apache CouchDB: %v", err)
	}
}

func (s *CouchDB) run(verb string) error {
	out, err := exec.Command(s.script, verb, s.dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// StartCluster starts a joined n-node Apache CouchDB 3.x cluster from
// [Dist] (q=2, and n=min(n, 3) copies of each document, so a write quorum
// of 2 of 3) on loopback, and returns each node's URL, credentials
// included, in node order. Any node coordinates any request. The cluster
// is stopped when the test ends, and the end of each node's log shown if
// the test failed. Starting takes about 13 s for 3 nodes. It fails t,
// saying how to fix it, when there is no [Dist].
func StartCluster(t testing.TB, n int) []*url.URL {
	t.Helper()
	if n < 1 {
		t.Fatalf("couchtest: a cluster of %d nodes", n)
	}
	script, err := Dist()
	if err != nil {
		t.Fatalf("couchtest: %v", err)
	}
	dir := t.TempDir()
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop-cluster", dir).CombinedOutput(); err != nil {
			t.Logf("couchtest: stop the cluster in %s: %v: %s", dir, err, out)
		}
		if t.Failed() {
			for i := 1; i <= n; i++ {
				if log, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("node%d", i), "couch.log")); err == nil {
					t.Logf("couchtest: the end of the log of cluster node %d:\n%s", i, log[max(0, len(log)-4<<10):])
				}
			}
		}
	})
	out, err := exec.Command(script, "cluster", dir, strconv.Itoa(n)).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		t.Fatalf("couchtest: start an Apache CouchDB cluster of %d nodes in %s: %v", n, dir, err)
	}
	var urls []*url.URL
	for line := range strings.Lines(string(out)) {
		u, err := url.Parse(strings.TrimSpace(line))
		if err != nil || u.Host == "" {
			t.Fatalf("couchtest: start an Apache CouchDB cluster: a line of its answer is not a URL")
		}
		urls = append(urls, u)
	}
	if len(urls) != n {
		t.Fatalf("couchtest: start an Apache CouchDB cluster of %d nodes: %d URLs in its answer", n, len(urls))
	}
	return urls
}
