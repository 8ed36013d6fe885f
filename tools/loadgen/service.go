package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// service talks to the fruit service's HTTP API.
type service struct {
	base    *url.URL
	hc      *http.Client
	timeout time.Duration
}

// newService returns a client for the service at base whose transport
// keeps a connection per worker alive. Every request is bounded by
// timeout.
func newService(base *url.URL, concurrency int, timeout time.Duration) *service {
	tr := &http.Transport{
		// A load generator talks to the service directly, never through
		// a proxy from the environment.
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * concurrency,
		MaxIdleConnsPerHost: 2 * concurrency,
		IdleConnTimeout:     90 * time.Second,
	}
	return &service{base: base, hc: &http.Client{Transport: tr}, timeout: timeout}
}

func (s *service) close() { s.hc.CloseIdleConnections() }

// fruit is the service's representation of a fruit.
type fruit struct {
	FruitID   string `json:"fruit_id"`
	Color     string `json:"color"`
	Tastings  int64  `json:"tastings"`
	CreatedOn string `json:"created_on,omitempty"`
	UpdatedOn string `json:"updated_on,omitempty"`
}

// answer is what came back for one request: a status and body, or a
// transport error (Status 0).
type answer struct {
	Status int
	Body   []byte
	Err    error
}

// definite reports whether the answer tells for sure whether the request
// took effect. A 2xx or 4xx does. No answer (a timeout, a transport
// error) does not: the service may have written before the answer was
// lost. Nor does a 5xx, with one exception: a 503 whose error is
// "resolver_failed", since a resolver that fails fails the write
// closed. (The service's other 503s, "timeout", "canceled" and
// "database_unavailable", may come after the database took the write.)
func (a answer) definite() bool {
	switch {
	case a.Err != nil:
		return false
	case a.Status < 500:
		return true
	case a.Status == http.StatusServiceUnavailable:
		var e struct {
			Error string `json:"error"`
		}
		return json.Unmarshal(a.Body, &e) == nil && e.Error == "resolver_failed"
	default:
		return false
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// do sends one request under the service's timeout and reads the whole
// answer, so that the connection can be used again.
func (s *service) do(ctx context.Context, method, path string, body any) answer {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return answer{Err: err}
		}
		rd = bytes.NewReader(data)
	}
	u := *s.base
	path, query, _ := strings.Cut(path, "?") // ids in paths are escaped
	u.Path += path
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return answer{Err: err}
	}
	if method != http.MethodGet {
		// The service refuses a change without it, body or not.
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return answer{Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return answer{Status: resp.StatusCode, Err: err}
	}
	return answer{Status: resp.StatusCode, Body: data}
}

// Paths of the service's API.
const (
	pathFruits  = "/v1.0/fruits"
	pathHealth  = "/v1.0/_health"
	pathMetrics = "/v1.0/_metrics"
)

func fruitPath(id string) string    { return pathFruits + "/" + url.PathEscape(id) }
func tastingsPath(id string) string { return fruitPath(id) + "/tastings" }

// decodeFruit reads a fruit from a 2xx answer.
func decodeFruit(a answer) (fruit, error) {
	var f fruit
	if err := json.Unmarshal(a.Body, &f); err != nil {
		return f, fmt.Errorf("answer is not a fruit: %w: %.200s", err, a.Body)
	}
	if f.FruitID == "" {
		return f, fmt.Errorf("answer has no fruit_id: %.200s", a.Body)
	}
	return f, nil
}

// describe says what went wrong with an answer, for error messages.
func (a answer) describe() string {
	if a.Err != nil {
		return a.Err.Error()
	}
	return fmt.Sprintf("status %d: %.300s", a.Status, bytes.TrimSpace(a.Body))
}

// health checks that the service answers GET /v1.0/_health with 200.
func (s *service) health(ctx context.Context) error {
	a := s.do(ctx, http.MethodGet, pathHealth, nil)
	if a.Err != nil || a.Status != http.StatusOK {
		return fmt.Errorf("GET %s: %s", pathHealth, a.describe())
	}
	return nil
}

// resolverMetrics is the "resolver" object of GET /v1.0/_metrics:
// counters cumulative since the service started.
type resolverMetrics struct {
	Plugin          string           `json:"plugin"`
	Version         string           `json:"version"`
	Conflicts       int64            `json:"conflicts"`
	Decisions       map[string]int64 `json:"decisions"`
	Failures        int64            `json:"failures"`
	DecisionLatency struct {
		Count  int64   `json:"count"`
		MeanMs float64 `json:"meanMs"`
		// Buckets is the cumulative histogram: Count decisions took at
		// most LeMs; the service lists them by rising bound.
		Buckets []latencyBucket `json:"buckets,omitempty"`
	} `json:"decisionLatency"`
}

// latencyBucket is one bucket of the service's decision histogram.
type latencyBucket struct {
	LeMs  float64 `json:"leMs"`
	Count int64   `json:"count"`
}

// metrics reads the resolver's counters. A service that serves no
// metrics, or none about a resolver, is an error the report shows; it
// does not stop the run.
func (s *service) metrics(ctx context.Context) (*resolverMetrics, error) {
	a := s.do(ctx, http.MethodGet, pathMetrics, nil)
	if a.Err != nil || a.Status != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", pathMetrics, a.describe())
	}
	var m struct {
		Resolver *resolverMetrics `json:"resolver"`
	}
	if err := json.Unmarshal(a.Body, &m); err != nil {
		return nil, fmt.Errorf("GET %s: %w", pathMetrics, err)
	}
	if m.Resolver == nil {
		return nil, fmt.Errorf("GET %s: the answer has no \"resolver\" object", pathMetrics)
	}
	return m.Resolver, nil
}
