package couch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// RetryPolicy is how a [Client] retries a request that failed for a
// transient reason: a 5xx answer other than 501, a 429, or a connection
// error. Conflicts (409) are not transient; they are the [Store]'s
// business. The zero value is the default policy described on each field;
// set MaxAttempts to 1 to turn retries off.
//
// A request is resent only when that cannot apply it twice:
//
//   - GET, HEAD, PUT and DELETE are resent. A PUT or DELETE that carries a
//     revision and landed before its answer was lost is refused by the
//     server with 409 when resent; the error then also matches
//     [ErrAmbiguous], and a [Store] recognises its own write (see
//     [Store.Update]).
//   - POST (a create with a server-chosen id, _bulk_docs, a replication)
//     is resent only when the connection failed before the request was
//     sent (the dial failed), so the server never saw it.
//
// Every wait is bounded: by MaxBackoff, by MaxRetryAfter for a server's
// Retry-After, and by the context's deadline (a wait that would pass it
// is not started; the last error is returned at once). A retry budget
// shared by every request of the client keeps an outage from becoming a
// retry storm: each retry spends a token, each first attempt that
// succeeds earns BudgetRatio of one, and without a whole token the
// failure is returned as it is.
type RetryPolicy struct {
	// MaxAttempts caps the sends of one request, the first included.
	// Default 4; 1 turns retries off.
	MaxAttempts int
	// MinBackoff is the wait before the first retry; each further retry
	// doubles it, up to MaxBackoff. Each wait is drawn at random between
	// half and all of that (jitter). Defaults 50 ms and 1 s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After (of a 429 or 503) the
	// client waits for; an answer asking for longer is returned at once.
	// Default 5 s.
	MaxRetryAfter time.Duration
	// BudgetRatio is the share of a retry token a successful request
	// earns, and BudgetTokens the most tokens the client holds (it starts
	// full). Defaults 0.1 and 10: after a burst of 10, at most one retry
	// per 10 successful requests.
	BudgetRatio  float64
	BudgetTokens float64
}

// Defaults of [RetryPolicy].
const (
	DefaultRetryAttempts      = 4
	DefaultRetryMinBackoff    = 50 * time.Millisecond
	DefaultRetryMaxBackoff    = time.Second
	DefaultRetryMaxRetryAfter = 5 * time.Second
	DefaultRetryBudgetRatio   = 0.1
	DefaultRetryBudgetTokens  = 10
)

// withDefaults fills in the zero fields of p and checks the others.
func (p RetryPolicy) withDefaults() (RetryPolicy, error) {
	if p.MaxAttempts < 0 || p.MinBackoff < 0 || p.MaxBackoff < 0 || p.MaxRetryAfter < 0 || p.BudgetRatio < 0 || p.BudgetTokens < 0 {
		return p, errors.New("couch: retry policy: negative value")
	}
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultRetryAttempts
	}
	if p.MinBackoff == 0 {
		p.MinBackoff = DefaultRetryMinBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = DefaultRetryMaxBackoff
	}
	if p.MaxBackoff < p.MinBackoff {
		p.MaxBackoff = p.MinBackoff
	}
	if p.MaxRetryAfter == 0 {
		p.MaxRetryAfter = DefaultRetryMaxRetryAfter
	}
	if p.BudgetRatio == 0 {
		p.BudgetRatio = DefaultRetryBudgetRatio
	}
	if p.BudgetTokens == 0 {
		p.BudgetTokens = DefaultRetryBudgetTokens
	}
	return p, nil
}

// backoff is the wait before retry n (1 for the first retry): capped
// exponential, with jitter between half and all of it.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.MaxBackoff
	if n < 31 {
		if e := p.MinBackoff << (n - 1); e > 0 && e < d {
			d = e
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// budget is a client's retry token bucket.
type budget struct {
	mu     sync.Mutex
	tokens float64
	max    float64
	ratio  float64
}

func newBudget(p RetryPolicy) *budget {
	return &budget{tokens: p.BudgetTokens, max: p.BudgetTokens, ratio: p.BudgetRatio}
}

// earn credits a request that succeeded at its first attempt.
func (b *budget) earn() {
	b.mu.Lock()
	b.tokens = min(b.max, b.tokens+b.ratio)
	b.mu.Unlock()
}

// spend takes a token for a retry, or reports that there is none.
func (b *budget) spend() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// ErrAmbiguous is matched, besides the server's answer, by the error of a
// request whose earlier attempt may have been applied: it reached the
// server but its answer was lost (a reset connection, a 502), and a
// resend got an error, typically 409 because the first one landed. The
// caller must find out what the database holds; a [Store] does.
var ErrAmbiguous = errors.New("an earlier attempt may have been applied; its answer was lost")

// RetryReason names why a request was retried, in logs and [RetryStats].
type RetryReason string

// Why a request is retried.
const (
	RetryStatus     RetryReason = "status"     // a 5xx answer other than 501
	RetryThrottled  RetryReason = "throttled"  // 429
	RetryConnection RetryReason = "connection" // a connection error
)

// transient says whether the outcome of one send may be retried, why,
// whether the server may have applied it, and how long the server asked
// to wait (0 if it did not say).
func transient(r request, resp *http.Response, err error) (reason RetryReason, maybeApplied bool, after time.Duration, ok bool) {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return "", false, 0, false
		}
		sent := !dialFailed(err)
		if sent && !resendable(r.method) {
			return "", false, 0, false
		}
		return RetryConnection, sent && writes(r.method), 0, true
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		reason = RetryThrottled
	case resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		reason = RetryStatus
	default:
		return "", false, 0, false
	}
	if !resendable(r.method) {
		return "", false, 0, false
	}
	// A 503 or 429 says the server did not take the request; a 500, 502
	// or 504 may come after it was applied (by CouchDB, or a proxy).
	maybeApplied = writes(r.method) && resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests
	return reason, maybeApplied, retryAfter(resp.Header.Get("Retry-After")), true
}

// resendable says whether a request of this method may be sent again
// after it may have reached the server.
func resendable(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// writes says whether a request of this method changes the database.
func writes(method string) bool { return method != http.MethodGet && method != http.MethodHead }

// dialFailed says whether err happened while connecting, so that the
// request was never sent.
func dialFailed(err error) bool {
	if oe, ok := errors.AsType[*net.OpError](err); ok && oe.Op == "dial" {
		return true
	}
	return false
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 0 if
// absent or unreadable.
func retryAfter(h string) time.Duration {
	if h == "" || len(h) > 64 {
		return 0
	}
	if s, err := strconv.ParseUint(h, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// maxLoggedPath bounds the request path in log lines: it carries ids
// chosen by whoever sends them.
const maxLoggedPath = 256

// logPath is u's escaped path, cut to maxLoggedPath bytes.
func logPath(u *url.URL) string {
	p := u.EscapedPath()
	if len(p) > maxLoggedPath {
		return p[:maxLoggedPath] + "…"
	}
	return p
}

// transportError is err without the URL a *url.Error repeats (the path
// is logged on its own, bounded).
func transportError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// Why retrying a request ended without success, in logs and
// [RetryStats].
const (
	retryGaveUp    = "attempts exhausted"
	retryNoTime    = "no time left"
	retryTooLong   = "Retry-After too long"
	retryNoBudget  = "retry budget exhausted"
	retryAmbiguous = "ambiguous"
	retryOwnWrite  = "own write recognised"
)

// retryWait is how long to wait before retry n (1 for the first): the
// server's Retry-After if it gave one, else the policy's backoff. It
// spends a token of the retry budget. why is not empty when there is to
// be no retry: attempts exhausted, a Retry-After longer than
// MaxRetryAfter, a wait past ctx's deadline, or no budget left.
func (c *Client) retryWait(ctx context.Context, n int, after time.Duration) (wait time.Duration, why string) {
	p := c.retry
	if n >= p.MaxAttempts {
		return 0, retryGaveUp
	}
	wait = p.backoff(n)
	if after > 0 {
		if after > p.MaxRetryAfter {
			return 0, retryTooLong
		}
		wait = after
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
		return 0, retryNoTime
	}
	if !c.budget.spend() {
		return 0, retryNoBudget
	}
	return wait, ""
}

// waitRetry waits d or until ctx is done.
func waitRetry(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryLog logs a retry, or the end of retrying, of one request.
func (c *Client) retryLog(ctx context.Context, msg string, r request, u *url.URL, attempt int, reason RetryReason, wait time.Duration, status int, err error) {
	attrs := []slog.Attr{
		slog.String("method", r.method), slog.String("path", logPath(u)),
		slog.Int("attempt", attempt), slog.String("reason", string(reason)),
	}
	if wait > 0 {
		attrs = append(attrs, slog.Duration("wait", wait))
	}
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	if err != nil {
		// The server's reason is its text, up to 64 KiB: bound it.
		attrs = append(attrs, slog.String("error", bounded(transportError(err).Error(), 512)))
	}
	c.logger.LogAttrs(ctx, slog.LevelWarn, msg, attrs...)
}

// ambiguous wraps the error of a request an earlier attempt of which may
// have been applied.
func ambiguous(err error) error {
	return fmt.Errorf("%w: %w", ErrAmbiguous, err)
}
