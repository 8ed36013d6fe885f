package couchtest

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Restartable is a database server of a test's own, on disk, that the
// test can stop and start again on the same port and data: an outage.
// Without COUCHDB_URL it is a pouchdb-server on disk; with COUCHDB_URL
// set (the suite runs against Apache CouchDB) it is an Apache CouchDB
// started from [Dist].
type Restartable struct {
	// URL is the server's base URL, credentials included.
	URL *url.URL
	// Kind is "pouchdb-server" or "couchdb".
	Kind string

	mu    sync.Mutex
	up    bool
	start func() error
	stop  func() error
}

// NewRestartable starts a server for t and stops it when the test ends.
// It fails t, saying how to fix it, if no server can be started.
func NewRestartable(t testing.TB) *Restartable {
	t.Helper()
	root, err := Root()
	if err != nil {
		t.Fatalf("couchtest: %v", err)
	}
	r := &Restartable{}
	// COUCHDB_URL set by the developer, not by Main for the pouchdb-server
	// it started.
	if started == nil && os.Getenv(EnvURL) != "" {
		err = r.couchDB(t)
	} else {
		err = r.pouchDB(t, root)
	}
	if err != nil {
		t.Fatalf("couchtest: no restartable %s: %v\nTo fix: %s", r.Kind, err, fixHint)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

// Stop stops the server; its data stays.
func (r *Restartable) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.up {
		return nil
	}
	r.up = false
	return r.stop()
}

// Start starts the stopped server again, on the same port and data, and
// returns once it answers.
func (r *Restartable) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.up {
		return nil
	}
	if err := r.start(); err != nil {
		return err
	}
	r.up = true
	return nil
}

// pouchDB sets r up as a pouchdb-server keeping its data in a directory.
func (r *Restartable) pouchDB(t testing.TB, root string) error {
	r.Kind = "pouchdb-server"
	bin := filepath.Join(root, "node_modules", ".bin", "pouchdb-server")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s is not installed", bin)
	}
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		return err
	}
	r.URL = &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port), Path: "/"}
	var s *server
	r.start = func() error {
		cmd := exec.Command(bin, "--dir", dir, "--no-stdout-logs",
			"--host", "127.0.0.1", "--port", fmt.Sprint(port),
			"--config", filepath.Join(dir, "config.json"))
		cmd.Dir = dir
		out := &tailBuffer{max: 16 << 10}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", bin, err)
		}
		s = &server{url: r.URL, cmd: cmd, done: make(chan struct{}), out: out}
		go func() { _ = cmd.Wait(); close(s.done) }()
		if err := s.wait(30 * time.Second); err != nil {
			s.dir = "" // keep the data
			s.stop()
			return fmt.Errorf("%w (server said: %s)", err, strings.TrimSpace(out.String()))
		}
		return nil
	}
	r.stop = func() error {
		s.stop() // s.dir is empty: the data stays
		return nil
	}
	if err := r.start(); err != nil {
		return err
	}
	r.up = true
	return nil
}

// couchDB sets r up as an Apache CouchDB of its own (see [StartCouchDB]).
func (r *Restartable) couchDB(t testing.TB) error {
	r.Kind = "couchdb"
	s, err := newCouchDB(t)
	if err != nil {
		return err
	}
	r.start = func() error {
		if err := s.start(); err != nil {
			return err
		}
		r.URL = s.URL()
		return nil
	}
	r.stop = func() error { return s.run("stop") }
	if err := r.start(); err != nil {
		return err
	}
	r.up = true
	return nil
}
