package fruit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/syncbuf"
	"github.com/accord-db/accord/sampledb"
	"github.com/accord-db/accord/samples/fruit"
)

// Sizes of the fragmentation test's documents: together well above the
// deep health check's 1 MiB threshold, so that the grading counts, and
// random hex, which CouchDB's snappy compression cannot shrink.
const (
	fragDocs    = 16
	fragDocSize = 96 << 10
)

// TestHealthFragmentation makes the sample database fragmented for real
// on Apache CouchDB, by overwriting large documents, and checks the
// grades of the deep health check against the sizes CouchDB reports:
// green while the file is small, yellow from 50% fragmentation, red (503)
// from 80%, and green again, on a file above the threshold, once
// compacted. It runs on a CouchDB node of its own whose automatic
// compaction (smoosh) is off: on a shared node smoosh compacts such a
// database in the middle of the test.
func TestHealthFragmentation(t *testing.T) {
	if couchtest.PouchDB(t) {
		t.Log("pouchdb-server reports no sizes: fragmentation is graded when the suite runs on Apache CouchDB (make test-couchdb)")
		return
	}
	node := couchtest.StartCouchDB(t)
	e := newEnvOn(t, node)
	deep := func(wantStatus int, want, wantDB string) {
		t.Helper()
		status, body := e.do("GET", "/v1.0/_health?quick=false", "", "")
		require.Equal(t, wantStatus, status, "%v", body)
		b := body.(map[string]any)
		assert.Equal(t, want, b["status"], "%v", body)
		db := b["database"].(map[string]any)
		assert.Equal(t, "green", db["status"], "the database answers")
		assert.Equal(t, wantDB, db["fragmentationStatus"], "%v", body)
		views := db["views"].(map[string]any)
		assert.Len(t, views, 3, "the sample's design documents are graded: %v", views)
	}
	m := metrics(t, e.db)
	require.Less(t, *m.DiskSize, int64(1<<20), "a new database is small")
	deep(http.StatusOK, "green", "green")

	ids := make([]string, fragDocs)
	revs := make([]string, fragDocs)
	for i := range ids {
		ids[i] = fmt.Sprintf("ballast-%02d", i)
	}
	// overwrite writes the documents in turn until done says stop.
	n := 0
	overwrite := func(done func(couch.Metrics) bool) couch.Metrics {
		t.Helper()
		for range 40 * fragDocs {
			i := n % fragDocs
			doc := map[string]any{"ballast": ballast(t)}
			if revs[i] != "" {
				doc["_rev"] = revs[i]
			}
			rev, err := e.db.Put(context.Background(), ids[i], doc)
			require.NoError(t, err)
			revs[i] = rev
			n++
			if n < fragDocs || n%4 != 0 {
				continue // every document written once; sizes read every fourth write
			}
			if m := metrics(t, e.db); done(m) {
				t.Logf("after %d writes: data %d B, disk %d B, fragmentation %.2f%%", n, *m.DataSize, *m.DiskSize, *m.Fragmentation)
				return m
			}
		}
		t.Fatalf("after %d writes the database did not reach the state sought", n)
		return couch.Metrics{}
	}

	m = overwrite(func(m couch.Metrics) bool { return *m.DiskSize >= 1<<20 && *m.Fragmentation < 50 })
	deep(http.StatusOK, "green", "green")
	m = overwrite(func(m couch.Metrics) bool { return *m.Fragmentation >= 55 && *m.Fragmentation < 75 })
	require.GreaterOrEqual(t, *m.DiskSize, int64(1<<20))
	deep(http.StatusOK, "yellow", "yellow")
	m = overwrite(func(m couch.Metrics) bool { return *m.Fragmentation >= 85 })
	deep(http.StatusServiceUnavailable, "red", "red")

	compact(t, node.URL(), e.db)
	m = metrics(t, e.db)
	t.Logf("compacted: data %d B, disk %d B, fragmentation %.2f%%", *m.DataSize, *m.DiskSize, *m.Fragmentation)
	require.GreaterOrEqual(t, *m.DiskSize, int64(1<<20), "the compacted file is still above the threshold")
	require.Less(t, *m.Fragmentation, 50.0)
	deep(http.StatusOK, "green", "green")
}

// TestHealthFragmentationUnknown checks the deep health check of the
// test server: green, with a fragmentation grade where the server reports
// sizes (Apache CouchDB) and "unknown", which does not lower the status,
// where it does not (pouchdb-server).
func TestHealthFragmentationUnknown(t *testing.T) {
	e := newEnv(t, fruit.ResolverConfig{Plugin: "basic"})
	want := "green"
	if couchtest.PouchDB(t) {
		t.Log("pouchdb-server reports no sizes: the grades are unknown; TestHealthFragmentation grades real sizes on Apache CouchDB")
		want = "unknown"
	}
	status, body := e.do("GET", "/v1.0/_health?quick=false", "", "")
	require.Equal(t, http.StatusOK, status, "%v", body)
	b := body.(map[string]any)
	assert.Equal(t, "green", b["status"])
	db := b["database"].(map[string]any)
	assert.Equal(t, want, db["fragmentationStatus"])
	for name, v := range db["views"].(map[string]any) {
		assert.Equal(t, want, v.(map[string]any)["fragmentationStatus"], "view %s", name)
	}
}

// newEnvOn starts the basic sample's service over a fresh sample
// database on node, with the node's automatic compaction off.
func newEnvOn(t *testing.T, node *couchtest.CouchDB) *env {
	t.Helper()
	ctx := context.Background()
	// smoosh's ratio_dbs channel compacts a database whose file is twice
	// its live data; slack_dbs one with 512 MiB to free.
	for _, channel := range []string{"ratio_dbs", "slack_dbs", "ratio_views", "slack_views"} {
		setConfig(t, node.URL(), "smoosh."+channel, "min_priority", "1e12")
	}
	client, err := couch.New(couch.Config{URL: node.URL().String(), Logger: discard})
	require.NoError(t, err)
	db := client.DB("accord_sample")
	require.NoError(t, client.CreateDB(ctx, db.Name()))
	design, err := couch.LoadDesignDocs(sampledb.FS, sampledb.DesignDir)
	require.NoError(t, err)
	_, err = db.InstallDesignDocs(ctx, design)
	require.NoError(t, err)
	r, closeResolver, err := fruit.OpenResolver(ctx, fruit.ResolverConfig{Plugin: "basic"}, discard)
	require.NoError(t, err)
	t.Cleanup(func() { _ = closeResolver(context.Background()) })
	e := &env{t: t, r: r, db: db, log: &syncbuf.Buffer{}}
	e.svc, err = fruit.New(fruit.Options{DB: db, Resolver: r, Logger: discard, RequestTimeout: 20 * time.Second})
	require.NoError(t, err)
	e.srv = httptest.NewServer(e.svc)
	t.Cleanup(e.srv.Close)
	return e
}

// setConfig sets a configuration value of the node at base, whose URL
// carries an admin's credentials.
func setConfig(t *testing.T, base *url.URL, section, key, value string) {
	t.Helper()
	u := base.JoinPath("_node", "_local", "_config", section, key)
	req, err := http.NewRequest(http.MethodPut, u.String(), strings.NewReader(strconv.Quote(value)))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "PUT /_node/_local/_config/%s/%s", section, key)
}

// metrics reads the database's metrics and requires its sizes.
func metrics(t *testing.T, db *couch.DB) couch.Metrics {
	t.Helper()
	m, err := db.Metrics(context.Background())
	require.NoError(t, err)
	require.NotNil(t, m.DataSize, "CouchDB reports the active size")
	require.NotNil(t, m.DiskSize, "CouchDB reports the file size")
	require.NotNil(t, m.Fragmentation)
	return m
}

// ballast returns fragDocSize bytes of random hex.
func ballast(t *testing.T) string {
	b := make([]byte, fragDocSize/2)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// compact compacts the database on the node at base and waits until
// CouchDB says it is done.
func compact(t *testing.T, base *url.URL, db *couch.DB) {
	t.Helper()
	type dbInfo struct {
		CompactRunning bool `json:"compact_running"`
		Sizes          struct {
			File int64 `json:"file"`
		} `json:"sizes"`
	}
	info := func() (dbInfo, bool) {
		var info dbInfo
		resp, err := http.Get(base.JoinPath(db.Name()).String())
		if err != nil {
			return info, false
		}
		defer resp.Body.Close()
		return info, decodeJSON(resp, &info) == nil
	}
	before, ok := info()
	require.True(t, ok, "GET /%s", db.Name())
	u := base.JoinPath(db.Name(), "_compact")
	req, err := http.NewRequest(http.MethodPost, u.String(), nil)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "POST /%s/_compact", db.Name())
	// The 202 comes before the shards' compactions start: compact_running
	// can read false before they have begun. They have run when it reads
	// false and the file has changed size (the file is fragmented here).
	require.Eventually(t, func() bool {
		now, ok := info()
		return ok && !now.CompactRunning && now.Sizes.File != before.Sizes.File
	}, 60*time.Second, 100*time.Millisecond, "compaction ends")
}
