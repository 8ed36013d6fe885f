package couch_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
)

// TestClientReusesConnections checks that a client under many
// concurrent requests keeps its connections to the server open for the
// next request, instead of opening new ones: with Go's default of 2
// idle connections per host, 25 callers would open a new connection for
// most requests (issue 14, point 3). It counts the connections a proxy
// in front of the server accepts.
func TestClientReusesConnections(t *testing.T) {
	upstream := couchtest.URL(t)
	user := upstream.User
	upstream.User = nil
	rp := httputil.NewSingleHostReverseProxy(upstream)
	var conns atomic.Int64
	proxy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user != nil {
			pw, _ := user.Password()
			r.SetBasicAuth(user.Username(), pw)
		}
		rp.ServeHTTP(w, r)
	}))
	proxy.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	proxy.Start()
	t.Cleanup(proxy.Close)

	name := couchtest.NewDB(t)
	c, err := couch.New(couch.Config{URL: proxy.URL, Logger: discard})
	require.NoError(t, err)
	db := c.DB(name)
	_, err = db.Put(ctx, "apple", map[string]any{"color": "red"})
	require.NoError(t, err)

	const callers, each = 25, 20
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range each {
				var doc map[string]any
				if !assert.NoError(t, db.Get(ctx, "apple", &doc)) {
					return
				}
				// A pause, as a service's callers make: the connection
				// waits idle meanwhile.
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	// About one connection per caller (and the first PUT's), with some
	// slack: a request that starts while another's connection is being
	// put back dials a new one (27 seen once on Apache CouchDB). A client
	// that kept only Go's default of 2 idle opened 51.
	assert.LessOrEqual(t, conns.Load(), int64(callers*3/2), "connections opened for %d requests", callers*each+1)
}
