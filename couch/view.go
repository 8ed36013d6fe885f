package couch

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// ViewQuery holds the parameters of a view query. The zero value asks for
// every row, without documents, reduced if the view has a reduce function.
// Keys are any value encoding/json can encode; nil means "not set" (to ask
// for the key null, pass json.RawMessage("null")).
type ViewQuery struct {
	// Key selects the rows with this key.
	Key any
	// Keys, if not nil, selects the rows with any of these keys, in this
	// order; an empty, non-nil list selects none. The query is then sent
	// as a POST.
	Keys []any
	// StartKey and EndKey bound the rows' keys, both inclusive unless
	// ExclusiveEnd.
	StartKey     any
	EndKey       any
	ExclusiveEnd bool
	// IncludeDocs adds each row's document.
	IncludeDocs bool
	// Conflicts adds "_conflicts" to included documents.
	Conflicts bool
	// Limit caps the number of rows; zero means no limit.
	Limit int
	// Skip skips that many rows first.
	Skip int
	// Descending reverses the order (swap StartKey and EndKey too).
	Descending bool
	// Reduce, if set, turns the view's reduce function on or off; nil
	// means the view's default (on when it has one).
	Reduce *bool
	// Group groups reduced rows by key; GroupLevel by a key prefix.
	Group      bool
	GroupLevel int
	// Stale lets the server answer from an index that is not up to date
	// ("ok" or "update_after"); "" waits for the index.
	Stale string
}

// Bool returns a pointer to b, for [ViewQuery.Reduce].
func Bool(b bool) *bool { return &b }

func (q ViewQuery) values() (url.Values, error) {
	v := url.Values{}
	for name, key := range map[string]any{"key": q.Key, "startkey": q.StartKey, "endkey": q.EndKey} {
		if key == nil {
			continue
		}
		b, err := json.Marshal(key)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", name, err)
		}
		v.Set(name, string(b))
	}
	flags := []struct {
		name string
		on   bool
	}{
		{"include_docs", q.IncludeDocs},
		{"conflicts", q.Conflicts},
		{"descending", q.Descending},
		{"group", q.Group},
	}
	for _, f := range flags {
		if f.on {
			v.Set(f.name, "true")
		}
	}
	if q.ExclusiveEnd {
		v.Set("inclusive_end", "false")
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Skip > 0 {
		v.Set("skip", strconv.Itoa(q.Skip))
	}
	if q.Reduce != nil {
		v.Set("reduce", strconv.FormatBool(*q.Reduce))
	}
	if q.GroupLevel > 0 {
		v.Set("group_level", strconv.Itoa(q.GroupLevel))
	}
	if q.Stale != "" {
		v.Set("stale", q.Stale)
	}
	return v, nil
}

// ViewResult is the answer to a view query.
type ViewResult struct {
	// TotalRows counts the rows in the whole view (not for reduced
	// results).
	TotalRows int `json:"total_rows"`
	// Offset is where the first returned row stands in the view.
	Offset int   `json:"offset"`
	Rows   []Row `json:"rows"`
}

// Row is one row of a view. Its key, value and document are kept as raw
// JSON; decode them into your own types with the Scan methods or [Docs].
type Row struct {
	// ID is the id of the document that emitted the row (not for reduced
	// rows).
	ID    string          `json:"id,omitempty"`
	Key   json.RawMessage `json:"key"`
	Value json.RawMessage `json:"value"`
	// Doc is the document, when the query asked for IncludeDocs; it is
	// nil when the document was deleted.
	Doc json.RawMessage `json:"doc,omitempty"`
	// Error is set on a row of a Keys query whose key has no row, such as
	// "not_found".
	Error string `json:"error,omitempty"`
}

// ScanKey decodes the row's key into dst.
func (r Row) ScanKey(dst any) error { return scan("key", r.Key, dst) }

// ScanValue decodes the row's value into dst.
func (r Row) ScanValue(dst any) error { return scan("value", r.Value, dst) }

// ScanDoc decodes the row's document into dst.
func (r Row) ScanDoc(dst any) error {
	if r.Doc == nil || string(r.Doc) == "null" {
		return fmt.Errorf("couch: row %q has no document (query without IncludeDocs, or deleted)", r.ID)
	}
	return scan("doc", r.Doc, dst)
}

func scan(what string, raw json.RawMessage, dst any) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("couch: decode row %s: %w", what, err)
	}
	return nil
}

// Docs decodes the documents of a result's rows into a slice of T,
// skipping rows without a document (deleted, or not found by a Keys
// query).
func Docs[T any](res *ViewResult) ([]T, error) {
	out := make([]T, 0, len(res.Rows))
	for _, r := range res.Rows {
		if r.Doc == nil || string(r.Doc) == "null" {
			continue
		}
		var v T
		if err := r.ScanDoc(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Query queries the view named view of the design document ddoc (without
// its "_design/" prefix).
func (db *DB) Query(ctx context.Context, ddoc, view string, q ViewQuery) (*ViewResult, error) {
	res, err := db.query(ctx, []string{"_design/" + ddoc, "_view", view}, q)
	if err != nil {
		return nil, fmt.Errorf("couch: query %s/%s: %w", ddoc, view, err)
	}
	return res, nil
}

func (db *DB) query(ctx context.Context, path []string, q ViewQuery) (*ViewResult, error) {
	values, err := q.values()
	if err != nil {
		return nil, err
	}
	r := db.req(http.MethodGet, path...)
	r.query = values
	if q.Keys != nil {
		r.method = http.MethodPost
		r.body = map[string]any{"keys": q.Keys}
	}
	var res ViewResult
	if _, err := db.c.doJSON(ctx, r, &res); err != nil {
		return nil, db.whatIsMissing(ctx, err, ErrViewNotFound)
	}
	return &res, nil
}
