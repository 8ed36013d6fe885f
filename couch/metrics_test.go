package couch_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
)

func TestCheckHealth(t *testing.T) {
	db := newDB(t)
	require.NoError(t, db.CheckHealth(ctx))

	missing := newClient(t).DB("accord_no_such_database")
	err := missing.CheckHealth(ctx)
	assert.ErrorIs(t, err, couch.ErrNotFound)

	down, err := couch.New(couch.Config{URL: "http://127.0.0.1:1", Logger: discard})
	require.NoError(t, err)
	assert.Error(t, down.DB("x").CheckHealth(ctx))
}

// TestMetricsAgainstServer reads real metrics. What sizes the server
// reports depends on the server; the doc count and the list of design
// documents do not.
func TestMetricsAgainstServer(t *testing.T) {
	db := newDB(t)
	_, err := db.InstallDesignDocs(ctx, []couch.DesignDoc{
		{ID: "_design/by_color", Body: []byte(byColor)},
		{ID: "_design/other", Body: []byte(`{"views":{"v":{"map":"function(doc){ emit(1, null); }"}}}`)},
	})
	require.NoError(t, err)
	for _, id := range []string{"a", "b", "c"} {
		_, err := db.Put(ctx, id, map[string]any{"color": id})
		require.NoError(t, err)
	}
	m, err := db.Metrics(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 5, m.DocCount, "three documents and two design documents")
	assert.Len(t, m.Views, 2)
	assert.Contains(t, m.Views, "by_color")
	assert.Contains(t, m.Views, "other")
	if couchtest.PouchDB(t) {
		t.Log("pouchdb-server in memory reports no database or view sizes: they are checked on Apache CouchDB only")
		assert.Nil(t, m.DataSize)
		assert.Nil(t, m.DiskSize)
		assert.Nil(t, m.Fragmentation, "no fragmentation without both sizes")
		assert.Equal(t, couch.ViewMetrics{}, m.Views["by_color"])
		return
	}
	requireSizes(t, "database", m.DataSize, m.DiskSize, m.Fragmentation)
	// Build the indexes, so that they hold something (CouchDB may have
	// built them already in the background).
	for _, v := range [][2]string{{"by_color", "by_color"}, {"other", "v"}} {
		res, err := db.Query(ctx, v[0], v[1], couch.ViewQuery{})
		require.NoError(t, err)
		require.Len(t, res.Rows, 3, "view %s/%s", v[0], v[1])
	}
	built, err := db.Metrics(ctx)
	require.NoError(t, err)
	require.Len(t, built.Views, 2)
	for name, vm := range built.Views {
		requireSizes(t, "view "+name, vm.DataSize, vm.DiskSize, vm.Fragmentation)
	}
}

// requireSizes checks sizes a server reported: present, the live data no
// larger than the file, and the fragmentation that follows from them.
func requireSizes(t *testing.T, what string, data, disk *int64, frag *float64) {
	t.Helper()
	require.NotNil(t, data, "%s: data size", what)
	require.NotNil(t, disk, "%s: disk size", what)
	require.NotNil(t, frag, "%s: fragmentation", what)
	t.Logf("%s: data %d B, disk %d B, fragmentation %.2f%%", what, *data, *disk, *frag)
	assert.Positive(t, *data, "%s: data size", what)
	assert.LessOrEqual(t, *data, *disk, "%s: the live data fits in the file", what)
	assert.InDelta(t, 100*float64(*disk-*data)/float64(*disk), *frag, 0.01, "%s: fragmentation", what)
}
