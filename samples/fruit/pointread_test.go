package fruit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/samples/fruit"
)

// couchRequests lists the CouchDB requests in the service's log from
// line skip on, as "METHOD path-below-the-database status".
func (e *env) couchRequests(skip int) []string {
	e.t.Helper()
	var out []string
	lines := strings.Split(strings.TrimSpace(e.log.String()), "\n")
	for _, line := range lines[min(skip, len(lines)):] {
		var rec struct {
			Msg    string `json:"msg"`
			Method string `json:"method"`
			Path   string `json:"path"`
			Status int    `json:"status"`
		}
		require.NoError(e.t, json.Unmarshal([]byte(line), &rec), "log line %q", line)
		if rec.Msg == "couchdb request" {
			out = append(out, fmt.Sprintf("%s %s %d", rec.Method, strings.TrimPrefix(rec.Path, "/"+e.db.Name()), rec.Status))
		}
	}
	return out
}

// logLines is how many lines the service has logged, for couchRequests.
func (e *env) logLines() int { return strings.Count(e.log.String(), "\n") }

// TestPointReadIsOneDocumentGET checks that the service stores a fruit
// under _id = fruit_id and reads it back by fruit_id with one document
// GET, not a view query (issue 14, point 3), while a fruit installed
// under another id, or whose fruit_id is another document's id, is still
// found through the fruit_by_fruit_id view, and read, changed and
// deleted as before.
func TestPointReadIsOneDocumentGET(t *testing.T) {
	e := newEnv(t, fruit.ResolverConfig{Plugin: "retry"})
	ctx := context.Background()
	const view = "/_design/fruit_by_fruit_id/_view/fruit_by_fruit_id"

	created := e.create("red")["fruit_id"].(string)
	var stored map[string]any
	require.NoError(t, e.db.Get(ctx, created, &stored), "the fruit is stored under _id = fruit_id")
	assert.Equal(t, created, stored["fruit_id"])

	// Installed with other ids: legacy's under a random id; decoy's
	// under legacy's fruit_id, with a fruit_id of its own; cased's under
	// its fruit_id, but with the key spelt otherwise (the view does not
	// see it), and its real document elsewhere.
	legacy, decoy, cased := strings.Repeat("1", 32), strings.Repeat("2", 32), strings.Repeat("3", 32)
	for id, d := range map[string]map[string]any{
		"installed-elsewhere": {"fruit_id": legacy, "color": "green"},
		legacy:                {"fruit_id": decoy, "color": "decoy"},
		cased:                 {"Fruit_ID": cased, "color": "miscased"},
		"cased-elsewhere":     {"fruit_id": cased, "color": "cased"},
	} {
		d["type"], d["tastings"], d["created_on"], d["updated_on"] = fruit.DocType, 0, "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000000Z"
		_, err := e.db.Put(ctx, id, d)
		require.NoError(t, err)
	}

	tests := []struct {
		name      string
		fruitID   string
		wantColor string
		want      []string
	}{
		{"created by the service", created, "red", []string{"GET /" + created + " 200"}},
		{"installed under another id", legacy, "green", []string{"GET /" + legacy + " 200", "GET " + view + " 200"}},
		{"no document under its id", decoy, "decoy", []string{"GET /" + decoy + " 404", "GET " + view + " 200"}},
		{"under its id, a key the view does not read", cased, "cased", []string{"GET /" + cased + " 200", "GET " + view + " 200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			skip := e.logLines()
			status, body := e.do(http.MethodGet, "/v1.0/fruits/"+tt.fruitID, "", "")
			require.Equal(t, http.StatusOK, status, "%v", body)
			assert.Equal(t, tt.wantColor, body.(map[string]any)["color"])
			assert.Equal(t, tt.fruitID, body.(map[string]any)["fruit_id"])
			assert.Equal(t, tt.want, e.couchRequests(skip), "CouchDB requests of GET /v1.0/fruits/%s", tt.fruitID)
		})
	}

	t.Run("changes reach the document found", func(t *testing.T) {
		status, body := e.do(http.MethodPut, "/v1.0/fruits/"+legacy, "application/json", `{"color":"blue"}`)
		require.Equal(t, http.StatusOK, status, "%v", body)
		status, body = e.do(http.MethodPost, "/v1.0/fruits/"+legacy+"/tastings", "application/json", "")
		require.Equal(t, http.StatusOK, status, "%v", body)
		var d map[string]any
		require.NoError(t, e.db.Get(ctx, "installed-elsewhere", &d))
		assert.Equal(t, "blue", d["color"])
		assert.EqualValues(t, 1, d["tastings"])
		require.NoError(t, e.db.Get(ctx, legacy, &d))
		assert.Equal(t, "decoy", d["color"], "the decoy under legacy's fruit_id was left alone")

		status, body = e.do(http.MethodDelete, "/v1.0/fruits/"+legacy, "application/json", "")
		require.Equal(t, http.StatusOK, status, "%v", body)
		status, _ = e.do(http.MethodGet, "/v1.0/fruits/"+legacy, "", "")
		assert.Equal(t, http.StatusNotFound, status)
		require.NoError(t, e.db.Get(ctx, legacy, &d), "the decoy is still there")
	})
}
