package couch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotServing is matched by the error of [Client.Ping] when the server
// answers but says it does not serve requests: CouchDB's /_up reports
// maintenance mode ("maintenance_mode") or "nolb" (take me out of the
// load balancer).
var ErrNotServing = errors.New("server is not serving requests")

// Ping checks that the server answers and serves requests: GET /_up where
// the server has it (CouchDB 2+), else GET /. A /_up that answers with a
// status instead of an error, as CouchDB does in maintenance mode, fails
// with an error matching [ErrNotServing].
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.doJSON(ctx, request{method: http.MethodGet, path: []string{"_up"}}, nil)
	if e, ok := errors.AsType[*Error](err); ok && e.Status != "" {
		return fmt.Errorf("couch: ping: %w: /_up answered %d with status %q", ErrNotServing, e.StatusCode, bounded(e.Status, 64))
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrBadRequest) {
		_, err = c.doJSON(ctx, request{method: http.MethodGet}, nil)
	}
	if err != nil {
		return fmt.Errorf("couch: ping: %w", err)
	}
	return nil
}

// bounded cuts s to at most n bytes (on a rune boundary), marking the cut,
// so that text from the server never reaches a message unbounded.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// ServerInfo is the server's welcome message (GET /).
type ServerInfo struct {
	// Version is the server's version, such as "3.3.3".
	Version string `json:"version"`
	// Vendor names who built the server.
	Vendor struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
	} `json:"vendor"`
	// UUID identifies the server instance, where it says.
	UUID string `json:"uuid,omitempty"`
	// Features lists optional features (CouchDB 2+).
	Features []string `json:"features,omitempty"`
}

// Version returns the server's welcome message, which carries its version.
func (c *Client) Version(ctx context.Context) (ServerInfo, error) {
	var info ServerInfo
	if _, err := c.doJSON(ctx, request{method: http.MethodGet}, &info); err != nil {
		return ServerInfo{}, fmt.Errorf("couch: version: %w", err)
	}
	return info, nil
}

// AllDBs returns the names of every database on the server.
func (c *Client) AllDBs(ctx context.Context) ([]string, error) {
	var names []string
	if _, err := c.doJSON(ctx, request{method: http.MethodGet, path: []string{"_all_dbs"}}, &names); err != nil {
		return nil, fmt.Errorf("couch: all dbs: %w", err)
	}
	return names, nil
}

// validDBName is CouchDB's rule for database names.
var validDBName = regexp.MustCompile(`^[a-z][a-z0-9_$()+/-]*$`)

// systemDBs are the system databases a client may create and use, which
// CouchDB accepts beside the names validDBName allows.
var systemDBs = map[string]bool{"_users": true, "_replicator": true, "_global_changes": true}

// ErrInvalidDBName is matched by the error for a database name CouchDB
// would refuse. It is returned before any request is sent.
var ErrInvalidDBName = errors.New("invalid database name")

// CheckDBName returns an error matching [ErrInvalidDBName] unless name is
// a database name CouchDB accepts: a lower-case letter, then lower-case
// letters, digits and _$()+-/; or one of the system databases _users,
// _replicator and _global_changes, alone or after a valid prefix and a
// slash ("shard/_replicator"), as CouchDB allows.
func CheckDBName(name string) error {
	if systemDBs[name] {
		return nil
	}
	if i := strings.LastIndexByte(name, '/'); i > 0 && systemDBs[name[i+1:]] && validDBName.MatchString(name[:i]) {
		return nil
	}
	if !validDBName.MatchString(name) {
		return fmt.Errorf("%w %q: it must start with a lower-case letter and hold only a-z, 0-9 and _$()+-/", ErrInvalidDBName, bounded(name, 256))
	}
	return nil
}

// ErrDeletePending is matched by the error of [Client.CreateDB] when the
// server keeps refusing to create a database it says exists, but that does
// not: Apache CouchDB answers 412 for a while after a database was deleted,
// until the deletion has finished on disk.
var ErrDeletePending = errors.New("database still being deleted")

// createTries bounds the attempts of CreateDB at a database the server
// wrongly says exists; createWait is the first wait between them, doubled
// after each.
const (
	createTries = 8
	createWait  = 25 * time.Millisecond
)

// CreateDB creates the database name. It fails with an error matching
// [ErrPreconditionFailed] if the database exists.
//
// A 412 answer is checked: right after a database was deleted, Apache
// CouchDB may answer 412 although the database does not exist. CreateDB
// then retries, a few times and briefly (about 3 s at most, and within
// ctx), and fails with an error matching [ErrDeletePending] (not
// ErrPreconditionFailed) if the server never lets it create the database.
func (c *Client) CreateDB(ctx context.Context, name string) error {
	if err := CheckDBName(name); err != nil {
		return fmt.Errorf("couch: create db: %w", err)
	}
	wait := createWait
	for try := 1; ; try++ {
		_, err := c.doJSON(ctx, request{method: http.MethodPut, path: []string{name}}, nil)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrPreconditionFailed) {
			return fmt.Errorf("couch: create db %q: %w", name, err)
		}
		exists, xerr := c.DBExists(ctx, name)
		if xerr != nil || exists {
			return fmt.Errorf("couch: create db %q: %w", name, err)
		}
		if try == createTries {
			return fmt.Errorf("couch: create db %q: %w: the server answered %v %d times, but the database does not exist", name, ErrDeletePending, err, try)
		}
		if werr := sleep(ctx, wait); werr != nil {
			return fmt.Errorf("couch: create db %q: %w: the server answered %v; waiting to retry: %w", name, ErrDeletePending, err, werr)
		}
		wait *= 2
	}
}

// DeleteDB deletes the database name. It fails with an error matching
// [ErrNotFound] if there is no such database. (It asks first, because
// pouchdb-server answers ok to deleting a database that is not there.)
func (c *Client) DeleteDB(ctx context.Context, name string) error {
	exists, err := c.DBExists(ctx, name)
	if err != nil {
		return fmt.Errorf("couch: delete db: %w", err)
	}
	if !exists {
		return fmt.Errorf("couch: delete db %q: %w", name, &Error{StatusCode: http.StatusNotFound, Name: "not_found", Reason: "Database does not exist."})
	}
	if _, err := c.doJSON(ctx, request{method: http.MethodDelete, path: []string{name}}, nil); err != nil {
		return fmt.Errorf("couch: delete db %q: %w", name, err)
	}
	return nil
}

// EnsureDB creates the database name unless it exists, and reports whether
// it created it.
func (c *Client) EnsureDB(ctx context.Context, name string) (created bool, err error) {
	err = c.CreateDB(ctx, name)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrPreconditionFailed):
		return false, nil
	}
	return false, err
}

// existsTries bounds the attempts of DBExists at a server answering 5xx.
const existsTries = 4

// DBExists reports whether the database name exists.
//
// Right after a database was deleted, Apache CouchDB may answer 500 ("No
// DB shards could be opened") for a few milliseconds, until its shard map
// forgets the database. DBExists asks again, briefly (under 200 ms in all,
// and within ctx), after a 5xx answer, and returns the last error if the
// server never answers otherwise.
func (c *Client) DBExists(ctx context.Context, name string) (bool, error) {
	if err := CheckDBName(name); err != nil {
		return false, fmt.Errorf("couch: db exists: %w", err)
	}
	wait := createWait
	for try := 1; ; try++ {
		// This loop retries; the client's policy must not retry each try.
		_, err := c.doJSON(ctx, request{method: http.MethodHead, path: []string{name}, noRetry: true}, nil)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, ErrNotFound):
			return false, nil
		case errors.Is(err, ErrServerError) && try < existsTries:
			if werr := sleep(ctx, wait); werr != nil {
				return false, fmt.Errorf("couch: db exists %q: %w (waiting to ask again: %w)", name, err, werr)
			}
			wait *= 2
			continue
		}
		return false, fmt.Errorf("couch: db exists %q: %w", name, err)
	}
}

// Replication asks the server to copy documents from one database to
// another. Source and Target are database names on this server or URLs of
// databases anywhere; names are turned into URLs carrying this client's
// credentials, since CouchDB 3 replicates between URLs only.
type Replication struct {
	Source string
	Target string
	// Continuous keeps the replication running, copying new changes as
	// they happen, until it is cancelled.
	Continuous bool
	// CreateTarget creates the target database if it does not exist.
	CreateTarget bool
	// DocIDs, if not nil, limits the replication to these documents. An
	// empty, non-nil list replicates nothing: a one-shot replication
	// returns at once, sending nothing, and a continuous one is refused
	// with [ErrNoDocIDs].
	DocIDs []string
	// ID names a continuous replication's document in the _replicator
	// database. Default: one derived from Source and Target.
	ID string
}

// ReplicationResult is the server's answer to a replication request. A
// one-shot replication reports what it copied; a continuous one returns
// at once with its id.
type ReplicationResult struct {
	OK bool `json:"ok"`
	// ID identifies a continuous replication: its document in the
	// _replicator database.
	ID            string `json:"id,omitempty"`
	SessionID     string `json:"session_id,omitempty"`
	DocsRead      int64  `json:"docs_read"`
	DocsWritten   int64  `json:"docs_written"`
	DocWriteFails int64  `json:"doc_write_failures"`
	// NoChanges is true when there was nothing to copy.
	NoChanges bool `json:"no_changes,omitempty"`
}

// ErrNoDocIDs is matched by the error of a continuous [Replication] whose
// DocIDs is empty but not nil: it would replicate nothing, forever.
var ErrNoDocIDs = errors.New("replication of an empty list of documents")

// replicatorDB is the database whose documents describe continuous
// replications, on CouchDB and pouchdb-server alike.
const replicatorDB = "_replicator"

// Replicate runs r. A one-shot replication goes through POST /_replicate
// and returns when it is done. A continuous one is written as a document
// of the _replicator database, which the server runs until
// [Client.CancelReplication] deletes it; it returns as soon as the
// document is written. (The _replicator database is the way both CouchDB
// and pouchdb-server can stop a continuous replication: pouchdb-server
// cannot cancel one started with _replicate.)
func (c *Client) Replicate(ctx context.Context, r Replication) (ReplicationResult, error) {
	if r.DocIDs != nil && len(r.DocIDs) == 0 {
		// Servers read doc_ids [] as "every document" (pouchdb-server)
		// or as nothing (CouchDB); an empty list means none here.
		if r.Continuous {
			return ReplicationResult{}, fmt.Errorf("couch: replicate %s to %s: %w", redacted(r.Source), redacted(r.Target), ErrNoDocIDs)
		}
		return ReplicationResult{OK: true, NoChanges: true}, nil
	}
	body, err := c.replicationBody(r)
	if err != nil {
		return ReplicationResult{}, err
	}
	if r.Continuous {
		id := replicationID(r)
		if _, err := c.DB(replicatorDB).Put(ctx, id, body); err != nil {
			return ReplicationResult{}, fmt.Errorf("couch: replicate %s to %s: %w", redacted(r.Source), redacted(r.Target), err)
		}
		return ReplicationResult{OK: true, ID: id}, nil
	}
	var raw json.RawMessage
	if _, err := c.doJSON(ctx, request{method: http.MethodPost, path: []string{"_replicate"}, body: body}, &raw); err != nil {
		return ReplicationResult{}, fmt.Errorf("couch: replicate %s to %s: %w", redacted(r.Source), redacted(r.Target), err)
	}
	return decodeReplicationResult(raw)
}

// replicationID names a continuous replication's _replicator document.
func replicationID(r Replication) string {
	if r.ID != "" {
		return r.ID
	}
	sum := sha256.Sum256([]byte(r.Source + "\x00" + r.Target + "\x00" + strings.Join(r.DocIDs, "\x00")))
	return "accord-" + hex.EncodeToString(sum[:12])
}

// decodeReplicationResult reads both CouchDB's answer, which counts docs
// in a "history" list, and pouchdb-server's, which counts them at the top.
func decodeReplicationResult(raw json.RawMessage) (ReplicationResult, error) {
	var res struct {
		ReplicationResult
		History []ReplicationResult `json:"history"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return ReplicationResult{}, fmt.Errorf("couch: replicate: decode answer: %w", err)
	}
	out := res.ReplicationResult
	if out.NoChanges {
		// Nothing was copied. CouchDB repeats the history of the earlier
		// sessions in such an answer; its counts are not this one's.
		out.DocsRead, out.DocsWritten, out.DocWriteFails = 0, 0, 0
		return out, nil
	}
	if len(res.History) > 0 && (out.SessionID == "" || res.History[0].SessionID == out.SessionID) {
		h := res.History[0]
		out.DocsRead, out.DocsWritten, out.DocWriteFails = h.DocsRead, h.DocsWritten, h.DocWriteFails
	}
	return out, nil
}

// CancelReplication stops the continuous replication r started by
// [Client.Replicate], by deleting its _replicator document. It fails with
// an error matching [ErrNotFound] if there is no such replication.
//
// pouchdb-server 4.2 cannot do this: deleting the document of a running
// replication crashes it (a bug in its pouchdb-replicator). Against it,
// a continuous replication runs until the server stops.
func (c *Client) CancelReplication(ctx context.Context, r Replication) error {
	id := replicationID(r)
	rdb := c.DB(replicatorDB)
	rev, err := rdb.Rev(ctx, id)
	if err == nil {
		_, err = rdb.Delete(ctx, id, rev)
	}
	if err != nil {
		return fmt.Errorf("couch: cancel replication %s to %s: %w", redacted(r.Source), redacted(r.Target), err)
	}
	return nil
}

func (c *Client) replicationBody(r Replication) (map[string]any, error) {
	source, err := c.endpoint(r.Source)
	if err != nil {
		return nil, fmt.Errorf("couch: replicate: source: %w", err)
	}
	target, err := c.endpoint(r.Target)
	if err != nil {
		return nil, fmt.Errorf("couch: replicate: target: %w", err)
	}
	body := map[string]any{"source": source, "target": target}
	if r.Continuous {
		body["continuous"] = true
	}
	if r.CreateTarget {
		body["create_target"] = true
	}
	if len(r.DocIDs) > 0 {
		body["doc_ids"] = r.DocIDs
	}
	return body, nil
}

// endpoint turns a database name into a URL on this server with this
// client's credentials; a URL is returned as it is.
func (c *Client) endpoint(db string) (string, error) {
	if u, err := url.Parse(db); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		return db, nil
	}
	if err := CheckDBName(db); err != nil {
		return "", err
	}
	u := c.url([]string{db}, nil)
	if c.auth {
		u.User = url.UserPassword(c.user, c.pass)
	}
	return u.String(), nil
}

// redacted hides the password in an endpoint that is a URL.
func redacted(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil && u.User != nil {
		return u.Redacted()
	}
	return endpoint
}
