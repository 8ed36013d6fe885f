// Package samples_test is the sample test runner (the seed's
// test_all_samples.sh): it builds the fruit service, starts it once for
// each sample's config against a freshly installed database on the test
// server, and runs the sanity suite against it over HTTP.
package samples_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
)

func TestMain(m *testing.M) { os.Exit(couchtest.Main(m)) }

// samples lists every sample folder with a config, and the resolver its
// config names.
var samples = []struct{ name, resolver string }{
	{"basic", "basic"}, {"retry", "retry"}, {"backoff", "backoff"},
	{"health", "backoff"}, {"metrics", "backoff"}, {"merge", "merge"}, {"multimaster", "merge"}, {"cluster", "merge"},
	{"tampering", "basic"}, {"hashencrypt", "basic"},
}

// service is a running fruitsvc process.
type service struct{ *sampletest.Service }

func (s service) do(t *testing.T, method, path, body string) (int, any) {
	t.Helper()
	ctype := ""
	if method != http.MethodGet {
		ctype = "application/json" // the service refuses a change without it
	}
	return sampletest.Request(t, method, s.URL+path, ctype, body)
}

func TestAllSamples(t *testing.T) {
	bin := sampletest.BuildService(t)
	base := couchtest.URL(t)
	for _, sample := range samples {
		t.Run(sample.name, func(t *testing.T) {
			db := sampletest.NewDB(t, false)
			s := service{sampletest.StartService(t, bin, filepath.Join(sample.name, "config.yaml"), base.JoinPath(db.Name()).String())}
			sanity(t, s)
			started := firstLine(s.Output.String())
			assert.Contains(t, started, "service started and listening on "+s.URL)
			assert.Contains(t, started, "resolver="+sample.resolver)
			status, body := s.do(t, "GET", "/v1.0/_metrics", "")
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, sample.resolver, body.(map[string]any)["resolver"].(map[string]any)["plugin"])
			if pw, ok := base.User.Password(); ok {
				assert.NotContains(t, s.Output.String(), pw, "credentials are never logged")
			}
		})
	}
}

// sanity is the seed's sanity suite.
func sanity(t *testing.T, s service) {
	status, _ := s.do(t, "GET", "/", "")
	assert.Equal(t, http.StatusNotFound, status, "GET /")

	ids := map[string]bool{}
	for i := range 5 {
		status, body := s.do(t, "POST", "/v1.0/fruits", fmt.Sprintf(`{"color":"color%d"}`, i))
		require.Equal(t, http.StatusCreated, status, "create: %v", body)
		ids[body.(map[string]any)["fruit_id"].(string)] = true
	}
	status, body := s.do(t, "GET", "/v1.0/fruits", "")
	require.Equal(t, http.StatusOK, status)
	got := map[string]bool{}
	for _, f := range body.([]any) {
		got[f.(map[string]any)["fruit_id"].(string)] = true
	}
	assert.Equal(t, ids, got, "GET all returns exactly the five created")

	for id := range ids {
		status, body := s.do(t, "GET", "/v1.0/fruits/"+id, "")
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, id, body.(map[string]any)["fruit_id"])

		status, body = s.do(t, "PUT", "/v1.0/fruits/"+id, `{"color":"updated"}`)
		require.Equal(t, http.StatusOK, status, "update: %v", body)
		status, body = s.do(t, "GET", "/v1.0/fruits/"+id, "")
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, "updated", body.(map[string]any)["color"], "read back after update")

		status, _ = s.do(t, "DELETE", "/v1.0/fruits/"+id, "")
		assert.Equal(t, http.StatusOK, status, "delete")
		status, _ = s.do(t, "DELETE", "/v1.0/fruits/"+id, "")
		assert.Equal(t, http.StatusNotFound, status, "second delete")
	}

	bad := []struct{ method, path, body string }{
		{"POST", "/v1.0/fruits", `{"colour":"red"}`},
		{"POST", "/v1.0/fruits", `{"color":""}`},
		{"POST", "/v1.0/fruits", `not json`},
		{"GET", "/v1.0/_health?quick=perhaps", ""},
	}
	for _, b := range bad {
		status, body := s.do(t, b.method, b.path, b.body)
		assert.Equal(t, http.StatusBadRequest, status, "%s %s %s", b.method, b.path, b.body)
		assert.NotEmpty(t, body.(map[string]any)["reason"])
	}
	status, _ = s.do(t, "GET", "/v1.0/fruits/not-a-fruit-id", "")
	assert.Equal(t, http.StatusNotFound, status)
}

func firstLine(s string) string {
	line, _, _ := bufio.NewReader(strings.NewReader(s)).ReadLine()
	return string(line)
}
