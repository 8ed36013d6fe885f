package couch

import (
	"container/list"
	"encoding/json"
	"sync"
)

// DefaultRevisionCacheBytes is the default of [Config.RevisionCacheBytes].
const DefaultRevisionCacheBytes = 8 << 20

// revCache remembers the bodies of revisions the client's stores and
// sweepers wrote or read, least recently used first out, within a bound
// on their bytes. Compaction keeps the bodies of leaves only: once a
// document has moved on, its older revisions' bodies are gone from the
// server (Apache CouchDB compacts by itself, while the document is
// written), and a replication conflict whose common ancestor is such a
// revision could not be merged. A sweeper asks the cache for a body the
// server no longer has. Revision ids name content (the server computes
// them from the body and the parent), so a body remembered under its
// revision is that revision's body.
//
// A nil *revCache remembers nothing.
type revCache struct {
	mu    sync.Mutex
	max   int
	used  int
	order *list.List // of *revEntry, most recently used first
	byKey map[revKey]*list.Element
}

type revKey struct{ db, id, rev string }

type revEntry struct {
	key  revKey
	body json.RawMessage
}

// newRevCache returns a cache of at most max bytes of bodies; nil when
// max is not positive.
func newRevCache(max int) *revCache {
	if max <= 0 {
		return nil
	}
	return &revCache{max: max, order: list.New(), byKey: map[revKey]*list.Element{}}
}

// put remembers body as revision rev of document id in database db. A
// body larger than an eighth of the cache is not kept: it would push out
// many others.
func (c *revCache) put(db, id, rev string, body json.RawMessage) {
	if c == nil || rev == "" || len(body) == 0 || len(body) > c.max/8 {
		return
	}
	k := revKey{db, id, rev}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[k] = c.order.PushFront(&revEntry{key: k, body: body})
	c.used += len(body)
	for c.used > c.max {
		last := c.order.Back()
		e := last.Value.(*revEntry)
		c.order.Remove(last)
		delete(c.byKey, e.key)
		c.used -= len(e.body)
	}
}

// get returns the body remembered for revision rev of document id in
// database db, or nil.
func (c *revCache) get(db, id, rev string) json.RawMessage {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[revKey{db, id, rev}]
	if !ok {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*revEntry).body
}

// revOf returns the _rev of the JSON object doc, or "".
func revOf(doc json.RawMessage) string {
	var meta struct {
		Rev string `json:"_rev"`
	}
	if json.Unmarshal(doc, &meta) != nil {
		return ""
	}
	return meta.Rev
}
