package samples_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
)

// hostileConfig is a sample config with short server timeouts, so that
// the tests below see them cut clients off.
const hostileConfig = `resolver:
  plugin: basic
server:
  read_header_timeout: 1s
  read_timeout: 1s
  idle_timeout: 1s
`

// startStrict builds and starts the sample service with hostileConfig
// against a fresh sample database.
func startStrict(t *testing.T) service {
	t.Helper()
	config := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte(hostileConfig), 0o600))
	db := sampletest.NewDB(t, false)
	return service{sampletest.StartService(t, sampletest.BuildService(t), config, couchtest.URL(t).JoinPath(db.Name()).String())}
}

// TestSlowBodyIsCutOff trickles a request body one byte every 200 ms: the
// service answers 408 once read_timeout has passed and closes the
// connection, long before the body is complete.
func TestSlowBodyIsCutOff(t *testing.T) {
	s := startStrict(t)
	body := `{"color":"` + strings.Repeat("r", 52) + `"}`
	require.Len(t, body, 64)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /v1.0/fruits HTTP/1.1\r\nHost: fruit\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	require.NoError(t, err)

	type answer struct {
		resp *http.Response
		body string
		err  error
	}
	answered := make(chan answer, 1)
	br := bufio.NewReader(conn)
	go func() {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		data, err := io.ReadAll(resp.Body)
		answered <- answer{resp: resp, body: string(data), err: err}
	}()
	sent := 0
	var got answer
trickle:
	for sent < len(body) {
		select {
		case got = <-answered:
			break trickle
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := conn.Write([]byte{body[sent]}); err != nil {
			break
		}
		sent++
	}
	if got.resp == nil && got.err == nil {
		got = <-answered
	}
	t.Logf("sent %d of %d body bytes before the service answered", sent, len(body))
	require.NoError(t, got.err)
	assert.Equal(t, http.StatusRequestTimeout, got.resp.StatusCode, got.body)
	assert.Contains(t, got.body, `"error":"request_timeout"`)
	assert.Less(t, sent, len(body), "the service did not wait for the whole trickled body")
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = br.ReadByte()
	// Closed: a FIN (EOF), or a reset when the close found unread bytes.
	assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET), "the service closed the connection: %v", err)

	status, fruits := s.do(t, "GET", "/v1.0/fruits", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Empty(t, fruits, "nothing was created")
}

// TestIdleConnectionsAreClosed opens 500 connections and leaves them
// idle, half of them after one keep-alive request: the service closes
// every one of them (read_header_timeout and idle_timeout), and still
// answers.
func TestIdleConnectionsAreClosed(t *testing.T) {
	s := startStrict(t)
	addr := strings.TrimPrefix(s.URL, "http://")
	const n = 500
	conns := make([]net.Conn, 0, n)
	readers := make([]*bufio.Reader, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
		br := bufio.NewReader(c)
		readers = append(readers, br)
		if i%2 == 1 {
			_, err = io.WriteString(c, "GET /v1.0/_health HTTP/1.1\r\nHost: fruit\r\n\r\n")
			require.NoError(t, err)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.False(t, resp.Close, "a keep-alive connection")
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for i, c := range conns {
		wg.Go(func() {
			// A generous bound: failing it means the connection was
			// never closed, not that the service was slow.
			_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
			_, err := readers[i].ReadByte()
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				mu.Lock()
				open++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Zero(t, open, "connections the service left open")
	status, _ := s.do(t, "GET", "/v1.0/_health", "")
	assert.Equal(t, http.StatusOK, status)
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
