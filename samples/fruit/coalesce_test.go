package fruit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
	"github.com/accord-db/accord/internal/syncbuf"
	"github.com/accord-db/accord/samples/fruit"
)

// newCoalescedEnv starts the service with the resolver rc names and
// write coalescing on.
func newCoalescedEnv(t *testing.T, rc fruit.ResolverConfig, maxBatch int) *env {
	t.Helper()
	return newCoalescedEnvOn(t, sampletest.NewDB(t, false), rc, maxBatch)
}

// newCoalescedEnvOn is newCoalescedEnv over the database db.
func newCoalescedEnvOn(t *testing.T, db *couch.DB, rc fruit.ResolverConfig, maxBatch int) *env {
	t.Helper()
	r, closeResolver, err := fruit.OpenResolver(context.Background(), rc, discard)
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeResolver(context.Background()) })
	e := &env{t: t, r: r, log: &syncbuf.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), Logger: logger})
	require.NoError(t, err)
	e.db = client.DB(db.Name())
	e.svc, err = fruit.New(fruit.Options{DB: e.db, Resolver: r, Logger: logger, RequestTimeout: 20 * time.Second,
		Coalesce: true, MaxBatch: maxBatch})
	require.NoError(t, err)
	e.srv = httptest.NewServer(e.svc)
	t.Cleanup(e.srv.Close)
	return e
}

// answer is one request's status and error name.
type answer struct {
	status int
	err    string
}

// post sends a tasting (or, with a body, a PUT of color) and returns its
// answer.
func post(t *testing.T, base, id, color string) answer {
	method, path, body := "POST", "/v1.0/fruits/"+id+"/tastings", ""
	if color != "" {
		method, path, body = "PUT", "/v1.0/fruits/"+id, fmt.Sprintf(`{"color":%q}`, color)
	}
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return answer{}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, path, err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	_ = jsonUnmarshal(string(b), &e)
	return answer{resp.StatusCode, e.Error}
}

// TestCoalesce holds a fruit's first write in flight until n-1 more
// tastings of it are queued, so that the next write carries exactly those
// n-1: one change applied to the revision read, n-2 conflicts the
// resolver decides without a write to CouchDB. Whatever each resolver
// decides, the answers say it, the counter holds exactly the tastings
// answered 200, and CouchDB saw one write per batch (two), not one per
// tasting and more per conflict.
func TestCoalesce(t *testing.T) {
	const n = 8
	tests := []struct {
		name    string
		rc      fruit.ResolverConfig
		want    map[answer]int // the answers of the n-1 queued tastings
		action  string         // the resolver's decision of each queued conflict
		writes  int            // CouchDB writes (PUTs) of the n tastings; 0: more than 2
		decided int
	}{
		{"merge", fruit.ResolverConfig{Plugin: "merge", Params: map[string]any{"fields": map[string]any{"tastings": "counter", "updated_on": "max"}}},
			map[answer]int{{200, ""}: n - 1}, "merge", 2, n - 2},
		{"retry", fruit.ResolverConfig{Plugin: "retry"}, map[answer]int{{200, ""}: n - 1}, "retry", 2, n - 2},
		{"basic gives up", fruit.ResolverConfig{Plugin: "basic"}, map[answer]int{{200, ""}: 1, {409, "conflict"}: n - 2}, "fail", 2, n - 2},
		{"accept supersedes", fruit.ResolverConfig{Plugin: "../../engine/testdata/accept.wasm"},
			map[answer]int{{200, ""}: 1, {409, "superseded"}: n - 2}, "accept", 2, n - 2},
		{"an invalid merge fails closed", fruit.ResolverConfig{Plugin: "../../engine/testdata/parrot.wasm",
			Params: map[string]any{"action": "merge", "doc": map[string]any{"_id": "someone_else", "type": "fruit_v1.0"}}},
			map[answer]int{{200, ""}: 1, {503, "resolver_failed"}: n - 2}, "", 2, 0},
		// backoff waits before each retry, so its retries are written
		// by later writes: more than two.
		{"backoff", fruit.ResolverConfig{Plugin: "backoff", Params: map[string]any{"max_retries": 50, "base_ms": 5, "jitter": "full"}},
			map[answer]int{{200, ""}: n - 1}, "retry", 0, n - 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCoalescedEnv(t, tt.rc, 0)
			id := e.create("red")["fruit_id"].(string)
			before := len(e.log.String())
			held, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			fruit.HoldWrites(e.svc, func(string, int) {
				once.Do(func() { close(held); <-release })
			})
			first := make(chan answer, 1)
			go func() { first <- post(t, e.srv.URL, id, "") }()
			<-held
			var mu sync.Mutex
			got := map[answer]int{}
			var wg sync.WaitGroup
			for range n - 1 {
				wg.Go(func() {
					a := post(t, e.srv.URL, id, "")
					mu.Lock()
					got[a]++
					mu.Unlock()
				})
			}
			require.Eventually(t, func() bool { return fruit.Queued(e.svc, id) == n-1 }, 10*time.Second, time.Millisecond,
				"the %d tastings sent while the first write is held wait for the next write", n-1)
			close(release)
			wg.Wait()
			assert.Equal(t, answer{200, ""}, <-first, "the first tasting, written alone")
			assert.Equal(t, tt.want, got)

			_, body := e.do("GET", "/v1.0/fruits/"+id, "", "")
			assert.EqualValues(t, 1+tt.want[answer{200, ""}], body.(map[string]any)["tastings"],
				"the counter holds exactly the tastings answered 200")
			puts := countPUTs(t, e.log.String()[before:])
			if tt.writes > 0 {
				assert.Equal(t, tt.writes, puts, "CouchDB writes: the first tasting's, then one for the batch")
			} else {
				assert.Greater(t, puts, 2, "retries after a wait are written later")
			}
			_, m := e.do("GET", "/v1.0/_metrics", "", "")
			res := m.(map[string]any)["resolver"].(map[string]any)
			if tt.action != "" {
				assert.GreaterOrEqual(t, res["decisions"].(map[string]any)[tt.action], float64(tt.decided),
					"each queued conflict was decided by the resolver: %v", res["decisions"])
			} else {
				assert.EqualValues(t, n-2, res["failures"], "each invalid decision is a resolver failure")
			}
			co := m.(map[string]any)["coalesce"].(map[string]any)
			assert.GreaterOrEqual(t, co["changes"], float64(n), "%v", co)
			if tt.writes > 0 {
				assert.Equal(t, map[string]any{"writes": float64(2), "changes": float64(n), "largest": float64(n - 1)}, co)
			}
		})
	}
}

// TestCoalesceMaxBatch checks that a write carries at most MaxBatch
// changes: the ones beyond wait for the write after.
func TestCoalesceMaxBatch(t *testing.T) {
	const n, maxBatch = 7, 3
	e := newCoalescedEnv(t, fruit.ResolverConfig{Plugin: "retry"}, maxBatch)
	id := e.create("red")["fruit_id"].(string)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var sizes []int
	fruit.HoldWrites(e.svc, func(_ string, size int) {
		mu.Lock()
		sizes = append(sizes, size)
		mu.Unlock()
		once.Do(func() { close(held); <-release })
	})
	var wg sync.WaitGroup
	wg.Go(func() { assert.Equal(t, answer{200, ""}, post(t, e.srv.URL, id, "")) })
	<-held
	for range n - 1 {
		wg.Go(func() { assert.Equal(t, answer{200, ""}, post(t, e.srv.URL, id, "")) })
	}
	require.Eventually(t, func() bool { return fruit.Queued(e.svc, id) == n-1 }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.Equal(t, []int{1, 3, 3}, sizes, "the queued six in writes of at most three")
	_, body := e.do("GET", "/v1.0/fruits/"+id, "", "")
	assert.EqualValues(t, n, body.(map[string]any)["tastings"])
}

// TestCoalesceAbandoned checks that a change whose request ends while it
// waits for the write before it is answered at once and never written.
func TestCoalesceAbandoned(t *testing.T) {
	e := newCoalescedEnv(t, fruit.ResolverConfig{Plugin: "retry"}, 0)
	id := e.create("red")["fruit_id"].(string)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fruit.HoldWrites(e.svc, func(string, int) { once.Do(func() { close(held); <-release }) })
	first := make(chan answer, 1)
	go func() { first <- post(t, e.srv.URL, id, "") }()
	<-held
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "POST", e.srv.URL+"/v1.0/fruits/"+id+"/tastings", nil)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	gone := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		gone <- err
	}()
	require.Eventually(t, func() bool { return fruit.Queued(e.svc, id) == 1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.Error(t, <-gone)
	require.Eventually(t, func() bool { return fruit.Queued(e.svc, id) == 1 }, time.Second, time.Millisecond,
		"the abandoned change stays queued, marked, until the writer skips it")
	close(release)
	assert.Equal(t, answer{200, ""}, <-first)
	// The writer skips the abandoned change: no second write.
	require.Eventually(t, func() bool { return fruit.Queued(e.svc, id) == 0 }, 10*time.Second, time.Millisecond)
	_, body := e.do("GET", "/v1.0/fruits/"+id, "", "")
	assert.EqualValues(t, 1, body.(map[string]any)["tastings"], "the abandoned tasting was not written")
	_, m := e.do("GET", "/v1.0/_metrics", "", "")
	assert.EqualValues(t, 1, m.(map[string]any)["coalesce"].(map[string]any)["writes"])
}

// TestCoalescedContention is TestContention's merge rows with color
// changes among the tastings, through the merge sample as it ships
// (coalescing on): every request lands, the counter is exact, and
// CouchDB sees fewer writes than requests.
func TestCoalescedContention(t *testing.T) {
	cfg, err := fruit.LoadConfig(filepath.Join("..", "merge", "config.yaml"))
	require.NoError(t, err)
	require.True(t, cfg.Writes.Coalesce, "the merge sample coalesces")
	for _, tt := range []struct{ tastings, puts int }{{32, 16}, {64, 32}} {
		t.Run(fmt.Sprintf("%d tastings %d puts", tt.tastings, tt.puts), func(t *testing.T) {
			e := newCoalescedEnv(t, cfg.Resolver, cfg.Writes.MaxBatch)
			id := e.create("red")["fruit_id"].(string)
			before := len(e.log.String())
			var mu sync.Mutex
			got := map[answer]int{}
			var wg sync.WaitGroup
			for i := range tt.tastings + tt.puts {
				wg.Go(func() {
					color := ""
					if i%3 == 1 && i/3 < tt.puts {
						color = fmt.Sprintf("c%d", i)
					}
					a := post(t, e.srv.URL, id, color)
					mu.Lock()
					got[a]++
					mu.Unlock()
				})
			}
			wg.Wait()
			assert.Equal(t, map[answer]int{{200, ""}: tt.tastings + tt.puts}, got)
			_, body := e.do("GET", "/v1.0/fruits/"+id, "", "")
			assert.EqualValues(t, tt.tastings, body.(map[string]any)["tastings"])
			puts := countPUTs(t, e.log.String()[before:])
			t.Logf("%d tastings and %d color changes: %d CouchDB writes, %.2f per request", tt.tastings, tt.puts, puts,
				float64(puts)/float64(tt.tastings+tt.puts))
			assert.Less(t, puts, tt.tastings+tt.puts, "fewer CouchDB writes than requests")
			assert.NotContains(t, e.log.String(), "retrying after waiting", "merge merges, it does not retry")
		})
	}
}

// TestCoalescedServices runs 64 tastings of one fruit through two
// coalescing merge services over one database: each coalesces its own,
// and the conflicts between the two services' writes are 409s their
// resolvers merge. Every tasting lands and the counter is exact.
func TestCoalescedServices(t *testing.T) {
	cfg, err := fruit.LoadConfig(filepath.Join("..", "merge", "config.yaml"))
	require.NoError(t, err)
	db := sampletest.NewDB(t, false)
	e1 := newCoalescedEnvOn(t, db, cfg.Resolver, cfg.Writes.MaxBatch)
	e2 := newCoalescedEnvOn(t, db, cfg.Resolver, cfg.Writes.MaxBatch)
	id := e1.create("red")["fruit_id"].(string)
	statuses := tasteConcurrently(t, []string{e1.srv.URL, e2.srv.URL}, id, 64)
	assert.Equal(t, map[int]int{200: 64}, statuses)
	_, body := e2.do("GET", "/v1.0/fruits/"+id, "", "")
	assert.EqualValues(t, 64, body.(map[string]any)["tastings"])
	for i, e := range []*env{e1, e2} {
		_, m := e.do("GET", "/v1.0/_metrics", "", "")
		t.Logf("service %d: coalesce %v, resolver decisions %v", i+1, m.(map[string]any)["coalesce"],
			m.(map[string]any)["resolver"].(map[string]any)["decisions"])
	}
	assert.NotContains(t, e1.log.String()+e2.log.String(), "retrying after waiting", "merge merges, it does not retry")
}

// TestCoalesceFailureReachesEveryCaller deletes a fruit while its first
// write is held and n-1 tastings wait behind it: the write that carries
// the n-1 fails, and each of them gets the failure (404), not only the
// first; nothing is written.
func TestCoalesceFailureReachesEveryCaller(t *testing.T) {
	const n = 5
	e := newCoalescedEnv(t, fruit.ResolverConfig{Plugin: "retry"}, 0)
	id := e.create("red")["fruit_id"].(string)
	before := len(e.log.String())
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fruit.HoldWrites(e.svc, func(string, int) { once.Do(func() { close(held); <-release }) })
	var mu sync.Mutex
	got := map[answer]int{}
	var wg sync.WaitGroup
	taste := func() {
		a := post(t, e.srv.URL, id, "")
		mu.Lock()
		got[a]++
		mu.Unlock()
	}
	wg.Go(taste)
	<-held
	for range n - 1 {
		wg.Go(taste)
	}
	require.Eventually(t, func() bool { return fruit.Queued(e.svc, id) == n-1 }, 10*time.Second, time.Millisecond)
	status, _ := e.do("DELETE", "/v1.0/fruits/"+id, "application/json", "")
	require.Equal(t, http.StatusOK, status)
	close(release)
	wg.Wait()
	assert.Equal(t, map[answer]int{{404, "not_found"}: n}, got)
	assert.Zero(t, countPUTs(t, e.log.String()[before:]), "the tastings wrote nothing")
	_, m := e.do("GET", "/v1.0/_metrics", "", "")
	assert.EqualValues(t, 2, m.(map[string]any)["coalesce"].(map[string]any)["writes"], "the first tasting's, then one for the n-1")
}
