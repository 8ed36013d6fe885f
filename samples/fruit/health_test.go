package fruit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
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
// on CouchDB, by overwriting large documents, and checks the grades of
// the deep health check against the sizes CouchDB reports: green while
// the file is small, yellow from 50% fragmentation, red (503) from 80%,
// and green again, on a file above the threshold, once compacted.
// pouchdb-server reports no sizes: its grade is "unknown", which does not
// lower the status.
func TestHealthFragmentation(t *testing.T) {
	e := newEnv(t, fruit.ResolverConfig{Plugin: "basic"})
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
	if couchtest.PouchDB(t) {
		t.Log("pouchdb-server reports no sizes: the fragmentation grades are checked on Apache CouchDB only")
		deep(http.StatusOK, "green", "unknown")
		return
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

	compact(t, e.db)
	m = metrics(t, e.db)
	t.Logf("compacted: data %d B, disk %d B, fragmentation %.2f%%", *m.DataSize, *m.DiskSize, *m.Fragmentation)
	require.GreaterOrEqual(t, *m.DiskSize, int64(1<<20), "the compacted file is still above the threshold")
	require.Less(t, *m.Fragmentation, 50.0)
	deep(http.StatusOK, "green", "green")
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

// compact compacts the database and waits until CouchDB says it is done.
func compact(t *testing.T, db *couch.DB) {
	t.Helper()
	u := couchtest.URL(t).JoinPath(db.Name(), "_compact")
	req, err := http.NewRequest(http.MethodPost, u.String(), nil)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "POST /%s/_compact", db.Name())
	require.Eventually(t, func() bool {
		var info struct {
			CompactRunning bool `json:"compact_running"`
		}
		resp, err := http.Get(couchtest.URL(t).JoinPath(db.Name()).String())
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return decodeJSON(resp, &info) == nil && !info.CompactRunning
	}, 60*time.Second, 100*time.Millisecond, "compaction ends")
}
