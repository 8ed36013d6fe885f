package couch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Feed is the kind of changes feed to read.
type Feed string

// The feeds [DB.Changes] reads.
const (
	// FeedNormal returns the changes made so far and ends.
	FeedNormal Feed = "normal"
	// FeedLongPoll waits until there is at least one change after Since
	// (or the timeout passes), then returns.
	FeedLongPoll Feed = "longpoll"
)

// ChangesQuery holds the parameters of a changes feed request. The zero
// value reads every change so far.
type ChangesQuery struct {
	// Feed is FeedNormal (the default) or FeedLongPoll.
	Feed Feed
	// Since is where to start: "" for the beginning, "now", or a LastSeq
	// from an earlier answer.
	Since Seq
	// IncludeDocs adds each changed document.
	IncludeDocs bool
	// Conflicts adds "_conflicts" to included documents.
	Conflicts bool
	// AllLeaves lists every leaf revision of a document
	// (style=all_docs), not only the winner: conflicts show up as more
	// than one change revision.
	AllLeaves bool
	// Limit caps the number of changes; zero means no limit.
	Limit int
	// Timeout is how long a long poll waits before returning empty;
	// zero means the server's default (60 s on CouchDB).
	Timeout time.Duration
	// DocIDs, if not nil, limits the feed to these documents; an empty,
	// non-nil list selects none.
	DocIDs []string
}

// Changes is an answer of the changes feed.
type Changes struct {
	Results []Change `json:"results"`
	// LastSeq is where to start the next request from.
	LastSeq Seq `json:"last_seq"`
	// Pending counts the changes after LastSeq, where the server says.
	Pending int64 `json:"pending"`
}

// Change is one changed document.
type Change struct {
	Seq Seq    `json:"seq"`
	ID  string `json:"id"`
	// Changes lists the document's current leaf revisions: the winner
	// only, or every leaf with AllLeaves.
	Changes []struct {
		Rev string `json:"rev"`
	} `json:"changes"`
	Deleted bool `json:"deleted,omitempty"`
	// Doc is the document, with IncludeDocs.
	Doc json.RawMessage `json:"doc,omitempty"`
}

// Revs returns the change's revisions.
func (c Change) Revs() []string {
	revs := make([]string, len(c.Changes))
	for i, r := range c.Changes {
		revs[i] = r.Rev
	}
	return revs
}

// Changes reads the database's changes feed once. For a long poll, give
// ctx a deadline beyond q.Timeout.
func (db *DB) Changes(ctx context.Context, q ChangesQuery) (*Changes, error) {
	v := url.Values{}
	switch q.Feed {
	case "", FeedNormal:
	case FeedLongPoll:
		v.Set("feed", string(FeedLongPoll))
	default:
		return nil, fmt.Errorf("couch: changes: feed %q is not normal or longpoll", q.Feed)
	}
	if q.Since != "" {
		v.Set("since", string(q.Since))
	}
	if q.IncludeDocs {
		v.Set("include_docs", "true")
	}
	if q.Conflicts {
		v.Set("conflicts", "true")
	}
	if q.AllLeaves {
		v.Set("style", "all_docs")
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Timeout > 0 {
		v.Set("timeout", strconv.FormatInt(q.Timeout.Milliseconds(), 10))
	}
	r := db.req(http.MethodGet, "_changes")
	if q.DocIDs != nil {
		v.Set("filter", "_doc_ids")
		r.method = http.MethodPost
		r.body = map[string]any{"doc_ids": q.DocIDs} // [] selects none on both servers
	}
	r.query = v
	var res Changes
	if _, err := db.c.doJSON(ctx, r, &res); err != nil {
		return nil, fmt.Errorf("couch: changes %q: %w", db.name, err)
	}
	return &res, nil
}
