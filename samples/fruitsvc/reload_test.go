package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
	"github.com/accord-db/accord/internal/syncbuf"
	"github.com/accord-db/accord/plugins"
)

// The tests that serve need the test database server; the others do not.
func TestMain(m *testing.M) { os.Exit(couchtest.MainLazy(m)) }

// service is fruitsvc running in-process on a fresh sample database.
type service struct {
	base   string // http://127.0.0.1:PORT
	stdout *syncbuf.Buffer
	stop   func() int
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+) `)

// serve runs fruitsvc with args (and a fresh database, port 0 and debug
// logs) until the test ends or stop is called.
func serve(t *testing.T, args ...string) *service {
	t.Helper()
	db := sampletest.NewDB(t, false)
	dbURL := couchtest.URL(t).JoinPath(db.Name()).String()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{stdout: &syncbuf.Buffer{}}
	var stderr syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append(args, "-database", dbURL, "-port", "0", "-log", "debug"), s.stdout, &stderr)
	}()
	var once sync.Once
	code := -1
	s.stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	t.Cleanup(func() { s.stop() })
	require.Eventually(t, func() bool {
		select {
		case code := <-done:
			done <- code
			return true
		default:
		}
		return listening.MatchString(s.stdout.String())
	}, 2*time.Minute, 10*time.Millisecond)
	m := listening.FindStringSubmatch(s.stdout.String())
	require.NotNil(t, m, "fruitsvc did not start; stderr: %s", stderr.String())
	s.base = m[1]
	return s
}

// get returns the decoded JSON body of a GET.
func (s *service) get(t *testing.T, path string) map[string]any {
	t.Helper()
	status, body := sampletest.Request(t, http.MethodGet, s.base+path, "", "")
	require.Equal(t, http.StatusOK, status, "%v", body)
	return body.(map[string]any)
}

// text returns the body of a GET that answers text.
func (s *service) text(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(s.base + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(data)
}

// module is the active module's hash as /v1.0/_metrics shows it.
func (s *service) module(t *testing.T) string {
	t.Helper()
	m, _ := s.get(t, "/v1.0/_metrics")["resolver"].(map[string]any)["module"].(string)
	return m
}

// createFruit creates a fruit and returns its fruit_id.
func (s *service) createFruit(t *testing.T) string {
	t.Helper()
	status, body := sampletest.Request(t, http.MethodPost, s.base+"/v1.0/fruits", "application/json", `{"color":"red"}`)
	require.Equal(t, http.StatusCreated, status, "%v", body)
	return body.(map[string]any)["fruit_id"].(string)
}

// place writes data to path as a deployment does: a complete file renamed
// over the old one.
func place(t *testing.T, path string, data []byte) string {
	t.Helper()
	require.NoError(t, os.WriteFile(path+".tmp", data, 0o600))
	require.NoError(t, os.Rename(path+".tmp", path))
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func regzip(t *testing.T, data []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, level)
	require.NoError(t, err)
	_, err = zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// backoffModules returns the built-in backoff as three files that differ
// byte for byte (so by hash) but are one module: gzipped as built,
// uncompressed, and gzipped again at another level.
func backoffModules(t *testing.T) (built, plain, again []byte) {
	t.Helper()
	built, err := plugins.Compressed("backoff")
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(built))
	require.NoError(t, err)
	plain, err = io.ReadAll(zr)
	require.NoError(t, err)
	again = regzip(t, plain, gzip.BestSpeed)
	require.NotEqual(t, built, again)
	return built, plain, again
}

const backoffConfig = `resolver:
  plugin: resolver.wasm.gz
  params: {max_retries: 50, base_ms: 25, jitter: full, max_delay_ms: 1000}
  timeout: 1s
`

// TestHotReloadUnderLoad replaces the plugin file of a running fruitsvc
// three times (twice valid, once broken) while 8 goroutines send tastings:
// no request fails, the broken module is refused and logged, the final
// module's hash is active on /v1.0/_metrics and /metrics, and the stored
// tastings are exactly the acknowledged ones.
func TestHotReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolver.wasm.gz")
	built, plain, again := backoffModules(t)
	first := place(t, path, built)
	config := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte(backoffConfig+"reload:\n  watch: 20ms\n"), 0o600))
	s := serve(t, "-config", config)
	require.Equal(t, first, s.module(t))
	fruits := []string{s.createFruit(t), s.createFruit(t)}

	const writers = 8
	stop := make(chan struct{})
	var mu sync.Mutex
	statuses := map[int]int{}
	acked := map[string]int{}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			id := fruits[i%len(fruits)]
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(s.base+"/v1.0/fruits/"+id+"/tastings", "application/json", nil)
				if err != nil {
					t.Errorf("tasting: %v", err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				if resp.StatusCode == http.StatusOK {
					acked[id]++
				}
				mu.Unlock()
			}
		})
	}
	tastings := func() int {
		mu.Lock()
		defer mu.Unlock()
		return statuses[http.StatusOK]
	}
	// Let the writers conflict under the first module for a while.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		require.Eventually(t, cond, 3*time.Minute, 20*time.Millisecond, "%s; log:\n%s", what, tail(s.stdout.String()))
	}
	waitFor("tastings under the first module", func() bool { return tastings() >= 20 })

	second := place(t, path, plain)
	waitFor("the second module active", func() bool { return s.module(t) == second })
	n := tastings()
	waitFor("tastings under the second module", func() bool { return tastings() >= n+20 })

	broken := place(t, path, built[:len(built)/3])
	waitFor("the broken module refused", func() bool { return strings.Contains(s.stdout.String(), "engine: reload refused") })
	assert.Equal(t, second, s.module(t), "the broken module was refused; the second serves on")
	n = tastings()
	waitFor("tastings after the refusal", func() bool { return tastings() >= n+20 })

	third := place(t, path, again)
	waitFor("the third module active", func() bool { return s.module(t) == third })
	n = tastings()
	waitFor("tastings under the third module", func() bool { return tastings() >= n+20 })
	close(stop)
	wg.Wait()

	t.Logf("statuses %v over 3 replacements of the plugin file", statuses)
	assert.Equal(t, []int{http.StatusOK}, keys(statuses), "zero failed requests")
	for _, id := range fruits {
		got := s.get(t, "/v1.0/fruits/"+id)["tastings"].(float64)
		assert.Equal(t, acked[id], int(got), "fruit %s holds exactly its acknowledged tastings", id)
	}
	assert.Equal(t, third, s.module(t))
	text := s.text(t, "/metrics")
	assert.Contains(t, text, fmt.Sprintf(`accord_plugin_module_info{resolver="backoff",sha256=%q} 1`, third))
	assert.Contains(t, text, `accord_plugin_reloads_total{resolver="backoff",result="replaced"} 2`)
	assert.Contains(t, text, `accord_plugin_reloads_total{resolver="backoff",result="refused"} 1`)
	log := s.stdout.String()
	assert.Contains(t, log, "sha256="+first, "the start-up line names the first module")
	assert.Regexp(t, `engine: reload refused.*sha256=`+second+`.*invalid module`, log, "the refusal names the module that kept serving")
	assert.NotContains(t, log, broken, "the broken file never served")
	assert.Regexp(t, `msg="engine: decision" plugin=resolver id=\S+ attempt=\d+ action=retry delay_ms=\d+ reason="retry \d+ of 50 after \d+ ms"`, log,
		"each decision at debug level")
	assert.Equal(t, 0, s.stop())
}

// TestSIGHUPReloadsAPinnedPlugin pins the plugin file: a file replaced
// under the pin is refused, and SIGHUP after the config names the new pin
// reloads it; a config that no longer parses is refused on SIGHUP.
func TestSIGHUPReloadsAPinnedPlugin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolver.wasm.gz")
	built, plain, _ := backoffModules(t)
	first := place(t, path, built)
	config := filepath.Join(dir, "config.yaml")
	writeConfig := func(pin string) {
		require.NoError(t, os.WriteFile(config, []byte(backoffConfig+"  sha256: "+pin+"\nreload:\n  watch: 20ms\n"), 0o600))
	}
	writeConfig(first)
	s := serve(t, "-config", config)
	require.Equal(t, first, s.module(t))

	second := place(t, path, plain)
	require.Eventually(t, func() bool { return strings.Contains(s.stdout.String(), "sha256 mismatch") }, time.Minute, 20*time.Millisecond,
		"the watcher tried the new file and its pin refused it")
	assert.Equal(t, first, s.module(t))

	require.NoError(t, os.WriteFile(config, []byte("resolver: [not, a, map\n"), 0o600))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(s.stdout.String(), "SIGHUP: the configuration is refused") }, time.Minute, 20*time.Millisecond)
	assert.Equal(t, first, s.module(t))

	writeConfig(second)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return s.module(t) == second }, 3*time.Minute, 20*time.Millisecond,
		"SIGHUP with the new pin; log:\n%s", tail(s.stdout.String()))
	id := s.createFruit(t)
	status, _ := sampletest.Request(t, http.MethodPost, s.base+"/v1.0/fruits/"+id+"/tastings", "application/json", "")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 0, s.stop())
}

func keys(m map[int]int) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// tail is the end of a log, for failure messages.
func tail(log string) string {
	if len(log) > 4000 {
		return "..." + log[len(log)-4000:]
	}
	return log
}

// TestReloadFixturesAtStart names conformance fixtures in the config's
// reload section (relative to the config file): a plugin that decides them
// as they say starts, one that does not is refused before the service
// listens.
func TestReloadFixturesAtStart(t *testing.T) {
	dir := t.TempDir()
	fixture, err := filepath.Abs(filepath.Join("..", "..", "testdata", "conflicts", "backoff-params.json"))
	require.NoError(t, err)
	data, err := os.ReadFile(fixture)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fixture.json"), data, 0o600))
	config := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte("reload:\n  fixtures: [fixture.json]\n"), 0o600))
	for _, tt := range []struct {
		plugin string
		code   int
	}{
		{"backoff", 0},
		{"basic", 2},
	} {
		t.Run(tt.plugin, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var stdout, stderr syncbuf.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"-config", config, "-plugin", tt.plugin,
					"-database", "http://127.0.0.1:1/accord_sample", "-port", "0"}, &stdout, &stderr)
			}()
			if tt.code != 0 {
				assert.Equal(t, tt.code, <-done)
				assert.Contains(t, stderr.String(), "fixture failed")
				assert.NotContains(t, stdout.String(), "service started")
				cancel()
				return
			}
			require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "service started") },
				time.Minute, 20*time.Millisecond, "stderr: %s", stderr.String())
			cancel()
			assert.Equal(t, 0, <-done)
		})
	}
}
