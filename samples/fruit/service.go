package fruit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/couch/secure"
	"github.com/accord-db/accord/couch/tamper"
	"github.com/accord-db/accord/resolve"
)

// Options configures a [Service]. DB is required; every other field has a
// default.
type Options struct {
	// DB is the fruit database, installed by tools/dbinstall.
	DB *couch.DB
	// Resolver decides every conflicting write. Default [resolve.Basic].
	Resolver resolve.Resolver
	// MaxAttempts caps the writes of one request, whatever the resolver
	// decides. Default [couch.DefaultMaxAttempts].
	MaxAttempts int
	// RequestTimeout bounds the database work of one request, retries and
	// their waits included. Default 30 s.
	RequestTimeout time.Duration
	// Logger receives one line per request and the conflict loop's lines.
	// Default slog.Default().
	Logger *slog.Logger
	// MaxConcurrentRequests caps the requests served at once; beyond it
	// the service answers 503 ("overloaded") at once, with Retry-After.
	// Default [DefaultMaxConcurrentRequests].
	MaxConcurrentRequests int
	// Stats counts the conflict loop's work; share it with DB's client
	// (couch.Config.Stats) so that /v1.0/_metrics shows the client's
	// retries too. Default: a new one, with the conflict loop's counts
	// only.
	Stats *couch.Stats
	// Signer, if set, signs every fruit written and verifies every fruit
	// read; a fruit that fails is never served (500 "tampered"), and
	// counts in the metrics. See [OpenSealing]. Default: none.
	Signer *tamper.Signer
	// Sensitive, if set, is the fruit model's sensitive properties
	// ([SensitiveModel]): the API then takes a grower_email (stored
	// encrypted, returned decrypted) and a grower_pin (stored as a bcrypt
	// hash, checked by POST /v1.0/fruits/{fruit_id}/pin). Default: none,
	// and the API refuses both.
	Sensitive *secure.Properties
	// Sweeper, when the service runs one (see [OpenSweeper]), adds its
	// counters to the metrics. The caller runs it.
	Sweeper *couch.Sweeper
	// Coalesce turns on write coalescing (group commit, see coalesce.go):
	// the PUTs and tastings of one fruit that arrive while a write of it
	// is in flight are written together by the next write, each one
	// after the first decided by the resolver as the conflict it would
	// have been, instead of racing each other in CouchDB. Default false:
	// every request writes on its own.
	Coalesce bool
	// MaxBatch caps the changes one coalesced write carries. Default
	// [DefaultMaxBatch].
	MaxBatch int
}

// Service is the fruit service, an http.Handler. It is safe for
// concurrent use.
type Service struct {
	db       *couch.DB
	store    *couch.Store[doc]
	resolver resolve.Resolver
	stats    *couch.Stats
	timeout  time.Duration
	logger   *slog.Logger
	router   *httprouter.Router
	registry *prometheus.Registry
	requests *prometheus.HistogramVec
	// inFlight holds a token per request being served.
	inFlight   chan struct{}
	overloaded prometheus.Counter
	signer     *tamper.Signer
	sensitive  *secure.Properties
	sweeper    *couch.Sweeper
	// maxAttempts is the store's cap, which the coalescer applies too;
	// coalesce is nil unless Options.Coalesce.
	maxAttempts int
	coalesce    *coalescer
}

var _ http.Handler = (*Service)(nil)

// New returns the service for opts.
func New(opts Options) (*Service, error) {
	if opts.DB == nil {
		return nil, errors.New("fruit: new service: no database")
	}
	s := &Service{
		db:       opts.DB,
		resolver: opts.Resolver,
		stats:    opts.Stats,
		timeout:  opts.RequestTimeout,
		logger:   opts.Logger,
		sweeper:  opts.Sweeper,

		signer:    opts.Signer,
		sensitive: opts.Sensitive,
	}
	if s.resolver == nil {
		s.resolver = resolve.Basic()
	}
	if s.stats == nil {
		s.stats = &couch.Stats{}
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if opts.MaxConcurrentRequests < 0 {
		return nil, errors.New("fruit: new service: MaxConcurrentRequests must not be negative")
	}
	limit := opts.MaxConcurrentRequests
	if limit == 0 {
		limit = DefaultMaxConcurrentRequests
	}
	s.inFlight = make(chan struct{}, limit)
	s.maxAttempts = opts.MaxAttempts
	if s.maxAttempts <= 0 {
		s.maxAttempts = couch.DefaultMaxAttempts
	}
	if opts.MaxBatch < 0 {
		return nil, errors.New("fruit: new service: MaxBatch must not be negative")
	}
	if opts.Coalesce {
		s.coalesce = newCoalescer(s, opts.MaxBatch)
	}
	store, err := couch.NewStore[doc](opts.DB, couch.StoreConfig{
		Type:        DocType,
		Resolver:    s.resolver,
		MaxAttempts: opts.MaxAttempts,
		Stats:       s.stats,
		Logger:      s.logger,
		Sealer:      StoreSealer(opts.Signer, opts.Sensitive),
		Sweeper:     opts.Sweeper,
	})
	if err != nil {
		return nil, fmt.Errorf("fruit: new service: %w", err)
	}
	s.store = store
	if err := s.initMetrics(); err != nil {
		return nil, fmt.Errorf("fruit: new service: %w", err)
	}
	s.routes()
	return s, nil
}

func (s *Service) routes() {
	r := httprouter.New()
	r.GET("/v1.0/fruits", s.instrument("fruits", s.listFruits))
	// Every state-changing request must say Content-Type: application/json.
	r.POST("/v1.0/fruits", s.instrument("fruits", requireJSON(s.createFruit)))
	r.GET("/v1.0/fruits/:fruit_id", s.instrument("fruit", s.getFruit))
	r.PUT("/v1.0/fruits/:fruit_id", s.instrument("fruit", requireJSON(s.updateFruit)))
	r.DELETE("/v1.0/fruits/:fruit_id", s.instrument("fruit", requireJSON(s.deleteFruit)))
	r.POST("/v1.0/fruits/:fruit_id/tastings", s.instrument("tastings", requireJSON(s.tasteFruit)))
	if s.sensitive != nil {
		r.POST("/v1.0/fruits/:fruit_id/pin", s.instrument("pin", requireJSON(s.checkPIN)))
	}
	r.GET("/v1.0/_health", s.instrument("health", s.health))
	r.GET("/v1.0/_metrics", s.instrument("metrics", s.metrics))
	r.Handler(http.MethodGet, "/metrics", s.prometheusHandler())
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no resource at %q", clip(r.URL.Path, maxEchoBytes)))
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%q is not allowed here; allowed: %s", clip(r.Method, maxEchoBytes), w.Header().Get("Allow")))
	})
	s.router = r
}

// Resolver describes the service's resolver.
func (s *Service) Resolver() resolve.Description { return s.store.Resolver() }

// Stats returns the conflict loop's counters.
func (s *Service) Stats() *couch.Stats { return s.stats }

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// instrument logs one line per request and observes its latency.
func (s *Service) instrument(route string, h httprouter.Handle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h(rec, r, ps)
		took := time.Since(start)
		s.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Observe(took.Seconds())
		s.logger.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("path", clip(r.URL.Path, maxEchoBytes)),
			slog.Int("status", rec.status), slog.Duration("duration", took))
	}
}

// writeJSON writes v as a JSON answer with status, encoded as
// json.Marshal does, and a newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := answerBuffers.Get().(*bytes.Buffer)
	defer putAnswerBuffer(buf)
	buf.Reset()
	b := []byte(`{"error":"internal","reason":"encoding the answer failed"}` + "\n")
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
	} else {
		b = buf.Bytes()
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// answerBuffers holds the buffers writeJSON encodes into.
var answerBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putAnswerBuffer returns buf to answerBuffers unless it grew past 64 KiB
// (a long list), which is left to the garbage collector.
func putAnswerBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 64<<10 {
		answerBuffers.Put(buf)
	}
}

// writeError writes {"error": name, "reason": reason} with status. The
// reason is cut to maxReasonBytes: it may quote the request.
func writeError(w http.ResponseWriter, status int, name, reason string) {
	writeJSON(w, status, map[string]string{"error": name, "reason": clip(reason, maxReasonBytes)})
}

// isTransportError reports whether err is a failure to talk to the
// database at all (refused, reset, timed out), as opposed to an answer.
func isTransportError(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}

// writeFailure maps an error of the data layer to its answer: 404 for a
// missing fruit, 409 for a conflict the resolver gave up on, 503 for a
// resolver that failed, a database out of reach, or a database or design
// documents not installed. The answer's reason is short and stable: the
// error itself (which may carry the resolver's text, document ids, wasm
// stack traces, the database's URL or a dial error) goes to the log,
// bounded, never to the client.
func (s *Service) writeFailure(w http.ResponseWriter, r *http.Request, fruitID string, err error) {
	var br *badRequest
	switch {
	case errors.As(err, &br):
		writeError(w, br.status, br.name, br.reason)
	case errors.Is(err, couch.ErrRefused):
		// The store logged the alarm (ERROR, the document's id) and
		// counted it; the client learns only that the fruit is refused.
		writeError(w, http.StatusInternalServerError, "tampered",
			fmt.Sprintf("fruit %s failed its integrity check and is not served", fruitID))
	case errors.Is(err, couch.ErrUnsettled):
		// Stored on fewer cluster copies than the quorum, as a leaf the
		// sweepers have not merged into the winner yet: it will be. Not
		// a failure, and not to be repeated.
		s.logger.Warn("write accepted, not yet settled", "fruit_id", fruitID, "error", clipErr(err))
		writeError(w, http.StatusAccepted, "accepted",
			fmt.Sprintf("the change to fruit %s is stored and the replication-conflict sweeper will merge it; do not send it again", fruitID))
	case errors.Is(err, couch.ErrResolver):
		s.logger.Error("resolver failed", "fruit_id", fruitID, "error", clipErr(err))
		writeError(w, http.StatusServiceUnavailable, "resolver_failed",
			fmt.Sprintf("the conflict resolver failed, fruit %s was left untouched", fruitID))
	case errors.Is(err, couch.ErrDatabaseNotFound) || errors.Is(err, couch.ErrViewNotFound):
		// The service is not set up; the fruit may well exist.
		s.logger.Error("database or design documents missing", "error", clipErr(err))
		writeError(w, http.StatusServiceUnavailable, "not_installed", "the fruit database or its views are not installed; run the installer")
	case errors.Is(err, couch.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no fruit %s", fruitID))
	case errors.Is(err, couch.ErrConflict):
		attempts := 0
		if ce, ok := errors.AsType[*couch.ConflictError](err); ok {
			attempts = ce.Attempts
		}
		s.logger.Info("resolver gave up", "fruit_id", fruitID, "error", clipErr(err))
		writeError(w, http.StatusConflict, "conflict",
			fmt.Sprintf("fruit %s changed under us and the resolver gave up after %d attempt(s)", fruitID, attempts))
	case errors.Is(err, couch.ErrWaitPastDeadline):
		// The resolver asked for a wait the request's deadline would cut
		// short; the store stopped at once. Say so, not "took longer".
		reason := "the conflict resolver asked for a retry wait longer than the time the request had left"
		if we, ok := errors.AsType[*couch.WaitError](err); ok {
			reason = fmt.Sprintf("the conflict resolver asked to wait %v before retrying, but only %v was left of the request's %v; fruit %s was not changed",
				we.Wait.Round(time.Millisecond), we.Left.Round(100*time.Millisecond), s.timeout, fruitID)
		}
		writeError(w, http.StatusServiceUnavailable, "wait_past_deadline", reason)
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "timeout", fmt.Sprintf("the request took longer than %v", s.timeout))
	case r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		writeError(w, http.StatusServiceUnavailable, "canceled", "the request was canceled")
	case isTransportError(err) || couch.HTTPStatus(err) >= 500:
		s.logger.Error("database unavailable", "error", clipErr(err))
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "the database cannot be reached; try again later")
	default:
		s.logger.Error("unexpected database answer", "error", clipErr(err))
		writeError(w, http.StatusInternalServerError, "internal", "unexpected answer from the database")
	}
}
