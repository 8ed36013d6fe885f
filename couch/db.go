package couch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// DB is a handle on one database. It is cheap, holds no connection and is
// safe for concurrent use.
type DB struct {
	c    *Client
	name string
}

// DB returns a handle on the database name. It sends no request; a
// database that does not exist shows up as [ErrNotFound] on first use.
func (c *Client) DB(name string) *DB { return &DB{c: c, name: name} }

// Name returns the database's name.
func (db *DB) Name() string { return db.name }

// Client returns the client the handle belongs to.
func (db *DB) Client() *Client { return db.c }

// Info is what the server says about a database (GET /{db}). The sizes
// are nil where the server does not report them.
type Info struct {
	Name        string `json:"db_name"`
	DocCount    int64  `json:"doc_count"`
	DocDelCount int64  `json:"doc_del_count"`
	UpdateSeq   Seq    `json:"update_seq"`
	// Sizes is reported by CouchDB 2 and later.
	Sizes *struct {
		File     *int64 `json:"file"`
		External *int64 `json:"external"`
		Active   *int64 `json:"active"`
	} `json:"sizes,omitempty"`
	// DataSize and DiskSize are CouchDB 1.x's sizes; pouchdb-server
	// reports DiskSize alone when it keeps data on disk.
	// Cluster is how a CouchDB 2+ database is sharded and copied: q
	// shards, n copies of each document, and the default read and write
	// quorums r and w. Nil where the server does not say.
	Cluster *struct {
		Q int `json:"q"`
		N int `json:"n"`
		W int `json:"w"`
		R int `json:"r"`
	} `json:"cluster,omitempty"`
	DataSize *int64 `json:"data_size,omitempty"`
	DiskSize *int64 `json:"disk_size,omitempty"`
}

// Info returns what the server says about the database.
func (db *DB) Info(ctx context.Context) (Info, error) {
	var info Info
	if _, err := db.c.doJSON(ctx, db.req(http.MethodGet), &info); err != nil {
		return Info{}, fmt.Errorf("couch: info %q: %w", db.name, err)
	}
	return info, nil
}

// req starts a request on a path below the database.
func (db *DB) req(method string, path ...string) request {
	return request{method: method, path: append([]string{db.name}, path...)}
}

// Option sets a query parameter of a document read or write.
type Option func(url.Values)

// WithRev reads a given revision of a document.
func WithRev(rev string) Option { return func(q url.Values) { q.Set("rev", rev) } }

// WithConflicts adds the document's conflicting revisions, as
// "_conflicts", to what Get returns.
func WithConflicts() Option { return func(q url.Values) { q.Set("conflicts", "true") } }

// WithRevs adds the document's revision history, as "_revisions".
func WithRevs() Option { return func(q url.Values) { q.Set("revs", "true") } }

// WithDeletedConflicts adds the deleted conflicting revisions, as
// "_deleted_conflicts".
func WithDeletedConflicts() Option { return func(q url.Values) { q.Set("deleted_conflicts", "true") } }

// Batch asks the server to write [DB.Put] or [DB.Post]'s document in a
// later batch (batch=ok): faster, but not durable, and blind. CouchDB
// answers 202 Accepted before the write happens, without a revision, so
// the write returns an empty revision and a nil error; a write that then
// conflicts is dropped by the server and reported to no one. pouchdb-server
// ignores batch=ok and writes at once, returning the revision. A 202
// Accepted that carries a revision (CouchDB's answer when a write reached
// fewer copies than its quorum asked) returns that revision.
func Batch() Option { return func(q url.Values) { q.Set("batch", "ok") } }

func options(opts []Option) url.Values {
	if len(opts) == 0 {
		return nil
	}
	q := url.Values{}
	for _, o := range opts {
		o(q)
	}
	return q
}

// Get reads the document id into dst, which is anything encoding/json can
// decode into, a *json.RawMessage to keep the bytes as they came. It
// fails with an error matching [ErrNotFound] if there is no such document
// or it was deleted.
func (db *DB) Get(ctx context.Context, id string, dst any, opts ...Option) error {
	if err := checkID(id); err != nil {
		return fmt.Errorf("couch: get: %w", err)
	}
	r := db.req(http.MethodGet, id)
	r.query = options(opts)
	if _, err := db.c.doJSON(ctx, r, dst); err != nil {
		return fmt.Errorf("couch: get %q: %w", id, db.whatIsMissing(ctx, err, nil))
	}
	return nil
}

// whatIsMissing tells apart, in a 404 answer err, a missing database
// from what the request was after. A 404 whose reason names a missing or
// deleted document is returned as it is; otherwise the database is
// asked for, and err is returned also matching [ErrDatabaseNotFound] if
// it does not exist, or else matching other (a missing design document or
// view), if other is not nil.
func (db *DB) whatIsMissing(ctx context.Context, err, other error) error {
	e, ok := errors.AsType[*Error](err)
	if !ok || e.StatusCode != http.StatusNotFound {
		return err
	}
	if other == nil && (e.Reason == "missing" || e.Reason == "deleted") {
		return err // the document's own 404, on both servers
	}
	exists, xerr := db.c.DBExists(ctx, db.name)
	switch {
	case xerr != nil:
		return err
	case !exists:
		return fmt.Errorf("%w: %w", ErrDatabaseNotFound, err)
	case other != nil:
		return fmt.Errorf("%w: %w", other, err)
	}
	return err
}

// revPattern is the shape of a document revision, such as "2-1f0e…"; a
// _local document's is "0-1".
var revPattern = regexp.MustCompile(`^[0-9]+-[0-9a-f]+$`)

// Rev returns the current revision of the document id. It asks with HEAD
// and reads the revision from the ETag, as CouchDB sends it; a server
// whose ETag is not the revision (pouchdb-server sends a weak hash, and
// CouchDB a hash for _local documents) is asked with GET instead, as is
// every _local document.
func (db *DB) Rev(ctx context.Context, id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", fmt.Errorf("couch: rev: %w", err)
	}
	if strings.HasPrefix(id, "_local/") {
		return db.revByGet(ctx, id)
	}
	h, err := db.c.doJSON(ctx, db.req(http.MethodHead, id), nil)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok && e.Name == "" {
			// A HEAD answer has no body to name the error.
			e.Name = strings.ReplaceAll(strings.ToLower(http.StatusText(e.StatusCode)), " ", "_")
		}
		return "", fmt.Errorf("couch: rev %q: %w", id, err)
	}
	if etag := h.Get("ETag"); strings.HasPrefix(etag, `"`) && revPattern.MatchString(strings.Trim(etag, `"`)) {
		return strings.Trim(etag, `"`), nil
	}
	return db.revByGet(ctx, id)
}

// revByGet reads the revision of the document id from its body.
func (db *DB) revByGet(ctx context.Context, id string) (string, error) {
	var doc struct {
		Rev string `json:"_rev"`
	}
	if err := db.Get(ctx, id, &doc); err != nil {
		return "", fmt.Errorf("couch: rev: %w", err)
	}
	return doc.Rev, nil
}

// Revision is one revision of a document as [DB.OpenRevs] returns it.
type Revision struct {
	// Rev is the revision id.
	Rev string
	// Doc is the document at that revision, nil if Missing.
	Doc json.RawMessage
	// Missing is true when the server does not have the revision.
	Missing bool
	// Deleted is true when the revision is a deletion.
	Deleted bool
}

// OpenRevs reads several revisions of the document id at once: those
// listed, or every leaf revision when revs is empty. The losing revisions
// of a replication conflict are read this way. opts add query
// parameters (on a cluster, r=n reads every copy).
func (db *DB) OpenRevs(ctx context.Context, id string, revs []string, opts ...Option) ([]Revision, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("couch: open revs: %w", err)
	}
	q := url.Values{}
	if len(revs) == 0 {
		q.Set("open_revs", "all")
	} else {
		b, _ := json.Marshal(revs)
		q.Set("open_revs", string(b))
	}
	for _, o := range opts {
		o(q)
	}
	r := db.req(http.MethodGet, id)
	r.query = q
	var answer []struct {
		OK      json.RawMessage `json:"ok"`
		Missing string          `json:"missing"`
	}
	if _, err := db.c.doJSON(ctx, r, &answer); err != nil {
		return nil, fmt.Errorf("couch: open revs %q: %w", id, err)
	}
	out := make([]Revision, 0, len(answer))
	for _, a := range answer {
		if a.OK == nil {
			out = append(out, Revision{Rev: a.Missing, Missing: true})
			continue
		}
		var meta struct {
			Rev     string `json:"_rev"`
			Deleted bool   `json:"_deleted"`
		}
		if err := json.Unmarshal(a.OK, &meta); err != nil {
			return nil, fmt.Errorf("couch: open revs %q: decode: %w", id, err)
		}
		out = append(out, Revision{Rev: meta.Rev, Doc: a.OK, Deleted: meta.Deleted})
	}
	return out, nil
}

// writeResult is CouchDB's answer to a document write.
type writeResult struct {
	OK  bool   `json:"ok"`
	ID  string `json:"id"`
	Rev string `json:"rev"`
}

// Put writes doc as the document id and returns its new revision. To
// update a document, doc must carry the current revision as "_rev" (or
// pass it with [WithRev]); otherwise the write fails with an error matching
// [ErrConflict].
//
// A write answered 202 Accepted is returned as a success too (see
// [Batch]): on a cluster it reached fewer copies than the write quorum,
// and its revision is not yet known to be the winner. A [Store] checks
// such a write before it acknowledges it; a caller of Put that needs to
// know reads the document back with [WithConflicts].
func (db *DB) Put(ctx context.Context, id string, doc any, opts ...Option) (rev string, err error) {
	rev, _, err = db.put(ctx, id, doc, opts...)
	return rev, err
}

// put is Put that also returns the answer's status: 201 Created, or 202
// Accepted.
func (db *DB) put(ctx context.Context, id string, doc any, opts ...Option) (rev string, status int, err error) {
	if err := checkID(id); err != nil {
		return "", 0, fmt.Errorf("couch: put: %w", err)
	}
	r := db.req(http.MethodPut, id)
	r.body = doc
	r.query = options(opts)
	var res writeResult
	status, _, err = db.c.doJSONStatus(ctx, r, &res)
	if err != nil {
		return "", 0, fmt.Errorf("couch: put %q: %w", id, db.whatIsMissing(ctx, err, nil))
	}
	return res.Rev, status, nil
}

// Post writes doc as a new document whose id the server chooses, unless
// doc carries an "_id", and returns the id and first revision.
func (db *DB) Post(ctx context.Context, doc any) (id, rev string, err error) {
	r := db.req(http.MethodPost)
	r.body = doc
	var res writeResult
	if _, err := db.c.doJSON(ctx, r, &res); err != nil {
		return "", "", fmt.Errorf("couch: post: %w", db.whatIsMissing(ctx, err, nil))
	}
	return res.ID, res.Rev, nil
}

// Delete deletes revision rev of the document id and returns the
// revision of the deletion. A stale rev fails with an error matching
// [ErrConflict].
func (db *DB) Delete(ctx context.Context, id, rev string) (string, error) {
	if err := checkID(id); err != nil {
		return "", fmt.Errorf("couch: delete: %w", err)
	}
	if rev == "" {
		return "", fmt.Errorf("couch: delete %q: no revision given", id)
	}
	r := db.req(http.MethodDelete, id)
	r.query = url.Values{"rev": {rev}}
	var res writeResult
	if _, err := db.c.doJSON(ctx, r, &res); err != nil {
		return "", fmt.Errorf("couch: delete %q: %w", id, db.whatIsMissing(ctx, err, nil))
	}
	return res.Rev, nil
}

// BulkResult is the outcome of one document of a [DB.BulkDocs] call.
type BulkResult struct {
	ID     string `json:"id"`
	Rev    string `json:"rev,omitempty"`
	Error  string `json:"error,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Err returns the result's failure as an *Error (matching [ErrConflict],
// [ErrForbidden], …), or nil if the document was written.
func (r BulkResult) Err() error {
	if r.Error == "" {
		return nil
	}
	status := map[string]int{
		"conflict":     http.StatusConflict,
		"forbidden":    http.StatusForbidden,
		"unauthorized": http.StatusUnauthorized,
		"not_found":    http.StatusNotFound,
		"bad_request":  http.StatusBadRequest,
	}[r.Error]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return &Error{StatusCode: status, Name: r.Error, Reason: r.Reason}
}

// BulkOption changes how [DB.BulkDocs] writes.
type BulkOption func(map[string]any)

// NewEdits(false) writes the documents with the revisions they carry, as
// replication does, instead of making new ones. The server then reports
// only failures.
func NewEdits(on bool) BulkOption { return func(m map[string]any) { m["new_edits"] = on } }

// BulkDocs writes many documents in one request and returns one result
// per document. CouchDB answers in the order of docs; pouchdb-server does
// not when it refuses some (a validate_doc_update function), so match
// results to documents by [BulkResult.ID]. A document that fails does not
// fail the call: look at each result's [BulkResult.Err].
func (db *DB) BulkDocs(ctx context.Context, docs []any, opts ...BulkOption) ([]BulkResult, error) {
	body := map[string]any{"docs": docs}
	for _, o := range opts {
		o(body)
	}
	r := db.req(http.MethodPost, "_bulk_docs")
	r.body = body
	var res []BulkResult
	if _, err := db.c.doJSON(ctx, r, &res); err != nil {
		return nil, fmt.Errorf("couch: bulk docs (%d): %w", len(docs), err)
	}
	return res, nil
}

// AllDocs lists the database's documents by id, through the built-in
// _all_docs view.
func (db *DB) AllDocs(ctx context.Context, q ViewQuery) (*ViewResult, error) {
	res, err := db.query(ctx, []string{"_all_docs"}, q)
	if err != nil {
		return nil, fmt.Errorf("couch: all docs: %w", err)
	}
	return res, nil
}

// ErrInvalidID is matched by the error for an empty document id, returned
// before any request is sent.
var ErrInvalidID = errors.New("invalid document id")

func checkID(id string) error {
	if id == "" || id == "_design/" || id == "_local/" {
		return fmt.Errorf("%w %q", ErrInvalidID, id)
	}
	return nil
}

// Seq is a position in a database's changes feed. CouchDB 2+ uses opaque
// strings, CouchDB 1.x and pouchdb-server numbers; Seq holds either as
// text.
type Seq string

// UnmarshalJSON accepts a JSON string or number.
func (s *Seq) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = Seq(v)
		return nil
	}
	if string(b) == "null" {
		*s = ""
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("couch: seq %s is neither string nor number", b)
	}
	*s = Seq(n.String())
	return nil
}

// MarshalJSON writes a numeric Seq as a number, as it came.
func (s Seq) MarshalJSON() ([]byte, error) {
	if _, err := strconv.ParseInt(string(s), 10, 64); err == nil {
		return []byte(s), nil
	}
	return json.Marshal(string(s))
}
