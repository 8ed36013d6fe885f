package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func found(n int64) readBack { return readBack{Found: true, Tastings: n} }

func TestJudge(t *testing.T) {
	tests := []struct {
		name string
		rec  fruitRecord
		rb   readBack
		want string
	}{
		{"clean", fruitRecord{Acknowledged: 10, Refused: 4}, found(10), verdictClean},
		{"untouched", fruitRecord{}, found(0), verdictClean},
		{"lost update", fruitRecord{Acknowledged: 10}, found(9), verdictLost},
		{"phantom", fruitRecord{Acknowledged: 10, Refused: 3}, found(11), verdictPhantom},
		{"indeterminate, none landed", fruitRecord{Acknowledged: 10, Indeterminate: 2}, found(10), verdictClean},
		{"indeterminate, one landed", fruitRecord{Acknowledged: 10, Indeterminate: 2}, found(11), verdictClean},
		{"indeterminate, all landed", fruitRecord{Acknowledged: 10, Indeterminate: 2}, found(12), verdictClean},
		{"indeterminate, more than sent", fruitRecord{Acknowledged: 10, Indeterminate: 2}, found(13), verdictPhantom},
		{"indeterminate cannot hide a loss", fruitRecord{Acknowledged: 10, Indeterminate: 5}, found(9), verdictLost},
		{"base counted", fruitRecord{Base: 7, Acknowledged: 3}, found(10), verdictClean},
		{"base counted, lost", fruitRecord{Base: 7, Acknowledged: 3}, found(3), verdictLost},
		{"deleted is not audited", fruitRecord{Spare: true, Acknowledged: 3, Deleted: true}, readBack{}, verdictDeleted},
		{"gone without a delete", fruitRecord{Acknowledged: 3}, readBack{}, verdictMissing},
		{"gone after an unanswered delete", fruitRecord{Spare: true, Acknowledged: 3, DeleteUnknown: true}, readBack{}, verdictUnverifiable},
		{"still there after an unanswered delete", fruitRecord{Spare: true, Acknowledged: 3, DeleteUnknown: true}, found(3), verdictClean},
		{"unread", fruitRecord{Acknowledged: 3}, readBack{Err: "GET: connection refused"}, verdictUnread},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rec.ID = "f1"
			got := judge(tt.rec, tt.rb)
			assert.Equal(t, tt.want, got.Verdict, "judge(%+v, %+v) = %q (%s), want %q", tt.rec, tt.rb, got.Verdict, got.Detail, tt.want)
		})
	}
}

func TestAuditFeedsALostUpdate(t *testing.T) {
	recs := []fruitRecord{
		{ID: "a", Acknowledged: 5},
		{ID: "b", Acknowledged: 7, Refused: 2},
		{ID: "c", Acknowledged: 4, Indeterminate: 1},
	}
	stored := map[string]readBack{"a": found(5), "b": found(5), "c": found(5)}
	res := audit(recs, stored)
	assert.False(t, res.Pass)
	assert.Equal(t, "FAIL", res.Verdict)
	assert.Equal(t, 3, res.Audited)
	assert.Equal(t, 2, res.Clean)
	assert.Equal(t, 1, res.Lost)
	assert.EqualValues(t, 2, res.LostUpdates)
	require.Len(t, res.Problems, 1)
	assert.Equal(t, "b", res.Problems[0].ID)
	assert.Contains(t, res.Problems[0].Detail, "2 acknowledged tastings lost")
	assert.EqualValues(t, 16, res.Acknowledged)
	assert.EqualValues(t, 1, res.Indeterminate)
	assert.EqualValues(t, 15, res.Stored)
}

func TestAudit(t *testing.T) {
	tests := []struct {
		name    string
		recs    []fruitRecord
		stored  map[string]readBack
		verdict string
		check   func(t *testing.T, res auditResult)
	}{
		{
			name:    "clean",
			recs:    []fruitRecord{{ID: "a", Acknowledged: 5, Refused: 3}, {ID: "b"}},
			stored:  map[string]readBack{"a": found(5), "b": found(0)},
			verdict: "PASS",
			check: func(t *testing.T, res auditResult) {
				assert.Equal(t, 2, res.Clean)
				assert.Empty(t, res.Problems)
			},
		},
		{
			name:    "indeterminate within range",
			recs:    []fruitRecord{{ID: "a", Acknowledged: 5, Indeterminate: 2}},
			stored:  map[string]readBack{"a": found(6)},
			verdict: "PASS",
		},
		{
			name:    "phantom",
			recs:    []fruitRecord{{ID: "a", Acknowledged: 5, Refused: 4}, {ID: "b", Acknowledged: 1}},
			stored:  map[string]readBack{"a": found(6), "b": found(1)},
			verdict: "FAIL",
			check: func(t *testing.T, res auditResult) {
				assert.Equal(t, 1, res.Phantom)
				require.Len(t, res.Problems, 1)
				assert.Equal(t, verdictPhantom, res.Problems[0].Verdict)
				require.NotNil(t, res.Problems[0].Stored)
				assert.EqualValues(t, 6, *res.Problems[0].Stored)
			},
		},
		{
			name:    "a fruit vanished",
			recs:    []fruitRecord{{ID: "a", Acknowledged: 5}},
			stored:  map[string]readBack{"a": {}},
			verdict: "FAIL",
			check:   func(t *testing.T, res auditResult) { assert.Equal(t, 1, res.Missing) },
		},
		{
			name: "deleted and unverifiable fruit are left out",
			recs: []fruitRecord{
				{ID: "a", Acknowledged: 5},
				{ID: "b", Spare: true, Acknowledged: 9, Deleted: true},
				{ID: "c", Spare: true, Acknowledged: 2, DeleteUnknown: true},
			},
			stored:  map[string]readBack{"a": found(5), "b": {}, "c": {}},
			verdict: "PASS",
			check: func(t *testing.T, res auditResult) {
				assert.Equal(t, 1, res.Audited)
				assert.Equal(t, 1, res.Deleted)
				assert.Equal(t, 1, res.Unverifiable)
				assert.EqualValues(t, 5, res.Acknowledged, "only audited fruit count")
				assert.Len(t, res.Fruit, 3, "every fruit has a verdict")
			},
		},
		{
			name: "an acknowledged delete that did not happen",
			recs: []fruitRecord{
				{ID: "a", Acknowledged: 5},
				{ID: "b", Spare: true, Acknowledged: 1, Deleted: true},
			},
			stored:  map[string]readBack{"a": found(5), "b": found(1)},
			verdict: "FAIL",
			check: func(t *testing.T, res auditResult) {
				assert.Equal(t, 1, res.Undeleted)
				require.Len(t, res.Problems, 1)
				assert.Equal(t, verdictUndeleted, res.Problems[0].Verdict)
			},
		},
		{
			name:    "not read back",
			recs:    []fruitRecord{{ID: "a", Acknowledged: 5}, {ID: "b"}},
			stored:  map[string]readBack{"a": found(5), "b": {Err: "timeout"}},
			verdict: "INCOMPLETE",
			check:   func(t *testing.T, res auditResult) { assert.Equal(t, 1, res.Unread) },
		},
		{
			name:    "a failure outranks an incomplete read",
			recs:    []fruitRecord{{ID: "a", Acknowledged: 5}, {ID: "b"}},
			stored:  map[string]readBack{"a": found(4), "b": {Err: "timeout"}},
			verdict: "FAIL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := audit(tt.recs, tt.stored)
			assert.Equal(t, tt.verdict, res.Verdict)
			assert.Equal(t, tt.verdict == "PASS", res.Pass)
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}
