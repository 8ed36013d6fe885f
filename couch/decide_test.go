package couch_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/resolve"
)

// TestDecide checks that Store.Decide, asked about a conflict its caller
// found without a write, counts and validates the decision as the
// conflict loop does, and fails closed on a resolver that fails or
// answers an invalid decision.
func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		answer resolve.Decision
		err    error
		is     []error // nil: the decision is returned
	}{
		{"retry", resolve.Decision{Action: resolve.ActionRetry, DelayMS: 5}, nil, nil},
		{"merge", resolve.Decision{Action: resolve.ActionMerge, Doc: json.RawMessage(`{"type":"counter_v1.0","count":2}`)}, nil, nil},
		{"resolver error", resolve.Decision{}, errors.New("trap"), []error{couch.ErrResolver}},
		{"unknown action", resolve.Decision{Action: "shrug"}, nil, []error{couch.ErrResolver, resolve.ErrInvalidDecision}},
		{"merge of another document", resolve.Decision{Action: resolve.ActionMerge, Doc: json.RawMessage(`{"_id":"other"}`)}, nil,
			[]error{couch.ErrResolver, resolve.ErrInvalidDecision}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stats := &couch.Stats{}
			r := &scripted{desc: resolve.Description{Name: "scripted", Needs: resolve.AllNeeds},
				answer: func(*resolve.Conflict) (resolve.Decision, error) { return tt.answer, tt.err }}
			s := newStore(t, newDB(t), couch.StoreConfig{Resolver: r, Stats: stats})
			c := &resolve.Conflict{ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate, ID: "c1", Attempt: 1,
				Base: json.RawMessage(`{"_id":"c1","type":"counter_v1.0","count":0}`)}
			d, err := s.Decide(context.Background(), c)
			require.Len(t, r.asked, 1, "the resolver was asked")
			assert.Equal(t, "c1", r.asked[0].ID)
			st := stats.Snapshot()["scripted"]
			assert.EqualValues(t, 1, st.Conflicts, "the conflict counts")
			if tt.is == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.answer, d)
				assert.EqualValues(t, 1, st.Decisions[tt.answer.Action], "the decision counts")
				return
			}
			for _, is := range tt.is {
				require.ErrorIs(t, err, is)
			}
			var re *couch.ResolverError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, "c1", re.ID)
			assert.EqualValues(t, 1, st.Failures, "the failure counts")
		})
	}
}
