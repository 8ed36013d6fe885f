// Command dbinstall installs a CouchDB database: it can delete it first,
// creates it, installs its design documents and creates its seed
// documents. By default it installs the samples' database, accord_sample,
// from the documents built into the binary (package sampledb), so it
// works from any directory:
//
//	go run ./tools/dbinstall -host http://127.0.0.1:5984 -database accord_sample
//
// Running it again changes nothing that is already right, and says so:
// a design document is updated only when its content changed, and a seed
// document is created only when the database does not have it (one that
// was edited or deleted since is left alone). Every design and seed file
// is read and checked before anything is written, so one bad file leaves
// the database as it was.
//
// Each failure is one line on stderr that says what to do, with its own
// exit code; see usage below or run dbinstall -help. The work itself is
// done by package couch ([couch.Client.CreateDB],
// [couch.DB.InstallDesignDocs], [couch.DB.Seed]); this command parses
// flags and reports.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/couch/tamper"
	"github.com/accord-db/accord/sampledb"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// The exit codes of run, documented in the usage text.
const (
	exitOK          = 0
	exitFail        = 1
	exitUsage       = 2
	exitBadFiles    = 3
	exitUnreachable = 4
	exitAuth        = 5
	exitDBName      = 6
)

// Environment variables for credentials, so that a password need not be
// on the command line (where ps shows it).
const (
	envUser     = "COUCHDB_USER"
	envPassword = "COUCHDB_PASSWORD"
)

const usageText = `usage: dbinstall [flags]

Installs a CouchDB database: deletes it first if asked (-delete=true),
creates it, installs its design documents (one *.json file each, named
after the file: fruit_by_color.json becomes _design/fruit_by_color) and
creates its seed documents (one *.json file each, with a versioned "type";
the id is the file's "_id", else its name). Without -designdocs and
-seeddocs it installs the samples' documents built into this binary.

It is safe to run again: nothing that is already right is changed, a
design document whose content changed is updated, and a seed document the
database already has (even edited or deleted since) is left alone. Every
file is read and checked before anything is written.

Flags:
`

const helpTail = `
Boolean flags take their value after '=': -delete=true, -create=false.
-delete=true -create=false deletes the database and stops.

Credentials, first found wins: -creds user:password; credentials in -host
(http://user:password@host:5984); the environment variables COUCHDB_USER
and COUCHDB_PASSWORD. Prefer the environment in scripts: ps shows -creds.

Exit codes:
  0  done (also when nothing needed to change)
  1  any other failure (such as a missing database with -create=false)
  2  bad flags or arguments
  3  a design, seed or key file cannot be read or is invalid; nothing was written
  4  the server cannot be reached: not running, wrong -host, no answer
     within -timeout, or a TLS certificate it does not trust
  5  authentication failed (401 or 403): check -creds or COUCHDB_USER and
     COUCHDB_PASSWORD
  6  the database name is refused (by this tool or by the server)
  7  -verify found documents that fail verification (each is listed)

Examples:
  dbinstall                                 # the sample database on 127.0.0.1:5984
  dbinstall -delete=true                    # start again from the seed
  dbinstall -delete=true -create=false      # only delete the database
  dbinstall -seeddocsigner signing.keys     # sign the seed documents for tamper detection
  dbinstall -verify -seeddocsigner signing.keys   # report every document that fails verification
  COUCHDB_USER=admin COUCHDB_PASSWORD=secret dbinstall \
      -host https://couch.example:6984 -database fruits \
      -designdocs ./design -seeddocs ./seed -json
`

// options are the parsed flags.
type options struct {
	level        slog.Level
	host         string
	database     string
	creds        string
	delete       bool
	create       bool
	createDesign bool
	createSeed   bool
	signer       string
	verify       bool
	verifyCert   bool
	designDir    string
	seedDir      string
	json         bool
	timeout      time.Duration
	policy       couch.DesignPolicy
}

// failure is an error that ends the run with an exit code. Its message
// is one line that says what went wrong and, after a dash, what to do.
type failure struct {
	code int
	msg  string
	hint string
}

func (f *failure) Error() string {
	if f.hint == "" {
		return f.msg
	}
	return f.msg + " — " + f.hint
}

func fail(code int, hint, format string, args ...any) *failure {
	return &failure{code: code, msg: fmt.Sprintf(format, args...), hint: hint}
}

// summary is what -json prints: one object saying what the run did.
type summary struct {
	// Server is the server's URL, without credentials.
	Server   string `json:"server"`
	Database string `json:"database"`
	// Deleted and Created say whether this run deleted and created the
	// database.
	Deleted    bool              `json:"deleted"`
	Created    bool              `json:"created"`
	DesignDocs []couch.Installed `json:"design_docs"`
	SeedDocs   []couch.Installed `json:"seed_docs"`
	// Changed is false when the run changed nothing.
	Changed bool `json:"changed"`
	// Verify is what -verify found.
	Verify   *Verified `json:"verify,omitempty"`
	Error    string    `json:"error,omitempty"`
	ExitCode int       `json:"exit_code"`
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, code, ok := parseFlags(args, stderr)
	if !ok {
		return code
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: opts.level}))
	in := &installer{opts: opts, out: stdout, log: logger}
	if opts.json {
		in.out = io.Discard
	}
	in.sum = summary{Database: opts.database, DesignDocs: []couch.Installed{}, SeedDocs: []couch.Installed{}}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()

	err := in.install(ctx)
	for _, r := range in.roots {
		_ = r.Close()
	}
	code = exitOK
	if err != nil {
		code = exitFail
		if f, ok := errors.AsType[*failure](err); ok {
			code = f.code
		}
		fmt.Fprintf(stderr, "dbinstall: %v\n", err)
		in.sum.Error = err.Error()
	}
	in.sum.ExitCode = code
	if opts.json {
		if err := json.NewEncoder(stdout).Encode(in.sum); err != nil {
			fmt.Fprintf(stderr, "dbinstall: write summary: %v\n", err)
			return exitFail
		}
	}
	return code
}

// parseFlags parses args. When it returns ok false, the run ends with
// code; it has said why on stderr.
func parseFlags(args []string, stderr io.Writer) (opts options, code int, ok bool) {
	fset := flag.NewFlagSet("dbinstall", flag.ContinueOnError)
	fset.SetOutput(stderr)
	level := fset.String("log", "error", "logging level: debug, info, warn or error (to stderr)")
	fset.StringVar(&opts.host, "host", couch.DefaultURL, "CouchDB's URL, optionally with credentials")
	fset.StringVar(&opts.database, "database", sampledb.Database, "the database to install")
	fset.StringVar(&opts.creds, "creds", "", "credentials as user:password (default: from -host, else $"+envUser+" and $"+envPassword+")")
	fset.BoolVar(&opts.delete, "delete", false, "delete the database before creating it")
	fset.BoolVar(&opts.create, "create", true, "create the database if it does not exist (with -create=false it must exist)")
	fset.BoolVar(&opts.createDesign, "createdesign", true, "install the design documents")
	fset.BoolVar(&opts.createSeed, "createseed", true, "create the seed documents")
	fset.StringVar(&opts.signer, "seeddocsigner", "", "sign the seed documents with the first key of this key `file` (lines \"ID BASE64-OF-32-BYTES\"), as the tampering sample signs its documents")
	fset.BoolVar(&opts.verify, "verify", false, "install nothing: verify every document but the design documents with the -seeddocsigner keys, and list those that fail (exit code 7)")
	fset.BoolVar(&opts.verifyCert, "verify_host_ssl_cert", true, "verify the server's TLS certificate (=false for a self-signed one)")
	fset.StringVar(&opts.designDir, "designdocs", "", "folder of design documents, one *.json file each (default: the built-in sample design docs)")
	fset.StringVar(&opts.seedDir, "seeddocs", "", "folder of seed documents, one *.json file each (default: the built-in sample seed docs)")
	fset.BoolVar(&opts.json, "json", false, "print a JSON summary on stdout instead of one line per step")
	fset.DurationVar(&opts.timeout, "timeout", 2*time.Minute, "give up after this long")
	fset.BoolVar(&opts.policy.AllowValidateDocUpdate, "allow_validate_doc_update", false, "install design documents with a validate_doc_update function (it runs on every write)")
	fset.BoolVar(&opts.policy.AllowFunctions, "allow_functions", false, "install design documents with filters, updates, shows, lists or rewrites")
	allowLanguages := fset.String("allow_languages", "", "comma-separated design document languages to install besides javascript, such as erlang (which runs unsandboxed inside the server)")
	fset.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fset.PrintDefaults()
		fmt.Fprint(stderr, helpTail)
	}
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, exitOK, false
		}
		return opts, exitUsage, false
	}
	usage := func(hint, format string, args ...any) (options, int, bool) {
		fmt.Fprintf(stderr, "dbinstall: %v\n", fail(exitUsage, hint, format, args...))
		return opts, exitUsage, false
	}
	if fset.NArg() > 0 {
		hint := "dbinstall takes flags only; see dbinstall -help"
		if a := fset.Arg(0); a == "true" || a == "false" {
			hint = fmt.Sprintf("boolean flags take their value after '=', as in -delete=%s", a)
		}
		return usage(hint, "unexpected argument %q", fset.Arg(0))
	}
	if err := opts.level.UnmarshalText([]byte(*level)); err != nil {
		return usage("use debug, info, warn or error", "-log %q is not a logging level", *level)
	}
	if opts.verify && opts.signer == "" {
		return usage("give the key file as -seeddocsigner FILE", "-verify needs the keys to verify with")
	}
	if opts.verify && opts.delete {
		return usage("verify first, then delete in another run", "-verify changes nothing; it does not go with -delete=true")
	}
	if opts.creds != "" {
		user, _, found := strings.Cut(opts.creds, ":")
		if !found || user == "" {
			return usage("write it as user:password, or set "+envUser+" and "+envPassword, "-creds is not user:password")
		}
	}
	if opts.timeout <= 0 {
		return usage("give a positive duration such as 30s", "-timeout %v is not positive", opts.timeout)
	}
	for l := range strings.SplitSeq(*allowLanguages, ",") {
		if l = strings.TrimSpace(l); l != "" {
			opts.policy.AllowLanguages = append(opts.policy.AllowLanguages, l)
		}
	}
	return opts, exitOK, true
}

// installer runs the steps and reports them.
type installer struct {
	opts options
	out  io.Writer // human lines; io.Discard with -json
	log  *slog.Logger
	sum  summary
	host string // the server's URL, without credentials
	// signer signs the seed documents (and verifies, with -verify).
	signer *tamper.Signer
	// roots are the folders opened for reading, closed at the end.
	roots []*os.Root
}

func (in *installer) printf(format string, args ...any) {
	fmt.Fprintf(in.out, format+"\n", args...)
}

// install does every step in order. Nothing is written before every
// file is checked and the server has answered.
func (in *installer) install(ctx context.Context) error {
	o := in.opts
	client, err := couch.New(in.config())
	if err != nil {
		hint := "give a URL such as http://127.0.0.1:5984"
		return fail(exitUsage, hint, "-host: %v", err)
	}
	in.host = client.URL().String()
	in.sum.Server = in.host
	if err := couch.CheckDBName(o.database); err != nil {
		return fail(exitDBName, "pass another -database", "%v", err)
	}

	// Everything that can be checked without the server is checked first.
	if err := in.loadSigner(); err != nil {
		return err
	}
	wantDocs := o.create || !o.delete // -delete=true -create=false only deletes
	if o.verify {
		wantDocs = false
	}
	var design []couch.DesignDoc
	var seed []couch.SeedDoc
	if wantDocs && o.createDesign {
		if design, err = in.loadDesign(); err != nil {
			return err
		}
	}
	if wantDocs && o.createSeed {
		if seed, err = in.loadSeed(); err != nil {
			return err
		}
		if err := in.signSeed(seed); err != nil {
			return err
		}
	}

	info, err := client.Version(ctx)
	if err != nil {
		return in.serverFailure(err, "")
	}
	in.log.Info("server answered", "url", in.host, "version", info.Version, "vendor", info.Vendor.Name)
	in.printf("server %s: version %s (%s)", in.host, info.Version, info.Vendor.Name)

	db := client.DB(o.database)
	if o.verify {
		return in.verify(ctx, db)
	}
	if o.delete {
		err := client.DeleteDB(ctx, o.database)
		switch {
		case err == nil:
			in.sum.Deleted, in.sum.Changed = true, true
			in.printf("database %s: deleted", o.database)
		case errors.Is(err, couch.ErrNotFound):
			in.printf("database %s: did not exist, nothing to delete", o.database)
		default:
			return in.serverFailure(err, "delete the database")
		}
	}

	if !wantDocs {
		in.printf("database %s: not created (-create=false)", o.database)
		in.printf("done: %s", in.changes())
		return nil
	}

	exists, err := client.DBExists(ctx, o.database)
	if err != nil {
		return in.serverFailure(err, "")
	}
	switch {
	case exists:
		in.printf("database %s: already existed", o.database)
	case !o.create:
		return fail(exitFail, "run without -create=false to create it",
			"database %s does not exist on %s", o.database, in.host)
	default:
		err := client.CreateDB(ctx, o.database)
		switch {
		case err == nil:
			in.sum.Created, in.sum.Changed = true, true
			in.printf("database %s: created", o.database)
		case errors.Is(err, couch.ErrPreconditionFailed): // created meanwhile
			in.printf("database %s: already existed", o.database)
		default:
			return in.serverFailure(err, "create the database")
		}
	}

	if o.createDesign {
		res, err := db.InstallDesignDocs(ctx, design)
		in.sum.DesignDocs = append(in.sum.DesignDocs, res...)
		for _, r := range res {
			in.sum.Changed = in.sum.Changed || r.Status != couch.Unchanged
			in.log.Info("design doc", "id", r.ID, "status", r.Status, "rev", r.Rev)
			in.printf("design doc %s: %s", r.ID, r.Status)
		}
		if err != nil {
			return in.serverFailure(err, "")
		}
		if len(design) == 0 {
			in.printf("design docs: none in %s", in.designSource())
		}
	}

	if o.createSeed {
		res, err := db.Seed(ctx, seed)
		in.sum.SeedDocs = append(in.sum.SeedDocs, res...)
		created := 0
		for _, r := range res {
			if r.Status == couch.Created {
				created++
				in.sum.Changed = true
			}
			in.log.Info("seed doc", "id", r.ID, "status", r.Status, "rev", r.Rev)
		}
		switch {
		case len(seed) == 0:
			in.printf("seed docs: none in %s", in.seedSource())
		case created == len(res):
			in.printf("seed docs: %d created", created)
		default:
			in.printf("seed docs: %d created, %d already there", created, len(res)-created)
		}
		if err != nil {
			return in.serverFailure(err, "")
		}
	}

	in.printf("done: %s", in.changes())
	return nil
}

// config builds the client's configuration from the flags and the
// environment.
func (in *installer) config() couch.Config {
	cfg := couch.Config{
		URL:                in.opts.host,
		InsecureSkipVerify: !in.opts.verifyCert,
		Logger:             in.log,
	}
	switch {
	case in.opts.creds != "":
		cfg.Username, cfg.Password, _ = strings.Cut(in.opts.creds, ":")
	case hostHasCreds(in.opts.host):
		// couch.New takes them from the URL.
	case os.Getenv(envUser) != "":
		cfg.Username, cfg.Password = os.Getenv(envUser), os.Getenv(envPassword)
	}
	return cfg
}

func hostHasCreds(host string) bool {
	u, err := url.Parse(host)
	return err == nil && u.User != nil
}

// changes says in a few words what the run changed.
func (in *installer) changes() string {
	var parts []string
	if in.sum.Deleted {
		parts = append(parts, "database deleted")
	}
	if in.sum.Created {
		parts = append(parts, "database created")
	}
	count := func(res []couch.Installed, status couch.InstallStatus) int {
		n := 0
		for _, r := range res {
			if r.Status == status {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		what   string
		res    []couch.Installed
		status couch.InstallStatus
	}{
		{"design docs", in.sum.DesignDocs, couch.Created},
		{"design docs", in.sum.DesignDocs, couch.Updated},
		{"seed docs", in.sum.SeedDocs, couch.Created},
	} {
		if n := count(c.res, c.status); n > 0 {
			what := c.what
			if n == 1 {
				what = strings.TrimSuffix(what, "s")
			}
			parts = append(parts, fmt.Sprintf("%d %s %s", n, what, c.status))
		}
	}
	if len(parts) == 0 {
		return "nothing changed"
	}
	return strings.Join(parts, ", ")
}

// loadDesign reads and checks the design documents.
func (in *installer) loadDesign() ([]couch.DesignDoc, error) {
	fsys, dir, err := in.source(in.opts.designDir, sampledb.DesignDir, "-designdocs")
	if err != nil {
		return nil, err
	}
	docs, err := in.opts.policy.Load(fsys, dir)
	if errors.Is(err, couch.ErrDesignNotAllowed) {
		return nil, fail(exitBadFiles, "fix the file, or allow the feature on purpose with -allow_validate_doc_update, -allow_languages or -allow_functions; nothing was written",
			"%s: %v", in.designSource(), err)
	}
	if err != nil {
		return nil, in.fileFailure(in.designSource(), err)
	}
	in.log.Info("design docs checked", "from", in.designSource(), "count", len(docs))
	return docs, nil
}

// loadSeed reads and checks the seed documents.
func (in *installer) loadSeed() ([]couch.SeedDoc, error) {
	fsys, dir, err := in.source(in.opts.seedDir, sampledb.SeedDir, "-seeddocs")
	if err != nil {
		return nil, err
	}
	docs, err := couch.LoadSeedDocs(fsys, dir)
	if err != nil {
		return nil, in.fileFailure(in.seedSource(), err)
	}
	in.log.Info("seed docs checked", "from", in.seedSource(), "count", len(docs))
	return docs, nil
}

// source returns where to read documents from: the folder given, or the
// built-in one. A folder is read through an [os.Root], so nothing outside
// it can be reached (package couch also reads regular files only, each
// of at most couch.MaxDocFileBytes). The root stays open until the
// process ends.
func (in *installer) source(dir, builtin, flagName string) (fs.FS, string, error) {
	if dir == "" {
		return sampledb.FS, builtin, nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, "", fail(exitBadFiles, "give an existing folder; nothing was written", "%s: %v", flagName, err)
	}
	if !st.IsDir() {
		return nil, "", fail(exitBadFiles, "give a folder of *.json files; nothing was written", "%s %s is not a folder", flagName, dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, "", fail(exitBadFiles, "give a readable folder; nothing was written", "%s: %v", flagName, err)
	}
	in.roots = append(in.roots, root)
	return root.FS(), ".", nil
}

func (in *installer) designSource() string {
	if in.opts.designDir == "" {
		return "the built-in sample design docs"
	}
	return in.opts.designDir
}

func (in *installer) seedSource() string {
	if in.opts.seedDir == "" {
		return "the built-in sample seed docs"
	}
	return in.opts.seedDir
}

func (in *installer) fileFailure(source string, err error) error {
	return fail(exitBadFiles, "fix the file; nothing was written", "%s: %v", source, err)
}

// serverFailure turns an error from the server (or from failing to reach
// it) into a failure with its exit code and what to do. step names what
// was being done when the server's answer can mean the database name.
func (in *installer) serverFailure(err error, step string) error {
	switch {
	case errors.Is(err, couch.ErrInvalidDBName):
		return fail(exitDBName, "pass another -database", "%v", err)
	case errors.Is(err, couch.ErrUnauthorized), errors.Is(err, couch.ErrForbidden):
		return fail(exitAuth, "check -creds, or "+envUser+" and "+envPassword+", or the credentials in -host",
			"%s: authentication failed: %v", in.host, err)
	case step == "create the database" && errors.Is(err, couch.ErrBadRequest):
		return fail(exitDBName, "pass another -database",
			"%s refuses the database name %q: %v", in.host, in.opts.database, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fail(exitUnreachable, "is the server overloaded? check -host, or raise -timeout",
			"no answer from %s within %v", in.host, in.opts.timeout)
	case errors.Is(err, context.Canceled):
		return fail(exitFail, "", "interrupted: %v", err)
	}
	if _, ok := errors.AsType[*url.Error](err); ok && couch.HTTPStatus(err) == 0 {
		if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
			return fail(exitUnreachable, "for a self-signed certificate pass -verify_host_ssl_cert=false",
				"cannot reach %s: its TLS certificate is not trusted: %v", in.host, cause(err))
		}
		if _, ok := errors.AsType[*net.DNSError](err); ok {
			return fail(exitUnreachable, "check the host name in -host",
				"cannot reach %s: %s", in.host, cause(err))
		}
		return fail(exitUnreachable, "is CouchDB running? start one with `make run` or pass -host",
			"cannot reach %s: %s", in.host, cause(err))
	}
	if step != "" {
		return fail(exitFail, "", "%s: %v", step, err)
	}
	return fail(exitFail, "", "%v", err)
}

// cause is the heart of a transport error: "connection refused" rather
// than the whole chain of operations and URLs.
func cause(err error) string {
	if dns, ok := errors.AsType[*net.DNSError](err); ok {
		return dns.Error()
	}
	if sys, ok := errors.AsType[*os.SyscallError](err); ok {
		return sys.Err.Error()
	}
	if op, ok := errors.AsType[*net.OpError](err); ok {
		return op.Err.Error()
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
