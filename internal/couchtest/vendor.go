package couchtest

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
)

// pouchVendor is the vendor name pouchdb-server gives in its welcome
// message.
const pouchVendor = "PouchDB authors"

var vendors sync.Map // server URL -> vendor name

// PouchDB reports whether the test server is pouchdb-server. It lacks
// /_up, database and view sizes, /_node/_local/_stats, batch writes and
// the cancellation of a continuous replication; a test checks those only
// when PouchDB is false (Apache CouchDB), and says with t.Log why it
// checks less otherwise. It fails t if the server does not answer GET /.
func PouchDB(t testing.TB) bool {
	t.Helper()
	return Vendor(t) == pouchVendor
}

// Vendor returns the vendor name of the test server's welcome message
// (GET /), such as "The Apache Software Foundation".
func Vendor(t testing.TB) string {
	t.Helper()
	base := URL(t)
	key := base.String()
	if v, ok := vendors.Load(key); ok {
		return v.(string)
	}
	req, err := http.NewRequest(http.MethodGet, base.String(), nil)
	if err != nil {
		t.Fatalf("couchtest: GET /: %v", err)
	}
	if pw, ok := base.User.Password(); ok {
		req.SetBasicAuth(base.User.Username(), pw)
	}
	req.URL.User = nil
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("couchtest: GET /: %v\nTo fix: %s", err, fixHint)
	}
	defer resp.Body.Close()
	var welcome struct {
		Vendor struct {
			Name string `json:"name"`
		} `json:"vendor"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&welcome); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("couchtest: GET /: status %d, decode: %v", resp.StatusCode, err)
	}
	if welcome.Vendor.Name == "" {
		t.Fatalf("couchtest: GET /: the welcome message names no vendor")
	}
	vendors.Store(key, welcome.Vendor.Name)
	return welcome.Vendor.Name
}
