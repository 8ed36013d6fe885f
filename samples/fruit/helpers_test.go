package fruit_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
)

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
