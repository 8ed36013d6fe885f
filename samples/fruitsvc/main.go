// Command fruitsvc runs the sample fruit service with the resolver its
// configuration names:
//
//	go run ./samples/fruitsvc -config samples/backoff/config.yaml
//
// Flags, as in the seed's samples, override the configuration:
//
//	-config FILE    the sample's config.yaml (default: none, every default)
//	-ip IP          address to listen on (default 127.0.0.1)
//	-port PORT      port to listen on (default 8445)
//	-database URL   database URL with its name, e.g. http://127.0.0.1:5984/accord_sample
//	-log LEVEL      debug, info, warn or error
//	-plugin P       the resolver: a built-in's name (basic, retry, backoff) or
//	                a .wasm or .wasm.gz file, instead of the config's
//	-params JSON    the resolver's parameters, a JSON object
//	-sha256 HEX     pin the plugin file to this SHA-256
//	-watch DURATION poll the plugin file and reload it when it changes
//	-record FILE    record every conflict and decision (the config's record.path)
//	-pprof ADDR     serve Go's profiles (net/http/pprof) on this loopback address,
//	                such as 127.0.0.1:6060; off by default
//
// So a plugin can be tried without writing a config file:
//
//	go run ./samples/fruitsvc -plugin ./my.wasm -params '{"max_retries":5}'
//
// Credentials come from the database URL or from COUCHDB_USER and
// COUCHDB_PASSWORD, and are never logged. SIGINT or SIGTERM stops the
// service gracefully.
//
// # Hot reload
//
// SIGHUP re-reads the config file (and applies the flags again) and
// reloads the plugin its resolver section names, with its parameters and
// pin; with -watch (or the config's reload.watch) a changed plugin file
// is reloaded too. The new module is compiled, checked against its pin,
// its ABI, its parameters and the config's reload.fixtures, and must
// keep the running one's name and needs; only then does it serve. Calls
// in flight finish on the old module; a refused module is logged and the
// old one keeps serving. /v1.0/_metrics ("resolver.module") and /metrics
// (accord_plugin_module_info) show the active module's SHA-256. A pinned
// file that changes is refused for its pin: to deploy a new pinned
// module, write the new pin in the config and send SIGHUP. Other
// settings (database, listen, timeouts, pool) take a restart.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/samples/fruit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run starts the service and serves until ctx is done. It returns the
// process's exit code: 0 after a clean stop, 1 if serving failed, 2 for
// bad flags or configuration.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fruitsvc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "the sample's `config.yaml`")
	ip := fs.String("ip", "127.0.0.1", "`address` to listen on")
	port := fs.Int("port", 8445, "`port` to listen on")
	database := fs.String("database", fruit.DefaultDatabase, "database `URL`, the database's name last")
	logLevel := fs.String("log", "info", "log `level`: debug, info, warn or error")
	plugin := fs.String("plugin", "", "the resolver: a built-in's `name` (basic, retry, backoff) or a .wasm or .wasm.gz file, instead of the config's")
	params := fs.String("params", "", "the resolver's parameters, a `JSON` object (with -plugin, the config's are dropped)")
	pin := fs.String("sha256", "", "pin the plugin file to this `SHA-256` (hex)")
	watch := fs.Duration("watch", 0, "poll the plugin file at this `interval` and reload it when it changes (0: only on SIGHUP)")
	record := fs.String("record", "", "record every conflict and decision to this `file` (JSON lines, rotated)")
	var sweepPeers urlList
	fs.Var(&sweepPeers, "sweep-peer", "a replica of the database (its `URL`) the sweeper reads an ancestor's body from when this server lacks it; repeatable (overrides the config's sweep.peers)")
	pprofAddr := fs.String("pprof", "", "serve Go's profiles (net/http/pprof, /debug/pprof/) on this loopback `address`, such as 127.0.0.1:6060 (default: off)")
	sweepOnce := fs.Bool("sweep-once", false, "settle the database's replication conflicts once (the config's sweep.resolver, or its resolver), print a JSON report and exit: 0 if none is left, 1 if some are")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: fruitsvc [flags]\n\nRuns the sample fruit service; flags override the config file.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fruitsvc: unexpected arguments %q\n", fs.Args())
		return 2
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// buildConfig reads the config file and applies the flags over it: at
	// start-up, and again on SIGHUP.
	buildConfig := func() (fruit.Config, error) {
		var cfg fruit.Config
		if *configPath != "" {
			c, err := fruit.LoadConfig(*configPath)
			if err != nil {
				return cfg, err
			}
			cfg = c
		}
		if set["ip"] || cfg.Listen.IP == "" {
			cfg.Listen.IP = *ip
		}
		if set["port"] || cfg.Listen.Port == 0 {
			cfg.Listen.Port = *port
		}
		if set["database"] || cfg.Database == "" {
			cfg.Database = *database
		}
		if set["log"] || cfg.Log == "" {
			cfg.Log = *logLevel
		}
		if set["watch"] {
			cfg.Reload.Watch = *watch
		}
		if set["sweep-peer"] {
			cfg.Sweep.Peers = sweepPeers
		}
		if set["record"] {
			cfg.Record.Path = *record
		}
		if err := resolverFlags(&cfg.Resolver, set, *plugin, *params, *pin); err != nil {
			return cfg, fmt.Errorf("fruitsvc: %w", err)
		}
		if err := cfg.Validate(); err != nil {
			return cfg, fmt.Errorf("fruitsvc: %w", err)
		}
		return cfg, nil
	}
	cfg, err := buildConfig()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}

	logger := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel()}))
	if *pprofAddr != "" {
		_, stopProfiles, err := serveProfiles(*pprofAddr, logger)
		if err != nil {
			fmt.Fprintf(stderr, "fruitsvc: -pprof: %v\n", err)
			return 2
		}
		defer stopProfiles()
	}
	stats := &couch.Stats{} // the conflict loop's and the client's retries
	client, dbName, err := openDatabase(cfg.Database, logger, stats)
	if err != nil {
		fmt.Fprintf(stderr, "fruitsvc: %v\n", err)
		return 2
	}
	live, err := fruit.OpenLive(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "fruitsvc: resolver: %v\n", err)
		return 2
	}
	defer live.Close(context.Background())

	signer, sensitive, err := fruit.OpenSealing(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "fruitsvc: %v\n", err)
		return 2
	}
	sweeper, closeSweeper, err := fruit.OpenSweeper(ctx, cfg.Sweep, client.DB(dbName), live.Resolver, logger, *sweepOnce, fruit.StoreSealer(signer, sensitive), stats)
	if err != nil {
		fmt.Fprintf(stderr, "fruitsvc: sweep resolver: %v\n", err)
		return 2
	}
	defer closeSweeper(context.Background())
	if *sweepOnce {
		return sweepAndReport(ctx, sweeper, stdout, stderr)
	}

	svc, err := fruit.New(fruit.Options{
		DB:             client.DB(dbName),
		Resolver:       live.Resolver,
		MaxAttempts:    cfg.MaxAttempts,
		RequestTimeout: cfg.RequestTimeout,
		Logger:         logger,
		Stats:          stats,
		Signer:         signer,
		Sensitive:      sensitive,
		Sweeper:        sweeper,
		Coalesce:       cfg.Writes.Coalesce,
		MaxBatch:       cfg.Writes.MaxBatch,

		MaxConcurrentRequests: cfg.Server.MaxConcurrentRequests,
	})
	if err != nil {
		fmt.Fprintf(stderr, "fruitsvc: %v\n", err)
		return 2
	}

	addr := net.JoinHostPort(cfg.Listen.IP, strconv.Itoa(cfg.Listen.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "fruitsvc: listen on %s: %v\n", addr, err)
		return 1
	}
	srv := cfg.HTTPServer(svc)
	desc := svc.Resolver()
	started := []any{"resolver", desc.Name, "resolver_version", desc.Version, "signing", signer != nil, "sensitive", sensitive != nil}
	if live.Reloader != nil {
		started = append(started, "sha256", live.Reloader.SHA256())
	}
	logger.Info(fmt.Sprintf("service started and listening on http://%s talking to database %s", ln.Addr(), redact(cfg.Database)), started...)
	go checkDatabase(ctx, client.DB(dbName), logger)

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go live.Watch(watchCtx)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	if sweeper != nil {
		logger.Info("replication-conflict sweeper started", "interval", cfg.Sweep.Interval.String())
		go func() { _ = sweeper.Run(ctx, cfg.Sweep.Interval) }()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
serve:
	for {
		select {
		case err := <-errc:
			fmt.Fprintf(stderr, "fruitsvc: serve: %v\n", err)
			return 1
		case <-hup:
			reload(ctx, live, buildConfig, logger)
		case <-ctx.Done():
			break serve
		}
	}
	logger.Info("Shutting down ...")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "fruitsvc: shutdown: %v\n", err)
		return 1
	}
	return 0
}

// reload re-reads the configuration (file and flags) on SIGHUP and
// reloads the plugin it names, with its parameters and pin. The other
// sections take a restart. A refused reload is logged (by the engine)
// and the running plugin keeps serving.
func reload(ctx context.Context, live *fruit.LiveResolver, buildConfig func() (fruit.Config, error), logger *slog.Logger) {
	cfg, err := buildConfig()
	if err != nil {
		logger.Error("SIGHUP: the configuration is refused; the running plugin keeps serving", "err", err)
		return
	}
	replaced, err := live.Reload(ctx, cfg.Resolver)
	if err != nil {
		if live.Reloader == nil {
			logger.Error("SIGHUP: " + err.Error())
		}
		return
	}
	if !replaced {
		logger.Info("SIGHUP: the plugin is unchanged", "sha256", live.Reloader.SHA256())
	}
}

// checkDatabase says at start-up, in the log, whether the database and
// its design documents are installed: a service started before the
// installer, or against a mistyped database name, says what to do
// instead of answering 503 to every request without a word. It does not
// stop the service: the database may come up later, and
// /v1.0/_health says when it does.
func checkDatabase(ctx context.Context, db *couch.DB, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	install := fmt.Sprintf("install it with: go run ./tools/dbinstall -host URL -database %s", db.Name())
	_, err := db.Info(ctx)
	switch {
	case errors.Is(err, couch.ErrNotFound):
		logger.Error(fmt.Sprintf("database %q is not installed: %s", db.Name(), install))
		return
	case err != nil:
		logger.Warn("the database cannot be reached at start-up; serving anyway, /v1.0/_health says when it is back", "error", err.Error())
		return
	}
	if _, err := db.Rev(ctx, "_design/"+fruit.ViewDesign); errors.Is(err, couch.ErrNotFound) {
		logger.Error(fmt.Sprintf("database %q has no design document %q: %s", db.Name(), fruit.ViewDesign, install))
	}
}

// sweepAndReport sweeps once and prints what it did as JSON: the exit
// code is 0 when no conflict is left, 1 otherwise.
func sweepAndReport(ctx context.Context, s *couch.Sweeper, stdout, stderr io.Writer) int {
	rep, err := s.Sweep(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "fruitsvc: sweep: %v\n", err)
		return 1
	}
	out := struct {
		Checked   int              `json:"checked"`
		Settled   []string         `json:"settled"`
		Unsettled []string         `json:"unsettled"`
		Errors    []string         `json:"errors"`
		Stats     couch.SweepStats `json:"stats"`
	}{Checked: rep.Checked, Settled: append([]string{}, rep.Settled...), Unsettled: append([]string{}, rep.Unsettled...), Errors: []string{}, Stats: s.Stats()}
	for _, e := range rep.Errs {
		out.Errors = append(out.Errors, e.Error())
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
	if len(rep.Unsettled) > 0 {
		fmt.Fprintf(stderr, "fruitsvc: %d document(s) still in conflict: see the report's errors, or give sweep.resolver a resolver that merges\n", len(rep.Unsettled))
		return 1
	}
	return 0
}

// resolverFlags applies -plugin, -params and -sha256 to rc. A plugin
// named on the command line does not inherit the config's parameters or
// pin, which were meant for another plugin.
func resolverFlags(rc *fruit.ResolverConfig, set map[string]bool, plugin, params, pin string) error {
	if set["plugin"] {
		if plugin == "" {
			return errors.New("-plugin: empty; name a built-in (basic, retry, backoff) or a .wasm file")
		}
		rc.Plugin, rc.Params, rc.SHA256 = plugin, nil, ""
	}
	if set["params"] {
		var p map[string]any
		dec := json.NewDecoder(strings.NewReader(params))
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil || p == nil || dec.More() {
			return errors.New(`-params: not a JSON object, such as '{"max_retries":5}'`)
		}
		rc.Params = p
	}
	if set["sha256"] {
		rc.SHA256 = pin
	}
	return nil
}

// openDatabase splits a database URL into a client for its server and
// the database's name; credentials come from the URL or the environment.
func openDatabase(raw string, logger *slog.Logger, stats *couch.Stats) (*couch.Client, string, error) {
	server, name, err := couch.SplitDatabaseURL(raw)
	if err != nil {
		return nil, "", fmt.Errorf("-database: %w", err)
	}
	cfg := couch.Config{URL: server.String(), Logger: logger, Stats: stats}
	if user := os.Getenv("COUCHDB_USER"); user != "" && server.User == nil {
		cfg.Username, cfg.Password = user, os.Getenv("COUCHDB_PASSWORD")
	}
	client, err := couch.New(cfg)
	if err != nil {
		return nil, "", err
	}
	return client, name, nil
}

// urlList is a repeatable flag of URLs.
type urlList []string

func (l *urlList) String() string { return fmt.Sprint(len(*l), " URLs") }

func (l *urlList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// redact is raw without its password, or nothing of it if it does not
// parse.
func redact(raw string) string {
	if u, err := couch.ParseURL(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}
