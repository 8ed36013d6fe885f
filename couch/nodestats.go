package couch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
)

// NodeStats is what the CouchDB node the client talks to has counted
// since it started (GET /_node/_local/_stats/couchdb): HTTP requests, by
// method and by status, and database reads and writes. The counters only
// grow; a service exports them beside its own metrics. Anything else
// the server sends is ignored.
type NodeStats struct {
	// Requests counts HTTP requests (httpd.requests).
	Requests int64 `json:"requests"`
	// RequestsByMethod counts HTTP requests by method, such as "GET"
	// (httpd_request_methods).
	RequestsByMethod map[string]int64 `json:"requestsByMethod"`
	// ResponsesByStatus counts HTTP answers by status, such as "200" or
	// "409" (httpd_status_codes).
	ResponsesByStatus map[string]int64 `json:"responsesByStatus"`
	// DatabaseReads counts document reads (database_reads).
	DatabaseReads int64 `json:"databaseReads"`
	// DatabaseWrites counts database changes (database_writes).
	DatabaseWrites int64 `json:"databaseWrites"`
	// OpenDatabases counts the databases the node holds open
	// (open_databases).
	OpenDatabases int64 `json:"openDatabases"`
}

// maxStatsBytes bounds the stats answer read; CouchDB 3.4's couchdb
// section is about 12 KB.
const maxStatsBytes = 1 << 20

var (
	statsMethod = regexp.MustCompile(`^[A-Z]{1,16}$`)
	statsStatus = regexp.MustCompile(`^[1-5][0-9][0-9]$`)
)

// NodeStats reads the node's counters. A server without them
// (pouchdb-server) answers with an error matching [ErrNotFound]. Method
// and status names that do not look like one (at most 16 capital letters;
// three digits) are dropped, so they are safe to export.
func (c *Client) NodeStats(ctx context.Context) (NodeStats, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: []string{"_node", "_local", "_stats", "couchdb"}})
	if err != nil {
		return NodeStats{}, fmt.Errorf("couch: node stats: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxStatsBytes+1))
	if err != nil {
		return NodeStats{}, fmt.Errorf("couch: node stats: read: %w", err)
	}
	if len(data) > maxStatsBytes {
		return NodeStats{}, fmt.Errorf("couch: node stats: answer larger than %d bytes", maxStatsBytes)
	}
	type counter struct {
		Value int64 `json:"value"`
	}
	var raw struct {
		HTTPD struct {
			Requests counter `json:"requests"`
		} `json:"httpd"`
		Methods        map[string]counter `json:"httpd_request_methods"`
		Statuses       map[string]counter `json:"httpd_status_codes"`
		DatabaseReads  counter            `json:"database_reads"`
		DatabaseWrites counter            `json:"database_writes"`
		OpenDatabases  counter            `json:"open_databases"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return NodeStats{}, fmt.Errorf("couch: node stats: decode: %w", err)
	}
	s := NodeStats{
		Requests:          raw.HTTPD.Requests.Value,
		RequestsByMethod:  map[string]int64{},
		ResponsesByStatus: map[string]int64{},
		DatabaseReads:     raw.DatabaseReads.Value,
		DatabaseWrites:    raw.DatabaseWrites.Value,
		OpenDatabases:     raw.OpenDatabases.Value,
	}
	for k, v := range raw.Methods {
		if statsMethod.MatchString(k) {
			s.RequestsByMethod[k] = v.Value
		}
	}
	for k, v := range raw.Statuses {
		if statsStatus.MatchString(k) {
			s.ResponsesByStatus[k] = v.Value
		}
	}
	return s, nil
}
