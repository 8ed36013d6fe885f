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
)

// Ping checks that the server answers: GET /_up where the server has it
// (CouchDB 2+), else GET /. A CouchDB node in maintenance mode answers
// /_up with 404 and its status ("maintenance_mode", "nolb"): Ping then
// fails with an error matching [ErrNotFound] that carries the status.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.doJSON(ctx, request{method: http.MethodGet, path: []string{"_up"}}, nil)
	// A server without /_up (pouchdb-server, CouchDB 1) takes it for a
	// database name and names an error; CouchDB's own /_up names none.
	if e, ok := errors.AsType[*Error](err); ok && e.Name != "" && (errors.Is(e, ErrNotFound) || errors.Is(e, ErrBadRequest)) {
		_, err = c.doJSON(ctx, request{method: http.MethodGet}, nil)
	}
	if err != nil {
		return fmt.Errorf("couch: ping: %w", err)
	}
	return nil
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

// ErrInvalidDBName is matched by the error for a database name CouchDB
// would refuse. It is returned before any request is sent.
var ErrInvalidDBName = errors.New("invalid database name")

// CheckDBName returns an error matching [ErrInvalidDBName] unless name is
// a database name CouchDB accepts: a lower-case letter, then lower-case
// letters, digits and _$()+-/.
func CheckDBName(name string) error {
	if !validDBName.MatchString(name) {
		return fmt.Errorf("%w %q: it must start with a lower-case letter and hold only a-z, 0-9 and _$()+-/", ErrInvalidDBName, name)
	}
	return nil
}

// CreateDB creates the database name. It fails with an error matching
// [ErrPreconditionFailed] if the database exists.
func (c *Client) CreateDB(ctx context.Context, name string) error {
	if err := CheckDBName(name); err != nil {
		return fmt.Errorf("couch: create db: %w", err)
	}
	if _, err := c.doJSON(ctx, request{method: http.MethodPut, path: []string{name}}, nil); err != nil {
		return fmt.Errorf("couch: create db %q: %w", name, err)
	}
	return nil
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

// DBExists reports whether the database name exists.
func (c *Client) DBExists(ctx context.Context, name string) (bool, error) {
	if err := CheckDBName(name); err != nil {
		return false, fmt.Errorf("couch: db exists: %w", err)
	}
	_, err := c.doJSON(ctx, request{method: http.MethodHead, path: []string{name}}, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("couch: db exists %q: %w", name, err)
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
	// DocIDs, if set, limits the replication to these documents.
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
	if len(res.History) > 0 {
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
