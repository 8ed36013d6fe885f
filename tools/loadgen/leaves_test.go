package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
)

func TestSumLeaves(t *testing.T) {
	tests := []struct {
		name string
		in   []leaf
		want readBack
	}{
		{"none: gone", nil, readBack{}},
		{"one", []leaf{{"3-aa", 3}}, readBack{Found: true, Tastings: 3}},
		{"the higher generation wins", []leaf{{"4-00", 4}, {"3-ff", 9}}, readBack{Found: true, Tastings: 4, Leaves: 1, Parked: 5}},
		{"then the higher revision id", []leaf{{"2-aa", 3}, {"2-ab", 2}}, readBack{Found: true, Tastings: 2, Leaves: 1, Parked: 1}},
		{"a losing leaf behind the winner parks nothing", []leaf{{"2-aa", 1}, {"5-00", 4}}, readBack{Found: true, Tastings: 4, Leaves: 1}},
		{"generations compare as numbers", []leaf{{"10-00", 9}, {"9-ff", 8}}, readBack{Found: true, Tastings: 9, Leaves: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, sumLeaves(tt.in), "sumLeaves(%v)", tt.in)
		})
	}
}

// TestAuditReadsLeaves builds, with new_edits=false, a fruit whose
// losing leaf holds a tasting its winner lacks, and checks that the audit
// reading every leaf reports it lost, with the leaf, not stored.
func TestAuditReadsLeaves(t *testing.T) {
	ctx := context.Background()
	db := sampletest.NewDB(t, false)
	fruit := func(id string, tastings int) map[string]any {
		return map[string]any{"type": "fruit_v1.0", "fruit_id": id, "color": "red", "tastings": tastings,
			"created_on": "2026-12-01T00:00:00.000000Z", "updated_on": "2026-12-01T00:00:00.000000Z"}
	}
	rev, err := db.Put(ctx, "d1", fruit("f1", 0))
	require.NoError(t, err)
	_, base, _ := strings.Cut(rev, "-")
	winner, loser := fruit("f1", 2), fruit("f1", 3)
	winner["_id"], winner["_rev"] = "d1", "2-ffffffffffffffffffffffffffffffff"
	winner["_revisions"] = map[string]any{"start": 2, "ids": []string{"ffffffffffffffffffffffffffffffff", base}}
	loser["_id"], loser["_rev"] = "d1", "2-00000000000000000000000000000000"
	loser["_revisions"] = map[string]any{"start": 2, "ids": []string{"00000000000000000000000000000000", base}}
	res, err := db.BulkDocs(ctx, []any{winner, loser}, couch.NewEdits(false))
	require.NoError(t, err)
	for _, r := range res {
		require.NoError(t, r.Err())
	}
	_, err = db.Put(ctx, "d2", fruit("f2", 5))
	require.NoError(t, err)

	u := couchtest.URL(t).JoinPath(db.Name())
	r := newRunner(config{AuditCouch: u, Concurrency: 2, Timeout: 10 * time.Second}, nil)
	recs := []fruitRecord{
		{ID: "f1", Acknowledged: 3},
		{ID: "f2", Acknowledged: 5},
		{ID: "f3", Spare: true, Acknowledged: 1, Deleted: true},
	}
	got := audit(recs, r.readLeaves(ctx, recs))
	assert.Equal(t, "FAIL", got.Verdict)
	assert.Equal(t, 2, got.Audited)
	assert.Equal(t, 1, got.Lost)
	assert.EqualValues(t, 1, got.LostUpdates, "the tasting parked in the losing leaf is lost")
	assert.EqualValues(t, 7, got.Stored, "the winners' tastings: 2 + 5")
	assert.Equal(t, 1, got.WithLeaves)
	assert.EqualValues(t, 1, got.Parked)
	assert.Equal(t, 1, got.Deleted)
	require.Len(t, got.Problems, 1)
	assert.Equal(t, "f1", got.Problems[0].ID)
	assert.Contains(t, got.Problems[0].Detail, "1 live losing leaves, one holding 1 tastings beyond the winner's")
}
