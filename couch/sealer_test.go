package couch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/couch/keys"
	"github.com/accord-db/accord/couch/secure"
	"github.com/accord-db/accord/couch/tamper"
	"github.com/accord-db/accord/resolve"
)

// testSigner returns a signer with one key, k1.
func testSigner(t *testing.T) *tamper.Signer {
	t.Helper()
	r, err := keys.New([]string{"k1"}, [][]byte{bytes.Repeat([]byte{7}, keys.Size)})
	require.NoError(t, err)
	s, err := tamper.New(tamper.Config{Keys: r})
	require.NoError(t, err)
	return s
}

// tamperWith changes the stored document id behind the store's back, as
// someone editing the database directly would.
func tamperWith(t *testing.T, db *couch.DB, id string, change func(map[string]any)) {
	t.Helper()
	var cur map[string]any
	require.NoError(t, db.Get(ctx, id, &cur))
	change(cur)
	_, err := db.Put(ctx, id, cur)
	require.NoError(t, err)
}

// TestSealedStoreRefusesTampered checks that a store with a signer
// signs what it writes, reads it back, and never returns a document
// changed in the database: Get, Update and Delete fail with ErrRefused
// (and tamper.ErrTampered), Query leaves it out, and each refusal logs an
// ERROR line naming the document and counts in Stats.Refused.
func TestSealedStoreRefusesTampered(t *testing.T) {
	tests := []struct {
		name   string
		change func(map[string]any)
	}{
		{"a property changed", func(d map[string]any) { d["count"] = 1000.0 }},
		{"a property added", func(d map[string]any) { d["note"] = "hello" }},
		{"the signature removed", func(d map[string]any) { delete(d, tamper.DefaultField) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newDB(t)
			log, buf := debugLogger()
			stats := &couch.Stats{}
			s := newStore(t, db, couch.StoreConfig{Sealer: testSigner(t), Logger: log, Stats: stats})
			good := createCounter(t, s)
			bad := createCounter(t, s)

			var raw map[string]any
			require.NoError(t, db.Get(ctx, bad.ID, &raw))
			require.Contains(t, raw, tamper.DefaultField, "the store signs what it writes")
			got, err := s.Get(ctx, couch.ByID(bad.ID))
			require.NoError(t, err)
			assert.Equal(t, bad.Value, got.Value)

			tamperWith(t, db, bad.ID, tt.change)

			_, err = s.Get(ctx, couch.ByID(bad.ID))
			require.ErrorIs(t, err, couch.ErrRefused)
			assert.ErrorIs(t, err, tamper.ErrTampered)
			_, err = s.Update(ctx, couch.ByID(bad.ID), func(c *counter) error { c.Count++; return nil })
			assert.ErrorIs(t, err, couch.ErrRefused, "an update does not build on a tampered document")
			_, err = s.Delete(ctx, couch.ByID(bad.ID), nil)
			assert.ErrorIs(t, err, couch.ErrRefused)

			assert.EqualValues(t, 3, stats.Refused())

			_, err = s.Get(ctx, couch.ByID(good.ID))
			assert.NoError(t, err, "the untouched document still reads")
			errorLines := 0
			for line := range strings.Lines(buf.String()) {
				if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "document refused") {
					assert.Contains(t, line, `"id":"`+bad.ID+`"`)
					errorLines++
				}
			}
			assert.Equal(t, 3, errorLines, "one ERROR line per refusal")
		})
	}
}

// TestSealedStoreQuery checks that Query leaves out a tampered document,
// counts it and returns the others.
func TestSealedStoreQuery(t *testing.T) {
	db := newDB(t)
	_, err := db.Put(ctx, "_design/counters", map[string]any{
		"views": map[string]any{"all": map[string]any{"map": "function(doc){ if (doc.type === 'counter_v1.0') emit(doc._id, null); }"}},
	})
	require.NoError(t, err)
	stats := &couch.Stats{}
	s := newStore(t, db, couch.StoreConfig{Sealer: testSigner(t), Stats: stats})
	var ids []string
	for range 3 {
		ids = append(ids, createCounter(t, s).ID)
	}
	tamperWith(t, db, ids[1], func(d map[string]any) { d["name"] = "forged" })
	docs, err := s.Query(ctx, "counters", "all", couch.ViewQuery{})
	require.NoError(t, err)
	var got []string
	for _, d := range docs {
		got = append(got, d.ID)
	}
	assert.ElementsMatch(t, []string{ids[0], ids[2]}, got)
	assert.EqualValues(t, 1, stats.Refused())
}

// TestSealedMergeSignedByHost checks that a resolver never sees the
// signature, that a signature it puts in its merge is replaced, and that
// the merged document is signed by the host and verifies.
func TestSealedMergeSignedByHost(t *testing.T) {
	db := newDB(t)
	signer := testSigner(t)
	forged := json.RawMessage(`{"kid":"k1","hmac":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`)
	r := &scripted{
		desc: resolve.Description{Name: "scripted", Needs: resolve.AllNeeds},
		answer: func(c *resolve.Conflict) (resolve.Decision, error) {
			var theirs map[string]json.RawMessage
			_ = json.Unmarshal(c.Theirs, &theirs)
			theirs["note"] = json.RawMessage(`"merged"`)
			theirs[tamper.DefaultField] = forged
			doc, _ := json.Marshal(theirs)
			return resolve.Decision{Action: resolve.ActionMerge, Doc: doc}, nil
		},
	}
	s := newStore(t, db, couch.StoreConfig{Sealer: signer, Resolver: r})
	other := newStore(t, db, couch.StoreConfig{Sealer: signer})
	d := createCounter(t, s)
	var calls atomic.Int32
	res, err := s.Update(ctx, couch.ByID(d.ID), func(c *counter) error {
		if calls.Add(1) == 1 { // a concurrent, signed write
			_, err := other.Update(ctx, couch.ByID(d.ID), func(c *counter) error { c.Count += 10; return nil })
			require.NoError(t, err)
		}
		c.Count++
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, couch.StatusMerged, res.Status)

	require.Len(t, r.asked, 1)
	for what, doc := range map[string]json.RawMessage{"base": r.asked[0].Base, "mine": r.asked[0].Mine, "theirs": r.asked[0].Theirs} {
		assert.NotContains(t, string(doc), tamper.DefaultField, "the resolver was shown %s with its signature", what)
	}
	var raw json.RawMessage
	require.NoError(t, db.Get(ctx, d.ID, &raw))
	assert.NoError(t, signer.Verify(d.ID, raw), "the merge is signed by the host")
	assert.NotContains(t, string(raw), "AAAAAAAAAAAA", "the resolver's signature was replaced")
	got, err := s.Get(ctx, couch.ByID(d.ID))
	require.NoError(t, err)
	assert.Equal(t, "merged", got.Value.Note)
	assert.Equal(t, 10, got.Value.Count)
}

// TestSealsEncryptThenSign checks a chain of the sensitive properties and
// a signer: the database holds the ciphertext under a signature; the
// store reads the plain value back; a ciphertext edited in the database
// fails the signature first.
func TestSealsEncryptThenSign(t *testing.T) {
	db := newDB(t)
	enc, err := keys.New([]string{"e1"}, [][]byte{bytes.Repeat([]byte{9}, keys.Size)})
	require.NoError(t, err)
	props, err := secure.New(secure.Config{Model: secure.Model{Encrypted: []string{"note"}}, EncryptionKeys: enc})
	require.NoError(t, err)
	signer := testSigner(t)
	s := newStore(t, db, couch.StoreConfig{Sealer: couch.Seals(props, signer)})
	d, err := s.Create(ctx, counter{Type: "counter_v1.0", Name: "c", Note: "a secret note"})
	require.NoError(t, err)

	var raw json.RawMessage
	require.NoError(t, db.Get(ctx, d.ID, &raw))
	assert.NotContains(t, string(raw), "secret")
	assert.Contains(t, string(raw), `"note":"aes256gcm:e1:`)
	assert.NoError(t, signer.Verify(d.ID, raw), "the signature covers the ciphertext")
	got, err := s.Get(ctx, couch.ByID(d.ID))
	require.NoError(t, err)
	assert.Equal(t, "a secret note", got.Value.Note)

	tamperWith(t, db, d.ID, func(m map[string]any) { m["note"] = "aes256gcm:e1:AAAA" })
	_, err = s.Get(ctx, couch.ByID(d.ID))
	assert.ErrorIs(t, err, tamper.ErrTampered)
}

// recorder is a resolver that records the conflicts it is asked about
// and passes them on.
type recorder struct {
	resolve.Resolver
	asked []resolve.Conflict
}

func (r *recorder) Resolve(ctx context.Context, c *resolve.Conflict) (resolve.Decision, error) {
	r.asked = append(r.asked, *c)
	return r.Resolver.Resolve(ctx, c)
}

func (r *recorder) Describe() resolve.Description { return r.Resolver.(resolve.Describer).Describe() }

// TestSweepSealed checks the sweeper with a signer: a replication
// conflict between signed leaves is settled, the resolver sees no
// signature, and the merge it wrote is signed by the host; a leaf changed
// in the database stops the document's sweep, nothing written, and raises
// the alarm.
func TestSweepSealed(t *testing.T) {
	db := newDB(t)
	signer := testSigner(t)
	signed := func(id string, body map[string]any) map[string]any {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		out, err := signer.Sign(id, b)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(out, &m))
		return m
	}
	branch(t, db, "good", signed("good", fruitBody(0, "red", "2026-01-01")), "a")
	branch(t, db, "good", signed("good", fruitBody(3, "green", "2026-01-03")), "w", "a")
	branch(t, db, "good", signed("good", fruitBody(2, "yellow", "2026-01-02")), "l", "a")

	r := &recorder{Resolver: fruitMerge()}
	log, buf := debugLogger()
	stats := &couch.Stats{}
	s, err := couch.NewSweeper(db, couch.SweepConfig{Resolver: r, Logger: log, Sealer: signer, Stats: stats})
	require.NoError(t, err)
	res, err := s.Settle(ctx, "good")
	require.NoError(t, err)
	assert.Equal(t, 1, res.Merged)
	tastings, color := settledFruit(t, db, "good")
	assert.Equal(t, 5, tastings)
	assert.Equal(t, "green", color)
	var raw json.RawMessage
	require.NoError(t, db.Get(ctx, "good", &raw))
	assert.NoError(t, signer.Verify("good", raw), "the sweeper's merge is signed by the host")
	require.NotEmpty(t, r.asked)
	for _, c := range r.asked {
		for _, doc := range []json.RawMessage{c.Base, c.Mine, c.Theirs} {
			assert.NotContains(t, string(doc), tamper.DefaultField, "the resolver was shown a signature")
		}
	}

	branch(t, db, "forged", signed("forged", fruitBody(0, "red", "2026-01-01")), "a")
	branch(t, db, "forged", signed("forged", fruitBody(3, "green", "2026-01-03")), "w", "a")
	branch(t, db, "forged", fruitBody(100, "gold", "2026-01-02"), "l", "a") // written behind the service's back
	_, err = s.Settle(ctx, "forged")
	require.ErrorIs(t, err, couch.ErrRefused)
	assert.ErrorIs(t, err, tamper.ErrTampered)
	assert.EqualValues(t, 1, stats.Refused())
	assert.Contains(t, buf.String(), `"id":"forged"`)
	var left struct {
		Conflicts []string `json:"_conflicts"`
	}
	require.NoError(t, db.Get(ctx, "forged", &left, couch.WithConflicts()))
	assert.Len(t, left.Conflicts, 1, "nothing was written")
}
