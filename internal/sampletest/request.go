package sampletest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Request sends a request with body (and, unless empty, contentType) to
// url and returns the status and the JSON body decoded into an any (nil
// for an empty body). It fails t on a transport error or a body that is
// not JSON.
func Request(t testing.TB, method, url, contentType, body string) (int, any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatalf("sampletest: %s %s: %v", method, url, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sampletest: %s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("sampletest: %s %s: read body: %v", method, url, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return resp.StatusCode, nil
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("sampletest: %s %s: body %q is not JSON: %v", method, url, data, err)
	}
	return resp.StatusCode, v
}
