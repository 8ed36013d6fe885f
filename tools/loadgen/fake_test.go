package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeService is an in-memory fruit service for the tests that exercise
// loadgen itself; the end-to-end test runs the real one. Its faults make
// the audit's failures happen on purpose.
type fakeService struct {
	faults
	mu      sync.Mutex
	fruit   map[string]*fruit
	n       int // tastings requests seen
	metrics resolverMetrics
}

// faults are the fake's misdeeds, every that many tastings (0: never).
type faults struct {
	loseEvery     int // answer 200 without counting (a lost update)
	phantomEvery  int // count, then answer 409 (a phantom)
	conflictEvery int // answer 409 without counting (a refusal, fine)
}

func newFake(t *testing.T, fl faults) *httptest.Server {
	t.Helper()
	f := &fakeService{faults: fl, fruit: map[string]*fruit{}}
	f.metrics = resolverMetrics{Plugin: "fake", Version: "0.0.1", Decisions: map[string]int64{"retry": 0, "merge": 0, "accept": 0, "fail": 0}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1.0/_health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "green"})
	})
	mux.HandleFunc("GET /v1.0/_metrics", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"database": map[string]any{"docCount": len(f.fruit)}, "resolver": f.metrics})
	})
	mux.HandleFunc("POST /v1.0/fruits", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Color string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Color == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_body", "reason": "no color"})
			return
		}
		var id [16]byte
		_, _ = rand.Read(id[:])
		fr := &fruit{FruitID: hex.EncodeToString(id[:]), Color: body.Color}
		f.mu.Lock()
		f.fruit[fr.FruitID] = fr
		out := *fr
		f.mu.Unlock()
		writeJSON(w, http.StatusCreated, out)
	})
	one := func(h func(w http.ResponseWriter, r *http.Request, fr *fruit)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			fr, ok := f.fruit[r.PathValue("id")]
			if !ok {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "reason": "no such fruit"})
				return
			}
			h(w, r, fr)
		}
	}
	mux.HandleFunc("GET /v1.0/fruits/{id}", one(func(w http.ResponseWriter, r *http.Request, fr *fruit) {
		writeJSON(w, http.StatusOK, fr)
	}))
	mux.HandleFunc("PUT /v1.0/fruits/{id}", one(func(w http.ResponseWriter, r *http.Request, fr *fruit) {
		var body struct{ Color string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Color == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_body", "reason": "no color"})
			return
		}
		fr.Color = body.Color
		writeJSON(w, http.StatusOK, fr)
	}))
	mux.HandleFunc("DELETE /v1.0/fruits/{id}", one(func(w http.ResponseWriter, r *http.Request, fr *fruit) {
		delete(f.fruit, fr.FruitID)
		writeJSON(w, http.StatusOK, fr)
	}))
	mux.HandleFunc("POST /v1.0/fruits/{id}/tastings", one(func(w http.ResponseWriter, r *http.Request, fr *fruit) {
		f.n++
		every := func(k int) bool { return k > 0 && f.n%k == 0 }
		switch {
		case every(f.loseEvery):
			writeJSON(w, http.StatusOK, fr)
		case every(f.phantomEvery):
			fr.Tastings++
			f.metrics.Conflicts++
			f.metrics.Decisions["fail"]++
			writeJSON(w, http.StatusConflict, map[string]string{"error": "conflict", "reason": "gave up"})
		case every(f.conflictEvery):
			f.metrics.Conflicts++
			f.metrics.Decisions["fail"]++
			writeJSON(w, http.StatusConflict, map[string]string{"error": "conflict", "reason": "gave up"})
		default:
			fr.Tastings++
			writeJSON(w, http.StatusOK, fr)
		}
	}))
	f.serveCouch(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// Credentials and databases of the fake CouchDB under /couch/: fakedb
// holds each fruit as the document doc-{fruit_id}; flakydb too, but
// answers every fourth document GET with a 500; emptydb has the view but
// none of the fruit; any other database does not exist.
const (
	fakeCouchUser     = "admin"
	fakeCouchPassword = "s3cret"
)

// serveCouch adds the two CouchDB requests the baseline sends.
func (f *fakeService) serveCouch(mux *http.ServeMux) {
	var gets atomic.Int64
	authorized := func(w http.ResponseWriter, r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok && u == fakeCouchUser && p == fakeCouchPassword {
			return true
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "reason": "Name or password is incorrect."})
		return false
	}
	known := func(w http.ResponseWriter, db string) bool {
		if db == "fakedb" || db == "flakydb" || db == "emptydb" {
			return true
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "reason": "Database does not exist."})
		return false
	}
	mux.HandleFunc("POST /couch/{db}/_design/fruit_by_fruit_id/_view/fruit_by_fruit_id", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(w, r) || !known(w, r.PathValue("db")) {
			return
		}
		var body struct{ Keys []string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad_request", "reason": err.Error()})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		rows := []map[string]any{}
		for _, k := range body.Keys {
			if _, ok := f.fruit[k]; ok && r.PathValue("db") != "emptydb" {
				rows = append(rows, map[string]any{"id": "doc-" + k, "key": k, "value": nil})
			} else {
				rows = append(rows, map[string]any{"key": k, "error": "not_found"})
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"total_rows": len(f.fruit), "offset": 0, "rows": rows})
	})
	mux.HandleFunc("GET /couch/{db}/{doc}", func(w http.ResponseWriter, r *http.Request) {
		if !authorized(w, r) || !known(w, r.PathValue("db")) {
			return
		}
		if r.PathValue("db") == "flakydb" && gets.Add(1)%4 == 0 {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "unknown_error", "reason": "flaky"})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		fr, ok := f.fruit[strings.TrimPrefix(r.PathValue("doc"), "doc-")]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "reason": "missing"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"_id": r.PathValue("doc"), "_rev": "1-x", "type": "fruit_v1.0", "fruit_id": fr.FruitID, "tastings": fr.Tastings})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
