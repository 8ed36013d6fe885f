package fruit_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
	"github.com/accord-db/accord/internal/syncbuf"
	"github.com/accord-db/accord/resolve"
	"github.com/accord-db/accord/samples/fruit"
)

// send sends a request with the given headers and returns the answer
// with its body read.
func send(t *testing.T, method, url string, header map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if host, ok := header["Host"]; ok {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(data)
}

// TestCrossSiteRequestsRefused sends the state-changing requests another
// site can make a browser send without a preflight (form and text/plain
// POSTs), and bodyless changes without a JSON Content-Type: each is
// refused with 415 and a JSON body, reaches no database, and changes
// nothing.
func TestCrossSiteRequestsRefused(t *testing.T) {
	e := newEnv(t, fruit.ResolverConfig{Plugin: "basic"})
	f := e.create("red")
	good := "/v1.0/fruits/" + f["fruit_id"].(string)
	tests := []struct {
		name, method, path, ctype, body string
	}{
		{"empty form tasting", "POST", good + "/tastings", "application/x-www-form-urlencoded", ""},
		{"form tasting", "POST", good + "/tastings", "application/x-www-form-urlencoded", "a=b"},
		{"multipart tasting", "POST", good + "/tastings", "multipart/form-data; boundary=x", "--x--\r\n"},
		{"text/plain tasting", "POST", good + "/tastings", "text/plain", ""},
		{"no content type tasting", "POST", good + "/tastings", "", ""},
		{"form create", "POST", "/v1.0/fruits", "application/x-www-form-urlencoded", "color=red"},
		{"text/plain create", "POST", "/v1.0/fruits", "text/plain", `{"color":"red"}`},
		{"form update", "PUT", good, "application/x-www-form-urlencoded", "color=blue"},
		{"no content type delete", "DELETE", good, "", ""},
		{"form delete", "DELETE", good, "application/x-www-form-urlencoded", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Count(e.log.String(), `"msg":"couchdb request"`)
			header := map[string]string{"Origin": "https://evil.example"}
			if tt.ctype != "" {
				header["Content-Type"] = tt.ctype
			}
			resp, body := send(t, tt.method, e.srv.URL+tt.path, header, tt.body)
			assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, body)
			assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			assert.JSONEq(t, `"bad_content_type"`, jsonField(t, body, "error"))
			assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
			after := strings.Count(e.log.String(), `"msg":"couchdb request"`)
			assert.Equal(t, before, after, "a refused request never reaches the database")
		})
	}
	status, body := e.do("GET", good, "", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, f, body, "nothing changed")
	status, body = e.do("GET", "/v1.0/fruits", "", "")
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, body, 1, "nothing created")

	// The same tasting with Content-Type: application/json is served.
	status, body = e.do("POST", good+"/tastings", "application/json", "")
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.EqualValues(t, 1, body.(map[string]any)["tastings"])
}

func jsonField(t *testing.T, body, field string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, jsonUnmarshal(body, &m), body)
	return `"` + m[field].(string) + `"`
}

// TestNoHostReflection sends a forged Host header: no link, header or
// body of the answer repeats it, and every answer says nosniff.
func TestNoHostReflection(t *testing.T) {
	e := newEnv(t, fruit.ResolverConfig{Plugin: "basic"})
	for _, path := range []string{"/v1.0/_health", "/v1.0/_health?quick=false", "/v1.0/_metrics", "/metrics", "/v1.0/fruits", "/nowhere"} {
		t.Run(path, func(t *testing.T) {
			resp, body := send(t, "GET", e.srv.URL+path, map[string]string{"Host": "evil.example"}, "")
			assert.NotContains(t, body, "evil.example")
			for k, v := range resp.Header {
				assert.NotContains(t, strings.Join(v, " "), "evil.example", k)
			}
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		})
	}
	_, body := send(t, "GET", e.srv.URL+"/v1.0/_health", map[string]string{"Host": "evil.example"}, "")
	assert.JSONEq(t, `{"status":"green","resolver":{"status":"green"},"links":{"self":{"href":"/v1.0/_health"}}}`, body)
}

// TestDatabaseDetailsStayInTheLog points the service at a port nothing
// listens on: the answers say the database cannot be reached, and only
// the log names its URL and the dial error.
func TestDatabaseDetailsStayInTheLog(t *testing.T) {
	client, err := couch.New(couch.Config{URL: "http://127.0.0.1:1", Logger: discard})
	require.NoError(t, err)
	log := &syncbuf.Buffer{}
	svc, err := fruit.New(fruit.Options{DB: client.DB("accord_sample"), Logger: slog.New(slog.NewTextHandler(log, nil))})
	require.NoError(t, err)
	srv := httptest.NewServer(svc)
	defer srv.Close()

	tests := []struct{ method, path, ctype, body string }{
		{"GET", "/v1.0/_health?quick=false", "", ""},
		{"GET", "/v1.0/_metrics", "", ""},
		{"GET", "/v1.0/fruits", "", ""},
		{"POST", "/v1.0/fruits", "application/json", `{"color":"red"}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := send(t, tt.method, srv.URL+tt.path, map[string]string{"Content-Type": tt.ctype}, tt.body)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
			for _, detail := range []string{"127.0.0.1:1", "dial", "refused", "couch:"} {
				assert.NotContains(t, body, detail)
			}
			assert.Contains(t, body, "the database cannot be reached")
		})
	}
	assert.Contains(t, log.String(), "connection refused", "the log has the details")
}

// loudResolver is a resolver whose description is as long as a hostile
// plugin can make it.
type loudResolver struct{ resolve.Resolver }

func (loudResolver) Describe() resolve.Description {
	return resolve.Description{Name: strings.Repeat("n", 4<<20), Version: strings.Repeat("v", 4<<20)}
}

// TestResolverNameIsCapped gives the service a resolver with a 4 MiB
// name and version: /v1.0/_metrics and /metrics show at most 64 bytes of
// each, and stay small.
func TestResolverNameIsCapped(t *testing.T) {
	e := newEnvWith(t, sampletest.NewDB(t, false), loudResolver{resolve.Basic()})
	resp, body := send(t, "GET", e.srv.URL+"/v1.0/_metrics", nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	t.Logf("/v1.0/_metrics: %d bytes", len(body))
	assert.Less(t, len(body), 16<<10)
	var m map[string]any
	require.NoError(t, jsonUnmarshal(body, &m))
	r := m["resolver"].(map[string]any)
	assert.Equal(t, strings.Repeat("n", 61)+"…", r["plugin"])
	assert.Equal(t, strings.Repeat("v", 61)+"…", r["version"])

	resp, body = send(t, "GET", e.srv.URL+"/metrics", nil, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	t.Logf("/metrics: %d bytes", len(body))
	assert.Less(t, len(body), 64<<10)
	assert.Contains(t, body, `accord_conflicts_total{resolver="`+strings.Repeat("n", 61)+`…"} 0`)
}

// TestConcurrentRequestsAreCapped holds two requests inside the database
// (a proxy stops them) with a cap of two: a third answers 503 at once,
// and once the two are let go the service answers again.
func TestConcurrentRequestsAreCapped(t *testing.T) {
	db := sampletest.NewDB(t, false)
	arrived := make(chan struct{}, 8)
	release := make(chan struct{})
	held := couchtest.Proxy(t, func(r *http.Request) {
		if strings.Contains(r.URL.Path, "/_view/") {
			arrived <- struct{}{}
			<-release
		}
	})
	client, err := couch.New(couch.Config{URL: held.String(), Logger: discard})
	require.NoError(t, err)
	svc, err := fruit.New(fruit.Options{DB: client.DB(db.Name()), Logger: discard, MaxConcurrentRequests: 2})
	require.NoError(t, err)
	srv := httptest.NewServer(svc)
	defer srv.Close()

	var wg sync.WaitGroup
	statuses := make(chan int, 2)
	for range 2 {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + "/v1.0/fruits")
			if !assert.NoError(t, err) {
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	<-arrived
	<-arrived
	resp, body := send(t, "GET", srv.URL+"/v1.0/fruits", nil, "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.JSONEq(t, `"overloaded"`, jsonField(t, body, "error"))
	resp, _ = send(t, "GET", srv.URL+"/metrics", nil, "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "every route counts")

	close(release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		assert.Equal(t, http.StatusOK, s)
	}
	resp, body = send(t, "GET", srv.URL+"/metrics", nil, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, body, "fruit_http_requests_refused_total 2")
}

func TestNegativeConcurrencyCapRefused(t *testing.T) {
	client, err := couch.New(couch.Config{Logger: discard})
	require.NoError(t, err)
	_, err = fruit.New(fruit.Options{DB: client.DB("accord_sample"), MaxConcurrentRequests: -1})
	require.ErrorContains(t, err, "MaxConcurrentRequests")
}
