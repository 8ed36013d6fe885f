package fruit

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/julienschmidt/httprouter"
)

// Bounds on what the service repeats of text it does not control:
// request paths and headers, the resolver's name and reasons, errors of
// the database and of the engine.
const (
	// maxEchoBytes bounds a piece of a request quoted in an answer.
	maxEchoBytes = 64
	// maxReasonBytes bounds the reason of an error answer.
	maxReasonBytes = 512
	// maxNameBytes bounds the resolver's name and version in metrics.
	maxNameBytes = 64
	// maxLoggedErrorBytes bounds an error written to the log.
	maxLoggedErrorBytes = 1024
)

// DefaultMaxConcurrentRequests is the default of
// [Options.MaxConcurrentRequests].
const DefaultMaxConcurrentRequests = 256

// clip returns s cut to at most n bytes of valid UTF-8, marked with "…"
// when it was cut.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// clipErr is err's message bounded for the log.
func clipErr(err error) string { return clip(err.Error(), maxLoggedErrorBytes) }

// ServeHTTP serves the fruit API. Every answer carries
// X-Content-Type-Options: nosniff. Beyond [Options.MaxConcurrentRequests]
// requests in flight, it answers 503 at once with Retry-After: 1.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
	default:
		s.overloaded.Inc()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "overloaded", "too many requests at once; try again later")
		return
	}
	s.router.ServeHTTP(w, r)
}

// requireJSON refuses a state-changing request whose Content-Type is not
// application/json with 415, even when it has no body. A browser sends a
// cross-origin form or text/plain POST without asking first (a "simple"
// request), but not one with Content-Type: application/json, so this
// keeps other sites from changing fruit through a visitor's browser.
func requireJSON(h httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
			br := err.(*badRequest)
			writeError(w, br.status, br.name, br.reason)
			return
		}
		h(w, r, ps)
	}
}
