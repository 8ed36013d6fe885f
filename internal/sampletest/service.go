package sampletest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/syncbuf"
)

// BuildService builds the sample service, samples/fruitsvc, into a
// temporary directory and returns the binary's path.
func BuildService(t testing.TB) string {
	t.Helper()
	root, err := couchtest.Root()
	if err != nil {
		t.Fatalf("sampletest: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "fruitsvc")
	cmd := exec.Command("go", "build", "-o", bin, "./samples/fruitsvc")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sampletest: go build ./samples/fruitsvc: %v\n%s", err, out)
	}
	return bin
}

// Service is a running sample service.
type Service struct {
	// URL is its base URL, such as http://127.0.0.1:40123.
	URL string
	// Output is what it printed so far (its log).
	Output *syncbuf.Buffer
}

// StartService runs the service binary with the config file against the
// database at dbURL, on a free loopback port; waits until it answers
// GET /v1.0/_health; and stops it (SIGINT, then SIGKILL after 10 s) when
// the test ends, logging its output if the test failed. args are more
// flags.
func StartService(t testing.TB, bin, config, dbURL string, args ...string) *Service {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sampletest: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()

	s := &Service{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Output: &syncbuf.Buffer{}}
	cmd := exec.Command(bin, append([]string{"-config", config, "-database", dbURL, "-port", fmt.Sprint(port), "-ip", "127.0.0.1"}, args...)...)
	cmd.Stdout, cmd.Stderr = s.Output, s.Output
	// The service must not outlive a test binary that dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("sampletest: start %s: %v", bin, err)
	}
	// exited is closed when the service has exited, with its error in
	// waitErr: both the start-up wait and the cleanup may look.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("the service's output:\n%s", s.Output.String())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1.0/_health", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-exited:
			t.Fatalf("sampletest: the service exited before it answered: %v\n%s", waitErr, s.Output.String())
		case <-ctx.Done():
			t.Fatalf("sampletest: the service did not answer within a minute:\n%s", s.Output.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
