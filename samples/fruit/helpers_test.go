package fruit_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
	"github.com/accord-db/accord/samples/fruit"
)

// benchDB is a new sample database on the test server, reached through a
// couch client that logs nothing: what the service benchmarks run on.
func benchDB(b *testing.B) *couch.DB {
	b.Helper()
	db := sampletest.NewDB(b, false)
	client, err := couch.New(couch.Config{URL: couchtest.URL(b).String(), Logger: discard})
	require.NoError(b, err)
	return client.DB(db.Name())
}

// serveFruit serves a fruit service made with opts on a loopback port
// until the benchmark ends, and returns its base URL.
func serveFruit(b *testing.B, opts fruit.Options) string {
	b.Helper()
	svc, err := fruit.New(opts)
	require.NoError(b, err)
	srv := &http.Server{Handler: svc}
	ln := listen(b)
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// createFruit creates a red fruit through the service at base and
// returns its fruit_id.
func createFruit(tb testing.TB, base string) string {
	tb.Helper()
	resp, err := http.Post(base+"/v1.0/fruits", "application/json", strings.NewReader(`{"color":"red"}`))
	require.NoError(tb, err)
	defer resp.Body.Close()
	require.Equal(tb, http.StatusCreated, resp.StatusCode)
	var f fruit.Fruit
	require.NoError(tb, decodeJSON(resp, &f))
	return f.FruitID
}

func listen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
