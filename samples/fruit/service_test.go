package fruit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
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
	"github.com/accord-db/accord/resolve"
	"github.com/accord-db/accord/samples/fruit"
)

func TestMain(m *testing.M) { os.Exit(couchtest.Main(m)) }

var discard = slog.New(slog.DiscardHandler)

// env is a fruit service over a fresh sample database, served by httptest.
type env struct {
	t   *testing.T
	r   resolve.Resolver
	db  *couch.DB
	svc *fruit.Service
	srv *httptest.Server
	log *syncbuf.Buffer // the service's log, debug level, JSON lines
}

// newEnv starts the service with the resolver rc names (loaded as the
// sample service loads it).
func newEnv(t *testing.T, rc fruit.ResolverConfig) *env {
	t.Helper()
	r, closeResolver, err := fruit.OpenResolver(context.Background(), rc, discard)
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeResolver(context.Background()) })
	return newEnvWith(t, sampletest.NewDB(t, false), r)
}

func newEnvWith(t *testing.T, db *couch.DB, r resolve.Resolver) *env {
	t.Helper()
	e := &env{t: t, r: r, log: &syncbuf.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), Logger: logger})
	require.NoError(t, err)
	e.db = client.DB(db.Name())
	e.svc, err = fruit.New(fruit.Options{DB: e.db, Resolver: r, Logger: logger, RequestTimeout: 20 * time.Second})
	require.NoError(t, err)
	e.srv = httptest.NewServer(e.svc)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request and returns the status and the decoded JSON body
// (nil for an empty body).
func (e *env) do(method, path, contentType, body string) (int, any) {
	e.t.Helper()
	return sampletest.Request(e.t, method, e.srv.URL+path, contentType, body)
}

func (e *env) create(color string) map[string]any {
	e.t.Helper()
	status, body := e.do("POST", "/v1.0/fruits", "application/json", fmt.Sprintf(`{"color":%q}`, color))
	require.Equal(e.t, http.StatusCreated, status, "%v", body)
	return body.(map[string]any)
}

func TestCRUD(t *testing.T) {
	e := newEnv(t, fruit.ResolverConfig{Plugin: "retry"})

	status, body := e.do("GET", "/", "", "")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "not_found", body.(map[string]any)["error"])

	status, body = e.do("GET", "/v1.0/fruits", "", "")
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, body)

	created := e.create("red")
	id := created["fruit_id"].(string)
	assert.Regexp(t, `^[0-9a-f]{32}$`, id)
	assert.Equal(t, "red", created["color"])
	assert.EqualValues(t, 0, created["tastings"])
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, created["created_on"])
	assert.Equal(t, created["created_on"], created["updated_on"])
	e.create("green")

	status, body = e.do("GET", "/v1.0/fruits/"+id, "", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, created, body)

	status, body = e.do("GET", "/v1.0/fruits?color=green", "", "")
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body, 1)
	assert.Equal(t, "green", body.([]any)[0].(map[string]any)["color"])

	time.Sleep(2 * time.Millisecond)
	status, body = e.do("PUT", "/v1.0/fruits/"+id, "application/json; charset=utf-8", `{"color":"blue"}`)
	require.Equal(t, http.StatusOK, status, "%v", body)
	updated := body.(map[string]any)
	assert.Equal(t, "blue", updated["color"])
	assert.Equal(t, created["created_on"], updated["created_on"])
	assert.Greater(t, updated["updated_on"], created["updated_on"])

	status, body = e.do("POST", "/v1.0/fruits/"+id+"/tastings", "application/json", "")
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.EqualValues(t, 1, body.(map[string]any)["tastings"])

	status, body = e.do("GET", "/v1.0/fruits/"+id, "", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "blue", body.(map[string]any)["color"])
	assert.EqualValues(t, 1, body.(map[string]any)["tastings"])

	status, _ = e.do("DELETE", "/v1.0/fruits/"+id, "application/json", "")
	assert.Equal(t, http.StatusOK, status)
	status, _ = e.do("DELETE", "/v1.0/fruits/"+id, "application/json", "")
	assert.Equal(t, http.StatusNotFound, status)
	for _, m := range []string{"GET", "PUT"} {
		status, _ = e.do(m, "/v1.0/fruits/"+id, "application/json", `{"color":"x"}`)
		assert.Equal(t, http.StatusNotFound, status, m)
	}
	status, _ = e.do("POST", "/v1.0/fruits/"+id+"/tastings", "application/json", "")
	assert.Equal(t, http.StatusNotFound, status)

	status, body = e.do("PATCH", "/v1.0/fruits", "", "")
	assert.Equal(t, http.StatusMethodNotAllowed, status)
	assert.Equal(t, "method_not_allowed", body.(map[string]any)["error"])
}

// TestBadInput covers every kind of bad request: each gets a 400 (or 404
// for a malformed fruit_id) with a JSON body naming the problem, and none
// of them reaches the database.
func TestBadInput(t *testing.T) {
	e := newEnv(t, fruit.ResolverConfig{Plugin: "basic"})
	f := e.create("red")
	good := "/v1.0/fruits/" + f["fruit_id"].(string)
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		errName, reason                 string
	}{
		{"no content type", "POST", "/v1.0/fruits", "", `{"color":"red"}`, 415, "bad_content_type", "no Content-Type"},
		{"text/plain", "POST", "/v1.0/fruits", "text/plain", `{"color":"red"}`, 415, "bad_content_type", "not application/json"},
		{"json lookalike", "PUT", good, "application/jsonx", `{"color":"red"}`, 415, "bad_content_type", "not application/json"},
		{"latin1", "POST", "/v1.0/fruits", "application/json; charset=iso-8859-1", `{"color":"red"}`, 415, "bad_content_type", "only charset=utf-8"},
		{"unparsable content type", "POST", "/v1.0/fruits", "application/json; =", `{"color":"red"}`, 415, "bad_content_type", ""},
		{"long content type", "POST", "/v1.0/fruits", "text/" + strings.Repeat("x", 4000), `{"color":"red"}`, 415, "bad_content_type", "…"},
		{"tasting without content type", "POST", good + "/tastings", "", ``, 415, "bad_content_type", "no Content-Type"},
		{"delete without content type", "DELETE", good, "", ``, 415, "bad_content_type", "no Content-Type"},
		{"too large", "POST", "/v1.0/fruits", "application/json", `{"color":"` + strings.Repeat("r", 70_000) + `"}`, 400, "body_too_large", "65536"},
		{"empty", "POST", "/v1.0/fruits", "application/json", ``, 400, "bad_json", "empty"},
		{"invalid JSON", "PUT", good, "application/json", `{"color":`, 400, "bad_json", "not valid JSON"},
		{"trailing garbage", "POST", "/v1.0/fruits", "application/json", `{"color":"red"} x`, 400, "bad_json", "not valid JSON"},
		{"no color", "POST", "/v1.0/fruits", "application/json", `{}`, 400, "bad_body", "color"},
		{"empty color", "POST", "/v1.0/fruits", "application/json", `{"color":""}`, 400, "bad_body", "/color"},
		{"long color", "PUT", good, "application/json", `{"color":"` + strings.Repeat("r", 65) + `"}`, 400, "bad_body", "/color"},
		{"color not a string", "POST", "/v1.0/fruits", "application/json", `{"color":7}`, 400, "bad_body", "/color"},
		{"extra property", "POST", "/v1.0/fruits", "application/json", `{"color":"red","size":3}`, 400, "bad_body", "size"},
		{"not an object", "POST", "/v1.0/fruits", "application/json", `["red"]`, 400, "bad_body", "object"},
		{"body on a tasting", "POST", good + "/tastings", "application/json", `{"n":1}`, 400, "unexpected_body", ""},
		{"unknown query", "GET", "/v1.0/fruits?colour=red", "", ``, 400, "bad_query", "colour"},
		{"empty color query", "GET", "/v1.0/fruits?color=", "", ``, 400, "bad_query", "color"},
		{"bad quick", "GET", "/v1.0/_health?quick=maybe", "", ``, 400, "bad_query", "maybe"},
		{"short fruit_id", "GET", "/v1.0/fruits/abc", "", ``, 404, "not_found", "32 lower-case hex"},
		{"upper-case fruit_id", "PUT", "/v1.0/fruits/" + strings.Repeat("A", 32), "application/json", `{"color":"red"}`, 404, "not_found", ""},
		{"fruit_id with a dot", "DELETE", "/v1.0/fruits/" + strings.Repeat("a", 31) + ".", "application/json", ``, 404, "not_found", ""},
		{"malformed fruit_id tasting", "POST", "/v1.0/fruits/zz/tastings", "application/json", ``, 404, "not_found", ""},
		{"long fruit_id", "GET", "/v1.0/fruits/" + strings.Repeat("z", 4000), "", ``, 404, "not_found", "…"},
		{"long unknown path", "GET", "/" + strings.Repeat("z", 4000), "", ``, 404, "not_found", "…"},
		{"long quick", "GET", "/v1.0/_health?quick=" + strings.Repeat("z", 4000), "", ``, 400, "bad_query", "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Count(e.log.String(), `"msg":"couchdb request"`)
			status, body := e.do(tt.method, tt.path, tt.ctype, tt.body)
			assert.Equal(t, tt.status, status, "%v", body)
			m, ok := body.(map[string]any)
			require.True(t, ok, "a JSON object body: %v", body)
			assert.Equal(t, tt.errName, m["error"])
			assert.Contains(t, m["reason"], tt.reason)
			assert.Less(t, len(m["reason"].(string)), 600, "a reason quotes a bounded piece of the request")
			after := strings.Count(e.log.String(), `"msg":"couchdb request"`)
			assert.Equal(t, before, after, "a bad request never reaches the database")
		})
	}
	// And nothing changed.
	status, body := e.do("GET", good, "", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, f, body)
}

func TestHealth(t *testing.T) {
	e := newEnv(t, fruit.ResolverConfig{Plugin: "basic"})
	tests := []struct {
		query  string
		deep   bool
		status int
	}{
		{"", false, 200}, {"?quick=true", false, 200}, {"?quick=t", false, 200}, {"?quick=y", false, 200},
		{"?quick=yes", false, 200}, {"?quick=1", false, 200}, {"?quick=TRUE", false, 200},
		{"?quick=false", true, 200}, {"?quick=f", true, 200}, {"?quick=n", true, 200},
		{"?quick=no", true, 200}, {"?quick=0", true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			before := strings.Count(e.log.String(), `"msg":"couchdb request"`)
			resp, err := http.Get(e.srv.URL + "/v1.0/_health" + tt.query)
			require.NoError(t, err)
			defer resp.Body.Close()
			var body map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, "green", body["status"])
			href := body["links"].(map[string]any)["self"].(map[string]any)["href"]
			assert.Equal(t, "/v1.0/_health", href)
			assert.Equal(t, href, resp.Header.Get("Location"))
			touched := strings.Count(e.log.String(), `"msg":"couchdb request"`) > before
			assert.Equal(t, tt.deep, touched, "only a deep check reaches the database")
			if tt.deep {
				assert.Equal(t, "green", body["database"].(map[string]any)["status"])
			}
		})
	}
}

func TestHealthDatabaseDown(t *testing.T) {
	client, err := couch.New(couch.Config{URL: "http://127.0.0.1:1", Logger: discard})
	require.NoError(t, err)
	svc, err := fruit.New(fruit.Options{DB: client.DB("accord_sample"), Logger: discard})
	require.NoError(t, err)
	srv := httptest.NewServer(svc)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/v1.0/_health?quick=false")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "red", body["status"])
	assert.Equal(t, "red", body["database"].(map[string]any)["status"])

	resp2, err := http.Get(srv.URL + "/v1.0/_health")
	require.NoError(t, err)
	resp2.Body.Close()
	assert.Equal(t, http.StatusOK, resp2.StatusCode, "a quick check does not look at the database")

	resp3, err := http.Post(srv.URL+"/v1.0/fruits", "application/json", strings.NewReader(`{"color":"red"}`))
	require.NoError(t, err)
	resp3.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp3.StatusCode)
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, fruit.ResolverConfig{Plugin: "retry", Params: map[string]any{"max_retries": 50}})
	f := e.create("red")
	contend(t, e, f["fruit_id"].(string), 8)

	status, body := e.do("GET", "/v1.0/_metrics", "", "")
	require.Equal(t, http.StatusOK, status, "%v", body)
	m := body.(map[string]any)
	db := m["database"].(map[string]any)
	assert.EqualValues(t, 4, db["docCount"], "one fruit and three design documents")
	assert.Contains(t, db["views"], "fruit_by_fruit_id")
	assert.Contains(t, db["views"], "fruit_by_color")
	assert.Contains(t, db["views"], "conflicts")
	if couchtest.PouchDB(t) {
		t.Log("pouchdb-server in memory reports no sizes: they are checked on Apache CouchDB only")
		assert.NotContains(t, db, "diskSize")
		assert.NotContains(t, db, "dataSize")
	} else {
		requireSizes(t, "database", db)
		assert.Positive(t, db["dataSize"], "the fruit and the design documents")
		for name, v := range db["views"].(map[string]any) {
			requireSizes(t, "view "+name, v.(map[string]any))
		}
	}
	nodeStats(t, e, m)
	r := m["resolver"].(map[string]any)
	assert.Equal(t, "retry", r["plugin"])
	assert.Equal(t, "1.0.0", r["version"])
	decisions := r["decisions"].(map[string]any)
	assert.Len(t, decisions, 4, "every action is listed")
	conflicts := r["conflicts"].(float64)
	assert.Equal(t, conflicts, decisions["retry"], "retry decides retry every time")
	assert.Equal(t, conflicts, r["decisionLatency"].(map[string]any)["count"])
	// The buckets' bounds in ms, exactly: 7.5 µs is 0.0075, not 0.007.
	var bounds []float64
	for _, b := range r["decisionLatency"].(map[string]any)["buckets"].([]any) {
		bounds = append(bounds, b.(map[string]any)["leMs"].(float64))
	}
	require.Len(t, bounds, len(couch.LatencyBuckets))
	for i, le := range couch.LatencyBuckets {
		assert.Equal(t, float64(le.Nanoseconds())/1e6, bounds[i], "bucket %d", i)
	}
	t.Logf("8 concurrent tastings: %v conflicts", conflicts)

	resp, err := http.Get(e.srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(text), fmt.Sprintf(`accord_conflicts_total{resolver="retry"} %v`, conflicts))
	assert.Contains(t, string(text), `accord_decisions_total{action="retry",resolver="retry"}`)
	assert.Contains(t, string(text), `accord_decision_duration_seconds_bucket{resolver="retry",le="0.001"}`)
	assert.Contains(t, string(text), `accord_decision_duration_seconds_bucket{resolver="retry",le="7.5e-06"}`)
	assert.Contains(t, string(text), `accord_plugin_instances{resolver="retry"}`)
	assert.Contains(t, string(text), `accord_plugin_pool_wait_seconds_count{resolver="retry"}`, "the pool's wait per call")
	assert.Contains(t, string(text), `fruit_http_request_duration_seconds_count{code="200",method="POST",route="tastings"} 8`)
}

// nodeStats checks the couchdb section of /_metrics: CouchDB's counters,
// which grow with the service's requests; none from pouchdb-server.
func nodeStats(t *testing.T, e *env, m map[string]any) {
	t.Helper()
	if couchtest.PouchDB(t) {
		t.Log("pouchdb-server has no /_node/_local/_stats: the couchdb section is checked on Apache CouchDB only")
		assert.NotContains(t, m, "couchdb")
		return
	}
	require.Contains(t, m, "couchdb")
	before := m["couchdb"].(map[string]any)
	const n = 5
	for range n {
		status, body := e.do("GET", "/v1.0/fruits", "", "")
		require.Equal(t, http.StatusOK, status, "%v", body)
	}
	status, body := e.do("GET", "/v1.0/_metrics", "", "")
	require.Equal(t, http.StatusOK, status, "%v", body)
	after := body.(map[string]any)["couchdb"].(map[string]any)
	t.Logf("couchdb counters before %v, after %v", before, after)
	for _, k := range []string{"requests", "databaseReads"} {
		assert.Positive(t, before[k], k)
	}
	// Each listing queries a view: a GET that CouchDB answers 200. Other
	// tests may share the server, so at least, not exactly.
	grew := func(k ...string) float64 {
		b, a := any(before), any(after)
		for _, key := range k {
			b, a = b.(map[string]any)[key], a.(map[string]any)[key]
		}
		return a.(float64) - b.(float64)
	}
	assert.GreaterOrEqual(t, grew("requests"), float64(n))
	assert.GreaterOrEqual(t, grew("requestsByMethod", "GET"), float64(n))
	assert.GreaterOrEqual(t, grew("responsesByStatus", "200"), float64(n))
}

// requireSizes checks the sizes of a database or view in /_metrics:
// present, the data no larger than the file, and the fragmentation that
// follows from them.
func requireSizes(t *testing.T, what string, m map[string]any) {
	t.Helper()
	require.Contains(t, m, "dataSize", what)
	require.Contains(t, m, "diskSize", what)
	require.Contains(t, m, "fragmentation", what)
	data, disk, frag := m["dataSize"].(float64), m["diskSize"].(float64), m["fragmentation"].(float64)
	t.Logf("%s: data %v B, disk %v B, fragmentation %v%%", what, data, disk, frag)
	assert.GreaterOrEqual(t, data, 0.0, "%s: an index never queried holds nothing", what)
	assert.Positive(t, disk, what)
	assert.LessOrEqual(t, data, disk, "%s: the live data fits in the file", what)
	assert.InDelta(t, 100*(disk-data)/disk, frag, 0.01, what)
}

// contend runs n concurrent tastings of one fruit and returns the
// statuses.
func contend(t *testing.T, e *env, id string, n int) map[int]int {
	t.Helper()
	return tasteConcurrently(t, []string{e.srv.URL}, id, n)
}

// tasteConcurrently sends n concurrent tastings of the fruit id, spread
// over the services at bases in turn, and returns the statuses.
func tasteConcurrently(t *testing.T, bases []string, id string, n int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := http.Post(bases[i%len(bases)]+"/v1.0/fruits/"+id+"/tastings", "application/json", nil)
			if err != nil {
				t.Errorf("tasting: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return statuses
}

// countPUTs counts the PUT requests to CouchDB in a JSON log, as the
// couch client logs them at debug level.
func countPUTs(t *testing.T, log string) int {
	t.Helper()
	n := 0
	for line := range strings.Lines(log) {
		var rec struct {
			Msg    string `json:"msg"`
			Method string `json:"method"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "%s", line)
		if rec.Msg == "couchdb request" && rec.Method == http.MethodPut {
			n++
		}
	}
	return n
}

// TestContention runs concurrent tastings of one fruit through each
// sample's WebAssembly resolver, configured as the sample ships: 32
// through each, and 64 through retry, backoff and merge. retry and backoff
// must land all 32, backoff and merge all 64; basic (which gives up at
// once) and retry at 64 (past its 50 retries a writer may give up) answer
// only 200 or 409, and the counter holds exactly the acknowledged
// tastings. merge lands every tasting by merging, never by a retry, and,
// as its sample coalesces writes, with fewer CouchDB writes than
// tastings. It logs the CouchDB writes (PUTs) per successful tasting.
func TestContention(t *testing.T) {
	tests := []struct {
		plugin  string
		writers int
		wantAll bool
	}{
		{"retry", 32, true},
		{"backoff", 32, true},
		{"backoff", 64, true},
		{"basic", 32, false},
		{"retry", 64, false},
		{"merge", 32, true},
		{"merge", 64, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.plugin, tt.writers), func(t *testing.T) {
			cfg, err := fruit.LoadConfig(filepath.Join("..", tt.plugin, "config.yaml"))
			require.NoError(t, err)
			require.Equal(t, tt.plugin, cfg.Resolver.Plugin)
			var e *env
			if cfg.Writes.Coalesce {
				e = newCoalescedEnv(t, cfg.Resolver, cfg.Writes.MaxBatch)
			} else {
				e = newEnv(t, cfg.Resolver)
			}
			id := e.create("red")["fruit_id"].(string)
			before := len(e.log.String())
			statuses := contend(t, e, id, tt.writers)
			puts := countPUTs(t, e.log.String()[before:])
			_, body := e.do("GET", "/v1.0/fruits/"+id, "", "")
			stored := int(body.(map[string]any)["tastings"].(float64))
			t.Logf("%s, %d writers: statuses %v, stored %d, %d CouchDB writes, %.2f per successful tasting",
				tt.plugin, tt.writers, statuses, stored, puts, float64(puts)/float64(max(statuses[200], 1)))
			if tt.plugin == "merge" {
				assert.NotContains(t, e.log.String(), "retrying after waiting", "merge merges, it does not retry")
				_, m := e.do("GET", "/v1.0/_metrics", "", "")
				decisions := m.(map[string]any)["resolver"].(map[string]any)["decisions"].(map[string]any)
				assert.Positive(t, decisions["merge"], "the conflicts were merged: %v", decisions)
				assert.Zero(t, decisions["retry"], "and none retried: %v", decisions)
				// The merge sample coalesces: the tastings that queue
				// behind a write in flight go in the next one.
				assert.Less(t, puts, tt.writers, "fewer CouchDB writes than tastings")
			}
			if tt.wantAll {
				if tt.plugin != "merge" {
					assert.Contains(t, e.log.String(), fmt.Sprintf("Conflict detected updating fruit '%s' - retrying after waiting", id),
						"the seed's retry line, naming the fruit_id")
				}
				assert.Equal(t, map[int]int{200: tt.writers}, statuses)
				assert.Equal(t, tt.writers, stored)
				return
			}
			// A request whose 20 s deadline passes while it retries is
			// answered 503, its outcome unknown (its last write may have
			// landed): seen with 64 retry writers on a CPU-starved CI
			// machine. Without such answers the counts below are exact.
			for code := range statuses {
				assert.Contains(t, []int{200, 409, 503}, code, "%s answers 200 or 409, or 503 past its deadline, never anything else", tt.plugin)
			}
			if tt.plugin == "basic" {
				assert.Contains(t, e.log.String(), fmt.Sprintf("Conflict detected updating fruit '%s' - giving up after 1 attempt(s)", id),
					"the seed's bail-out line, naming the fruit_id")
			}
			assert.GreaterOrEqual(t, stored, statuses[200], "every acknowledged tasting is stored")
			assert.LessOrEqual(t, stored, statuses[200]+statuses[503], "nothing is stored beyond the acknowledged tastings and those of unknown outcome")
			assert.Equal(t, tt.writers, statuses[200]+statuses[409]+statuses[503])
		})
	}
}

// TestResolverFailureIs503 loads hostile plugins from files, as a config
// names them, and checks that their failures answer 503 and leave the
// fruit untouched.
func TestResolverFailureIs503(t *testing.T) {
	tests := []struct {
		name   string
		rc     fruit.ResolverConfig
		dbName string // the moody module misbehaves by the database's first letter
	}{
		{"invalid decision", fruit.ResolverConfig{Plugin: "../../engine/testdata/parrot.wasm", Params: map[string]any{"action": "shrug"}}, ""},
		{"merge of another document", fruit.ResolverConfig{Plugin: "../../engine/testdata/parrot.wasm",
			Params: map[string]any{"action": "merge", "doc": map[string]any{"_id": "someone_else", "type": "fruit_v1.0"}}}, ""},
		{"infinite loop", fruit.ResolverConfig{Plugin: "../../engine/testdata/moody.wasm", Timeout: 50 * time.Millisecond}, "loop"},
		{"trap", fruit.ResolverConfig{Plugin: "../../engine/testdata/moody.wasm"}, "trap"},
		{"memory", fruit.ResolverConfig{Plugin: "../../engine/testdata/moody.wasm"}, "grow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var db *couch.DB
			if tt.dbName == "" {
				db = sampletest.NewDB(t, false)
			} else {
				db = moodyDB(t, tt.dbName)
			}
			r, closeResolver, err := fruit.OpenResolver(context.Background(), tt.rc, discard)
			require.NoError(t, err)
			t.Cleanup(func() { _ = closeResolver(context.Background()) })
			e := newEnvWith(t, db, r)
			id := e.create("red")["fruit_id"].(string)
			var before map[string]any
			_, b := e.do("GET", "/v1.0/fruits/"+id, "", "")
			before = b.(map[string]any)

			// Make the next write conflict: change the fruit behind the
			// service's back while a slow writer holds an old revision.
			rows, err := db.Query(context.Background(), "fruit_by_fruit_id", "fruit_by_fruit_id", couch.ViewQuery{Key: id})
			require.NoError(t, err)
			docID := rows.Rows[0].ID
			began := time.Now()
			status, body := conflictingPut(t, e, db, docID, id)
			assert.Equal(t, http.StatusServiceUnavailable, status, "%v", body)
			assert.Equal(t, "resolver_failed", body.(map[string]any)["error"])
			assert.Equal(t, "the conflict resolver failed, fruit "+id+" was left untouched", body.(map[string]any)["reason"],
				"a short, stable reason: no error chain, guest text, _id or wasm stack trace")
			assert.Less(t, time.Since(began), 10*time.Second)

			_, after := e.do("GET", "/v1.0/fruits/"+id, "", "")
			assert.Equal(t, "behind-your-back", after.(map[string]any)["color"], "the document holds the other writer's change, untouched")
			assert.Equal(t, before["tastings"], after.(map[string]any)["tastings"])
		})
	}
}

// moodyDB creates a sample database whose name starts with prefix, which
// the moody test module reads to pick its misbehaviour.
func moodyDB(t *testing.T, prefix string) *couch.DB {
	t.Helper()
	client, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), Logger: discard})
	require.NoError(t, err)
	name := prefix + "_" + couchtest.DBName(t)
	require.NoError(t, client.CreateDB(context.Background(), name))
	t.Cleanup(func() { _ = client.DeleteDB(context.Background(), name) })
	db := client.DB(name)
	src := sampletest.NewDB(t, false)
	_, err = client.Replicate(context.Background(), couch.Replication{Source: src.Name(), Target: name})
	require.NoError(t, err)
	return db
}

// conflictingPut sends a PUT through the service whose first write is
// sure to conflict: a proxy in front of the database changes the document
// just before the service's write reaches it.
func conflictingPut(t *testing.T, e *env, db *couch.DB, docID, fruitID string) (int, any) {
	t.Helper()
	return conflicting(t, e, db, docID, http.MethodPut, "/v1.0/fruits/"+fruitID, `{"color":"mine"}`)
}

// conflicting sends a request through the service whose first write of
// docID (a PUT or a DELETE) is sure to conflict: a proxy in front of the
// database changes the document to color "behind-your-back" just before
// the service's write reaches it.
func conflicting(t *testing.T, e *env, db *couch.DB, docID, method, path, body string) (int, any) {
	t.Helper()
	var once sync.Once
	interfering := couchtest.Proxy(t, func(r *http.Request) {
		if r.Method == method && strings.HasSuffix(r.URL.Path, "/"+docID) {
			once.Do(func() {
				var cur map[string]any
				if !assert.NoError(t, db.Get(context.Background(), docID, &cur)) {
					return
				}
				cur["color"] = "behind-your-back"
				_, err := db.Put(context.Background(), docID, cur)
				assert.NoError(t, err)
			})
		}
	})
	client, err := couch.New(couch.Config{URL: interfering.String(), Logger: discard})
	require.NoError(t, err)
	svc, err := fruit.New(fruit.Options{DB: client.DB(db.Name()), Resolver: e.r, Logger: discard})
	require.NoError(t, err)
	srv := httptest.NewServer(svc)
	defer srv.Close()
	return sampletest.Request(t, method, srv.URL+path, "application/json", body)
}

// TestSupersededIsNot200 checks that when the resolver keeps the other
// writer's change (accept), neither a PUT nor a DELETE answers 200: the
// change was not written.
func TestSupersededIsNot200(t *testing.T) {
	for _, method := range []string{http.MethodPut, http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			rc := fruit.ResolverConfig{Plugin: "../../engine/testdata/parrot.wasm", Params: map[string]any{"action": "accept"}}
			r, closeResolver, err := fruit.OpenResolver(context.Background(), rc, discard)
			require.NoError(t, err)
			t.Cleanup(func() { _ = closeResolver(context.Background()) })
			db := sampletest.NewDB(t, false)
			e := newEnvWith(t, db, r)
			id := e.create("red")["fruit_id"].(string)
			rows, err := db.Query(context.Background(), "fruit_by_fruit_id", "fruit_by_fruit_id", couch.ViewQuery{Key: id})
			require.NoError(t, err)
			body := ""
			if method == http.MethodPut {
				body = `{"color":"mine"}`
			}
			status, answer := conflicting(t, e, db, rows.Rows[0].ID, method, "/v1.0/fruits/"+id, body)
			assert.Equal(t, http.StatusConflict, status, "%v", answer)
			assert.Equal(t, "superseded", answer.(map[string]any)["error"])
			status, stored := e.do("GET", "/v1.0/fruits/"+id, "", "")
			require.Equal(t, http.StatusOK, status, "the fruit was not deleted")
			assert.Equal(t, "behind-your-back", stored.(map[string]any)["color"], "the other writer's change stands")
		})
	}
}

// TestMissingDatabaseOrViewsIs503 checks that a database or design
// documents that are not there answer 503, not "no fruit" (issue 12, point
// 13): the service is not set up, the fruit may well exist.
func TestMissingDatabaseOrViewsIs503(t *testing.T) {
	client, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), Logger: discard})
	require.NoError(t, err)
	for name, db := range map[string]*couch.DB{
		"no database":    client.DB(couchtest.DBName(t)),
		"no design docs": client.DB(couchtest.NewDB(t)),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnvWith(t, db, resolve.Basic())
			id := strings.Repeat("a", 32)
			for _, rq := range []struct{ method, path, body string }{
				{http.MethodGet, "/v1.0/fruits/" + id, ""},
				{http.MethodPut, "/v1.0/fruits/" + id, `{"color":"red"}`},
				{http.MethodDelete, "/v1.0/fruits/" + id, ""},
				{http.MethodPost, "/v1.0/fruits/" + id + "/tastings", ""},
				{http.MethodGet, "/v1.0/fruits", ""},
			} {
				ctype := "application/json" // every change must say so
				if rq.method == http.MethodGet {
					ctype = ""
				}
				status, body := e.do(rq.method, rq.path, ctype, rq.body)
				assert.Equal(t, http.StatusServiceUnavailable, status, "%s %s: %v", rq.method, rq.path, body)
				if m, ok := body.(map[string]any); ok {
					assert.Equal(t, "not_installed", m["error"], "%s %s", rq.method, rq.path)
				}
			}
			if name == "no database" {
				status, body := e.do(http.MethodPost, "/v1.0/fruits", "application/json", `{"color":"red"}`)
				assert.Equal(t, http.StatusServiceUnavailable, status, "create: %v", body)
			}
		})
	}
}

// TestWaitPastDeadlineIs503WithTheTruth checks the answer when the
// resolver asks for a wait longer than the time the request has left: a
// 503 at once that names the wait and the time that was left, never "the
// request took longer than" a time that did not pass (issue 9, point 4).
func TestWaitPastDeadlineIs503WithTheTruth(t *testing.T) {
	slow := resolve.NewStrategy(resolve.Description{Name: "slow"}, func(*resolve.Conflict) resolve.Decision {
		return resolve.Decision{Action: resolve.ActionRetry, DelayMS: resolve.MaxDelay}
	})
	e := newEnvWith(t, sampletest.NewDB(t, false), slow)
	id := e.create("red")["fruit_id"].(string)
	rows, err := e.db.Query(context.Background(), "fruit_by_fruit_id", "fruit_by_fruit_id", couch.ViewQuery{Key: id})
	require.NoError(t, err)
	status, body := conflictingPut(t, e, e.db, rows.Rows[0].ID, id)
	assert.Equal(t, http.StatusServiceUnavailable, status, "%v", body)
	m, ok := body.(map[string]any)
	require.True(t, ok, "%v", body)
	assert.Equal(t, "wait_past_deadline", m["error"])
	reason, _ := m["reason"].(string)
	assert.Contains(t, reason, "wait 1m0s")
	assert.Regexp(t, `only [0-9.]+s (was )?left`, reason)
	assert.NotContains(t, reason, "took longer")
}
