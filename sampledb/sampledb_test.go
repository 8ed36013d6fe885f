package sampledb_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/sampledb"
)

func TestMain(m *testing.M) { os.Exit(couchtest.Main(m)) }

var ctx = context.Background()

func TestDocsLoad(t *testing.T) {
	design, err := couch.LoadDesignDocs(sampledb.FS, sampledb.DesignDir)
	require.NoError(t, err)
	var ids []string
	for _, d := range design {
		ids = append(ids, d.ID)
	}
	assert.Equal(t, []string{"_design/conflicts", "_design/fruit_by_color", "_design/fruit_by_fruit_id"}, ids)

	seed, err := couch.LoadSeedDocs(sampledb.FS, sampledb.SeedDir)
	require.NoError(t, err)
	require.NotEmpty(t, seed)
	for _, d := range seed {
		f := decodeFruit(t, d.Body)
		assert.Regexp(t, `^[0-9a-f]{32}$`, d.ID, d.Source)
		assert.Equal(t, d.ID, f.FruitID, "%s: fruit_id is the _id", d.Source)
		assert.Equal(t, "fruit_v1.0", f.Type, d.Source)
		assert.NotEmpty(t, f.Color, d.Source)
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, f.CreatedOn, d.Source)
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, f.UpdatedOn, d.Source)
	}
}

type fruit struct {
	ID        string `json:"_id"`
	Type      string `json:"type"`
	FruitID   string `json:"fruit_id"`
	Color     string `json:"color"`
	Tastings  int    `json:"tastings"`
	CreatedOn string `json:"created_on"`
	UpdatedOn string `json:"updated_on"`
}

func decodeFruit(t *testing.T, body []byte) fruit {
	t.Helper()
	var f fruit
	require.NoError(t, couch.CheckType(body))
	require.NoError(t, json.Unmarshal(body, &f))
	return f
}

// TestViews installs the sample database and checks that each view emits
// what the samples expect of it.
func TestViews(t *testing.T) {
	client, err := couch.New(couch.Config{URL: couchtest.URL(t).String(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	db := client.DB(couchtest.NewDB(t))

	design, err := couch.LoadDesignDocs(sampledb.FS, sampledb.DesignDir)
	require.NoError(t, err)
	_, err = db.InstallDesignDocs(ctx, design)
	require.NoError(t, err)
	seed, err := couch.LoadSeedDocs(sampledb.FS, sampledb.SeedDir)
	require.NoError(t, err)
	_, err = db.Seed(ctx, seed)
	require.NoError(t, err)
	// Not a fruit: the fruit views must skip it.
	_, err = db.Put(ctx, "not-a-fruit", map[string]any{"type": "vegetable_v1.0", "color": "red", "fruit_id": "x"})
	require.NoError(t, err)

	byColor := map[string][]string{}
	for _, d := range seed {
		f := decodeFruit(t, d.Body)
		byColor[f.Color] = append(byColor[f.Color], f.ID)
	}

	t.Run("fruit_by_fruit_id", func(t *testing.T) {
		res, err := db.Query(ctx, "fruit_by_fruit_id", "fruit_by_fruit_id", couch.ViewQuery{})
		require.NoError(t, err)
		assert.Len(t, res.Rows, len(seed))
		for _, d := range seed {
			res, err := db.Query(ctx, "fruit_by_fruit_id", "fruit_by_fruit_id", couch.ViewQuery{Key: d.ID, IncludeDocs: true})
			require.NoError(t, err)
			require.Len(t, res.Rows, 1, d.ID)
			assert.Equal(t, d.ID, res.Rows[0].ID)
			assert.JSONEq(t, "null", string(res.Rows[0].Value))
		}
	})
	t.Run("fruit_by_color", func(t *testing.T) {
		for color, ids := range byColor {
			res, err := db.Query(ctx, "fruit_by_color", "fruit_by_color", couch.ViewQuery{Key: color})
			require.NoError(t, err)
			var got []string
			for _, r := range res.Rows {
				got = append(got, r.ID)
			}
			assert.ElementsMatch(t, ids, got, "fruit_by_color key %q", color)
		}
	})
	t.Run("conflicts", func(t *testing.T) {
		res, err := db.Query(ctx, "conflicts", "conflicts", couch.ViewQuery{})
		require.NoError(t, err)
		assert.Empty(t, res.Rows, "no conflicts yet")

		// Write a second, conflicting branch of one fruit as replication would.
		id := seed[0].ID
		var doc map[string]any
		require.NoError(t, db.Get(ctx, id, &doc))
		doc["_rev"] = "1-0123456789abcdef0123456789abcdef"
		doc["color"] = "blue"
		results, err := db.BulkDocs(ctx, []any{doc}, couch.NewEdits(false))
		require.NoError(t, err)
		for _, r := range results {
			require.NoError(t, r.Err())
		}

		res, err = db.Query(ctx, "conflicts", "conflicts", couch.ViewQuery{})
		require.NoError(t, err)
		require.Len(t, res.Rows, 1)
		assert.Equal(t, id, res.Rows[0].ID)
		var key string
		var conflicts []string
		require.NoError(t, res.Rows[0].ScanKey(&key))
		require.NoError(t, res.Rows[0].ScanValue(&conflicts))
		assert.Equal(t, id, key)
		assert.Len(t, conflicts, 1)
	})
}
