package couch

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures a [Client]. The zero value talks to
// http://127.0.0.1:5984 without credentials.
type Config struct {
	// URL is the server's base URL, such as http://127.0.0.1:5984 or
	// https://admin:secret@couch.example:6984. Credentials in it are used
	// for basic auth and removed from the URL the client keeps, so they
	// never appear in logs or errors; characters such as / ? # @ in them
	// must be percent-encoded (see [ParseURL]). A URL that does not parse
	// is refused with an error that quotes none of it. Default
	// http://127.0.0.1:5984.
	URL string
	// Username and Password, when Username is set, override credentials
	// given in URL.
	Username string
	Password string
	// InsecureSkipVerify turns off TLS certificate verification, for
	// servers with self-signed certificates. Ignored if HTTPClient is set.
	InsecureSkipVerify bool
	// TLSConfig, if set, is used for https connections (a private CA, a
	// client certificate). Ignored if HTTPClient is set.
	TLSConfig *tls.Config
	// HTTPClient sends the requests. Default: a client with its own
	// transport tuned for many concurrent requests to one server.
	HTTPClient *http.Client
	// Logger receives one line per request at debug level (method, path,
	// status, duration), and a warning for every failed request and every
	// retry. Default: slog.Default().
	Logger *slog.Logger
	// Retry is how transient failures (5xx, 429, connection errors) are
	// retried. The zero value is the default policy; see [RetryPolicy].
	Retry RetryPolicy
	// Stats, if set, counts the client's retries (see [Stats.Retries]).
	// A client and its stores may share one.
	Stats *Stats
	// MaxResponseBytes bounds the body of an answer the client reads
	// (a document, a view, a changes batch); a larger one fails with an
	// error matching [ErrResponseTooLarge], so that a misbehaving server
	// or proxy cannot exhaust memory. Default 64 MiB (CouchDB's own
	// limit on a document is 8 MiB); a negative value means no limit.
	MaxResponseBytes int64
	// RevisionCacheBytes bounds the bodies of recent revisions the
	// client's stores and sweepers remember, for a replication-conflict
	// sweep whose common ancestor the server has compacted away (see
	// [Sweeper]). Default [DefaultRevisionCacheBytes]; a negative value
	// turns the cache off.
	RevisionCacheBytes int
}

// DefaultMaxResponseBytes is the default of [Config.MaxResponseBytes].
const DefaultMaxResponseBytes = 64 << 20

// ErrResponseTooLarge is matched by the error for an answer larger than
// [Config.MaxResponseBytes].
var ErrResponseTooLarge = errors.New("response larger than the client's limit")

// DefaultURL is the server a zero Config talks to.
const DefaultURL = "http://127.0.0.1:5984"

// Client talks to one CouchDB server. It is safe for concurrent use.
type Client struct {
	base   *url.URL // no credentials, path without trailing slash
	user   string
	pass   string
	auth   bool
	http   *http.Client
	logger *slog.Logger
	retry  RetryPolicy
	budget *budget
	stats  *Stats
	maxRes int64 // bound on a response body; <0 none
	revs   *revCache
}

// New returns a client for the server cfg names. It sends no request; use
// [Client.Ping] to check the server is there.
func New(cfg Config) (*Client, error) {
	raw := cfg.URL
	if raw == "" {
		raw = DefaultURL
	}
	u, err := ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("couch: server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("couch: server URL %q: scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("couch: server URL %q has no host", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("couch: server URL %q must not have a query or fragment", u.Redacted())
	}
	retry, err := cfg.Retry.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{logger: cfg.Logger, http: cfg.HTTPClient, retry: retry, budget: newBudget(retry), stats: cfg.Stats,
		maxRes: cfg.MaxResponseBytes}
	if c.maxRes == 0 {
		c.maxRes = DefaultMaxResponseBytes
	}
	switch n := cfg.RevisionCacheBytes; {
	case n == 0:
		c.revs = newRevCache(DefaultRevisionCacheBytes)
	case n > 0:
		c.revs = newRevCache(n)
	}
	if u.User != nil {
		c.user = u.User.Username()
		c.pass, _ = u.User.Password()
		c.auth = true
	}
	if cfg.Username != "" {
		c.user, c.pass, c.auth = cfg.Username, cfg.Password, true
	}
	base := *u
	base.User = nil
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawPath = ""
	c.base = &base
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 128
		if cfg.TLSConfig != nil {
			t.TLSClientConfig = cfg.TLSConfig.Clone()
		}
		if cfg.InsecureSkipVerify {
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{}
			}
			t.TLSClientConfig.InsecureSkipVerify = true
		}
		c.http = &http.Client{Transport: t}
	}
	return c, nil
}

// URL returns the server's base URL without credentials.
func (c *Client) URL() *url.URL {
	u := *c.base
	return &u
}

// request is one HTTP exchange with the server.
type request struct {
	method string
	path   []string // unescaped path segments
	query  url.Values
	body   any // marshalled as JSON unless it is []byte or nil
	header http.Header
	// noRetry sends the request once, whatever the RetryPolicy: for a
	// caller that retries it itself, so that two loops do not compound.
	noRetry bool
}

// escapePath joins segments into an escaped URL path. Each segment is
// escaped whole by [escapeSegment], so a '/' inside a document id cannot
// reach another resource; the prefixes of design and local documents are
// kept literal as CouchDB expects.
func escapePath(segments []string) (path, raw string) {
	var p, r strings.Builder
	for _, s := range segments {
		p.WriteByte('/')
		r.WriteByte('/')
		p.WriteString(s)
		for _, prefix := range [...]string{"_design/", "_local/"} {
			if strings.HasPrefix(s, prefix) && len(s) > len(prefix) {
				r.WriteString(prefix)
				s = s[len(prefix):]
				break
			}
		}
		r.WriteString(escapeSegment(s))
	}
	return p.String(), r.String()
}

// escapeSegment percent-encodes every byte of s but RFC 3986's unreserved
// characters (letters, digits, '-', '.', '_', '~'). That is stricter than
// [url.PathEscape], and it has to be: CouchDB decodes a path segment as a
// form value, so a '+' that PathEscape leaves alone reaches CouchDB as a
// space ("a+b" would name the document "a b"), and the sub-delimiters
// '$', '&', '=', ';', ',', ':', '@', '(', ')' that database names and ids
// may hold are safest sent encoded too.
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

// unreserved reports whether c may stand in a URL unencoded (RFC 3986 2.3).
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func (c *Client) url(path []string, query url.Values) *url.URL {
	u := *c.base
	p, r := escapePath(path)
	u.Path += p
	u.RawPath = c.base.EscapedPath() + r
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	return &u
}

// do sends r and returns the answer if its status is 2xx; otherwise it
// reads the body into an *Error. The caller closes the body. A transient
// failure is retried as the client's [RetryPolicy] allows.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	var data []byte
	switch b := r.body.(type) {
	case nil:
	case []byte:
		data = b
	case json.RawMessage:
		data = b
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
	}
	u := c.url(r.path, r.query)
	maybeApplied := false // an attempt may have been applied, its answer lost
	for attempt := 1; ; attempt++ {
		resp, err := c.send(ctx, r, u, data)
		if err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300 {
			if attempt == 1 {
				c.budget.earn()
			}
			return resp, nil
		}
		reason, applied, after, retry := transient(r, resp, err)
		retry = retry && !r.noRetry
		status := 0
		if resp != nil {
			status = resp.StatusCode
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			err = decodeError(resp.StatusCode, body)
		}
		if !retry {
			if maybeApplied {
				c.stats.retryEnded(retryAmbiguous)
				return nil, ambiguous(err)
			}
			return nil, err
		}
		maybeApplied = maybeApplied || applied
		wait, why := c.retryWait(ctx, attempt, after)
		if why != "" {
			c.stats.retryEnded(why)
			c.retryLog(ctx, "couchdb request not retried: "+why, r, u, attempt, reason, 0, status, err)
			if why == retryGaveUp {
				err = fmt.Errorf("giving up after %d attempt(s): %w", attempt, err)
			} else {
				err = fmt.Errorf("not retried after %d attempt(s), %s: %w", attempt, why, err)
			}
			if maybeApplied {
				return nil, ambiguous(err)
			}
			return nil, err
		}
		c.stats.retried(reason)
		c.retryLog(ctx, "couchdb request retry", r, u, attempt, reason, wait, status, err)
		if werr := waitRetry(ctx, wait); werr != nil {
			err = fmt.Errorf("waiting to retry after %d attempt(s): %w (last failure: %w)", attempt, werr, err)
			if maybeApplied {
				return nil, ambiguous(err)
			}
			return nil, err
		}
	}
}

// send makes one attempt at r and logs it.
func (c *Client) send(ctx context.Context, r request, u *url.URL, data []byte) (*http.Response, error) {
	var body io.Reader
	if data != nil {
		body = bytes.NewReader(data)
	}
	// The request is built on a copy of u rather than on u.String(),
	// which http.NewRequest would parse back into the same URL.
	req, err := http.NewRequestWithContext(ctx, r.method, "", body)
	if err != nil {
		return nil, err
	}
	ru := *u
	ru.Host = strings.TrimSuffix(ru.Host, ":") // as NewRequest does
	req.URL, req.Host = &ru, ru.Host
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.auth {
		req.SetBasicAuth(c.user, c.pass)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	elapsed := time.Since(start)
	if err != nil {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "couchdb request failed",
			slog.String("method", r.method), slog.String("path", logPath(u)),
			slog.Duration("duration", elapsed), slog.String("error", transportError(err).Error()))
		return nil, err
	}
	level := slog.LevelDebug
	if resp.StatusCode >= 500 {
		level = slog.LevelWarn
	}
	// Enabled first: the line's path is escaped and cut only for a
	// logger that writes it (every point read goes through here).
	if c.logger.Enabled(ctx, level) {
		c.logger.LogAttrs(ctx, level, "couchdb request",
			slog.String("method", r.method), slog.String("path", logPath(u)),
			slog.Int("status", resp.StatusCode), slog.Duration("duration", elapsed))
	}
	return resp, nil
}

// doJSON sends r and decodes a 2xx answer's JSON body into dst (unless dst
// is nil, when the body is discarded).
func (c *Client) doJSON(ctx context.Context, r request, dst any) (http.Header, error) {
	_, h, err := c.doJSONStatus(ctx, r, dst)
	return h, err
}

// doJSONStatus is doJSON that also returns the answer's status code (a
// 2xx), for the writes that must tell 201 Created from 202 Accepted.
func (c *Client) doJSONStatus(ctx context.Context, r request, dst any) (int, http.Header, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return 0, nil, err
	}
	status := resp.StatusCode
	h, err := c.decodeBody(resp, dst)
	return status, h, err
}

// decodeBody decodes a successful answer's body, read up to the client's
// MaxResponseBytes, into dst (discarded if dst is nil) and closes it.
func (c *Client) decodeBody(resp *http.Response, dst any) (http.Header, error) {
	defer resp.Body.Close()
	body := c.limit(resp.Body)
	if dst == nil {
		_, _ = io.Copy(io.Discard, body)
		return resp.Header, nil
	}
	if raw, ok := dst.(*json.RawMessage); ok {
		data, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
		*raw = data
		return resp.Header, nil
	}
	if err := json.NewDecoder(body).Decode(dst); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	// Drain so the connection can be reused.
	_, _ = io.Copy(io.Discard, body)
	return resp.Header, nil
}

// limit bounds what is read of a response body to the client's
// MaxResponseBytes: past it, reads fail with ErrResponseTooLarge.
func (c *Client) limit(r io.Reader) io.Reader {
	if c.maxRes < 0 {
		return r
	}
	return &limitedBody{r: r, left: c.maxRes}
}

// limitedBody is a reader that fails, rather than stops, at its limit,
// so that a truncated answer is never taken for a whole one.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
