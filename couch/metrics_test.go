package couch_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
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
	if m.DataSize != nil && m.DiskSize != nil {
		require.NotNil(t, m.Fragmentation, "both sizes give a fragmentation")
		assert.GreaterOrEqual(t, *m.DiskSize, int64(0))
	} else {
		assert.Nil(t, m.Fragmentation, "no fragmentation without both sizes")
	}
}
