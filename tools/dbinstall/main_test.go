package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/sampledb"
)

func TestMain(m *testing.M) { os.Exit(couchtest.Main(m)) }

var ctx = context.Background()

// result is what one in-process run of the command did.
type result struct {
	code           int
	stdout, stderr string
}

func dbinstall(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// lines returns the output's lines, without the first one (the server's
// URL and version, which differ from server to server).
func (r result) lines(t *testing.T) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.True(t, strings.HasPrefix(lines[0], "server "), "first line names the server: %q", lines[0])
	return lines[1:]
}

// target is a fresh database name on the test server, deleted when the
// test ends if a run created it.
type target struct {
	host string // the server's URL, with its credentials
	name string
	db   *couch.DB
}

func newTarget(t *testing.T) target {
	t.Helper()
	u := couchtest.URL(t)
	c, err := couch.New(couch.Config{URL: u.String(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	name := couchtest.DBName(t)
	t.Cleanup(func() {
		if ok, _ := c.DBExists(ctx, name); ok {
			_ = c.DeleteDB(ctx, name)
		}
	})
	return target{host: strings.TrimSuffix(u.String(), "/"), name: name, db: c.DB(name)}
}

// args returns the flags that point the command at the target.
func (tg target) args(more ...string) []string {
	return append([]string{"-host", tg.host, "-database", tg.name}, more...)
}

func (tg target) exists(t *testing.T) bool {
	t.Helper()
	ok, err := tg.db.Client().DBExists(ctx, tg.name)
	require.NoError(t, err)
	return ok
}

// ids lists the target's document ids.
func (tg target) ids(t *testing.T) []string {
	t.Helper()
	res, err := tg.db.AllDocs(ctx, couch.ViewQuery{})
	require.NoError(t, err)
	var ids []string
	for _, r := range res.Rows {
		ids = append(ids, r.ID)
	}
	return ids
}

func sampleIDs(t *testing.T) (design, seed []string) {
	t.Helper()
	dd, err := couch.LoadDesignDocs(sampledb.FS, sampledb.DesignDir)
	require.NoError(t, err)
	sd, err := couch.LoadSeedDocs(sampledb.FS, sampledb.SeedDir)
	require.NoError(t, err)
	for _, d := range dd {
		design = append(design, d.ID)
	}
	for _, d := range sd {
		seed = append(seed, d.ID)
	}
	return design, seed
}

// copySample copies the sample's design and seed documents into a
// temporary folder and returns the two folders.
func copySample(t *testing.T) (design, seed string) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, sampledb.FS))
	return filepath.Join(dir, sampledb.DesignDir), filepath.Join(dir, sampledb.SeedDir)
}

func TestFreshInstallThenNothingChanged(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	design, seed := sampleIDs(t)

	first := dbinstall(t, tg.args()...)
	require.Equal(t, exitOK, first.code, "stderr: %s", first.stderr)
	assert.Empty(t, first.stderr)
	assert.Equal(t, []string{
		"database " + tg.name + ": created",
		"design doc _design/conflicts: created",
		"design doc _design/fruit_by_color: created",
		"design doc _design/fruit_by_fruit_id: created",
		"seed docs: 6 created",
		"done: database created, 3 design docs created, 6 seed docs created",
	}, first.lines(t))
	assert.ElementsMatch(t, append(design, seed...), tg.ids(t))

	second := dbinstall(t, tg.args()...)
	require.Equal(t, exitOK, second.code, "stderr: %s", second.stderr)
	assert.Equal(t, []string{
		"database " + tg.name + ": already existed",
		"design doc _design/conflicts: unchanged",
		"design doc _design/fruit_by_color: unchanged",
		"design doc _design/fruit_by_fruit_id: unchanged",
		"seed docs: 0 created, 6 already there",
		"done: nothing changed",
	}, second.lines(t))
	assert.ElementsMatch(t, append(design, seed...), tg.ids(t), "no seed document is duplicated")
}

func TestChangedDesignDocIsUpdated(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	designDir, _ := copySample(t)

	first := dbinstall(t, tg.args("-designdocs", designDir)...)
	require.Equal(t, exitOK, first.code, "stderr: %s", first.stderr)

	const newMap = `function(doc) { if (doc.type && doc.type.match(/^fruit_v\\d+\\.\\d+$/) && doc.color) { emit(doc.color, null); } }`
	file := filepath.Join(designDir, "fruit_by_color.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"language": "javascript", "views": {"fruit_by_color": {"map": "`+newMap+`"}}}`), 0o644))

	second := dbinstall(t, tg.args("-designdocs", designDir)...)
	require.Equal(t, exitOK, second.code, "stderr: %s", second.stderr)
	assert.Equal(t, []string{
		"database " + tg.name + ": already existed",
		"design doc _design/conflicts: unchanged",
		"design doc _design/fruit_by_color: updated",
		"design doc _design/fruit_by_fruit_id: unchanged",
		"seed docs: 0 created, 6 already there",
		"done: 1 design doc updated",
	}, second.lines(t))

	var got struct {
		Rev   string `json:"_rev"`
		Views map[string]struct {
			Map string `json:"map"`
		} `json:"views"`
	}
	require.NoError(t, tg.db.Get(ctx, "_design/fruit_by_color", &got))
	assert.Equal(t, strings.ReplaceAll(newMap, `\\`, `\`), got.Views["fruit_by_color"].Map)
	assert.True(t, strings.HasPrefix(got.Rev, "2-"), "updated on its revision, got %s", got.Rev)
}

func TestDelete(t *testing.T) {
	t.Parallel()
	t.Run("recreates", func(t *testing.T) {
		t.Parallel()
		tg := newTarget(t)
		require.Equal(t, exitOK, dbinstall(t, tg.args()...).code)
		_, err := tg.db.Put(ctx, "written-between-runs", map[string]any{"type": "fruit_v1.0"})
		require.NoError(t, err)

		r := dbinstall(t, tg.args("-delete=true")...)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		lines := r.lines(t)
		require.GreaterOrEqual(t, len(lines), 2)
		assert.Equal(t, []string{"database " + tg.name + ": deleted", "database " + tg.name + ": created"}, lines[:2])
		assert.Equal(t, "done: database deleted, database created, 3 design docs created, 6 seed docs created", lines[len(lines)-1])
		assert.NotContains(t, tg.ids(t), "written-between-runs")
		assert.Len(t, tg.ids(t), 9)
	})
	t.Run("missing database", func(t *testing.T) {
		t.Parallel()
		tg := newTarget(t)
		r := dbinstall(t, tg.args("-delete=true")...)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		lines := r.lines(t)
		assert.Equal(t, "database "+tg.name+": did not exist, nothing to delete", lines[0])
		assert.Equal(t, "database "+tg.name+": created", lines[1])
	})
	t.Run("and not create", func(t *testing.T) {
		t.Parallel()
		tg := newTarget(t)
		require.Equal(t, exitOK, dbinstall(t, tg.args()...).code)
		r := dbinstall(t, tg.args("-delete=true", "-create=false")...)
		require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
		assert.Equal(t, []string{
			"database " + tg.name + ": deleted",
			"database " + tg.name + ": not created (-create=false)",
			"done: database deleted",
		}, r.lines(t))
		assert.False(t, tg.exists(t))
	})
}

func TestCreateFalse(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	r := dbinstall(t, tg.args("-create=false")...)
	assert.Equal(t, exitFail, r.code)
	assert.Equal(t, "dbinstall: database "+tg.name+" does not exist on "+redacted(t, tg.host)+" — run without -create=false to create it\n", r.stderr)
	assert.False(t, tg.exists(t))

	require.NoError(t, tg.db.Client().CreateDB(ctx, tg.name))
	r = dbinstall(t, tg.args("-create=false", "-createseed=false")...)
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, []string{
		"database " + tg.name + ": already existed",
		"design doc _design/conflicts: created",
		"design doc _design/fruit_by_color: created",
		"design doc _design/fruit_by_fruit_id: created",
		"done: 3 design docs created",
	}, r.lines(t))
}

func redacted(t *testing.T, host string) string {
	u, err := url.Parse(host)
	require.NoError(t, err)
	u.User = nil
	return u.String()
}

func TestBadFileChangesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		folder    string // "design" or "seed"
		file      string
		data      string
		wantInErr string
	}{
		{"design syntax", "design", "broken.json", "{\n  \"views\": {,\n}", "broken.json: invalid document: invalid character ',' looking for beginning of object key string at line 2, column 13"},
		{"design truncated", "design", "broken.json", `{"views": {"v": {"map": "function(doc) {}"}}`, "broken.json: invalid document: unexpected end of JSON input at line 1, column 44"},
		{"design without views", "design", "broken.json", `{"language": "javascript"}`, `broken.json: invalid document: no "views"`},
		{"design map not a string", "design", "broken.json", `{"views": {"v": {"map": 1}}}`, `broken.json: invalid document: view "v": "map" must be a non-empty string`},
		{"seed syntax", "seed", "broken.json", "{\"type\": \"fruit_v1.0\",\n \"color\": red}", "broken.json: invalid document: invalid character 'r' looking for beginning of value at line 2, column 11"},
		{"seed without type", "seed", "broken.json", `{"color": "red"}`, `broken.json: invalid document: document type is not versioned: document has no "type"`},
		{"seed unversioned type", "seed", "broken.json", `{"type": "fruit"}`, `"type" "fruit" does not match`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			designDir, seedDir := copySample(t)
			dir := map[string]string{"design": designDir, "seed": seedDir}[tt.folder]
			require.NoError(t, os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.data), 0o644))
			folders := []string{"-designdocs", designDir, "-seeddocs", seedDir}

			// The database does not exist: it is not even created.
			tg := newTarget(t)
			r := dbinstall(t, tg.args(folders...)...)
			assert.Equal(t, exitBadFiles, r.code)
			assert.Empty(t, r.stdout, "nothing happened, so no step is reported")
			assert.Contains(t, r.stderr, dir+": ")
			assert.Contains(t, r.stderr, tt.wantInErr)
			assert.Contains(t, r.stderr, "nothing was written")
			assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %s", r.stderr)
			assert.False(t, tg.exists(t), "the database is not created")

			// The database exists: even -delete=true leaves it as it was.
			require.NoError(t, tg.db.Client().CreateDB(ctx, tg.name))
			_, err := tg.db.Put(ctx, "mine", map[string]any{"type": "fruit_v1.0"})
			require.NoError(t, err)
			r = dbinstall(t, tg.args(append(folders, "-delete=true")...)...)
			assert.Equal(t, exitBadFiles, r.code)
			assert.Equal(t, []string{"mine"}, tg.ids(t))
		})
	}
}

func TestMissingFolder(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	missing := filepath.Join(t.TempDir(), "nope")
	r := dbinstall(t, tg.args("-seeddocs", missing)...)
	assert.Equal(t, exitBadFiles, r.code)
	assert.Contains(t, r.stderr, "dbinstall: -seeddocs: stat "+missing+": no such file or directory")
	assert.False(t, tg.exists(t))
}

func TestEmptyFolders(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	empty := t.TempDir()
	r := dbinstall(t, tg.args("-designdocs", empty, "-seeddocs", empty)...)
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, []string{
		"database " + tg.name + ": created",
		"design docs: none in " + empty,
		"seed docs: none in " + empty,
		"done: database created",
	}, r.lines(t))
}

// authProxy demands user "accord" and a password with URL-special
// characters, over TLS with a self-signed certificate.
func authProxy(t *testing.T) *httptest.Server {
	return couchtest.AuthProxy(t, "accord", "s3cret/?#@")
}

// TestCredentials is not parallel: some cases set environment variables.
func TestCredentials(t *testing.T) {
	srv := authProxy(t)
	withCreds := strings.Replace(srv.URL, "https://", "https://accord:s3cret%2F%3F%23%40@", 1)
	badInURL := strings.Replace(srv.URL, "https://", "https://accord:wrong@", 1)
	tests := []struct {
		name     string
		host     string
		args     []string
		env      map[string]string
		wantCode int
		wantErr  string
	}{
		{"creds flag", srv.URL, []string{"-creds", "accord:s3cret/?#@"}, nil, exitOK, ""},
		{"creds in host", withCreds, nil, nil, exitOK, ""},
		{"environment", srv.URL, nil, map[string]string{envUser: "accord", envPassword: "s3cret/?#@"}, exitOK, ""},
		{"creds flag over environment", srv.URL, []string{"-creds", "accord:s3cret/?#@"}, map[string]string{envUser: "accord", envPassword: "wrong"}, exitOK, ""},
		{"creds flag over host", badInURL, []string{"-creds", "accord:s3cret/?#@"}, nil, exitOK, ""},
		{"host over environment", withCreds, nil, map[string]string{envUser: "accord", envPassword: "wrong"}, exitOK, ""},
		{"no creds", srv.URL, nil, nil, exitAuth, "dbinstall: " + srv.URL + ": authentication failed: couch: version: unauthorized (401): Name or password is incorrect. — check -creds, or COUCHDB_USER and COUCHDB_PASSWORD, or the credentials in -host\n"},
		{"wrong password", srv.URL, []string{"-creds", "accord:nope"}, nil, exitAuth, "authentication failed"},
		{"wrong password in environment", srv.URL, nil, map[string]string{envUser: "accord", envPassword: "s3cret"}, exitAuth, "authentication failed"},
		{"wrong password in host", badInURL, nil, nil, exitAuth, "authentication failed"},
		{"certificate not trusted", withCreds, []string{"-verify_host_ssl_cert=true"}, nil, exitUnreachable,
			"dbinstall: cannot reach " + srv.URL + ": its TLS certificate is not trusted: tls: failed to verify certificate: x509: certificate signed by unknown authority — for a self-signed certificate pass -verify_host_ssl_cert=false\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envUser, "")
			t.Setenv(envPassword, "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			name := couchtest.DBName(t)
			args := append([]string{"-host", tt.host, "-database", name, "-verify_host_ssl_cert=false", "-log", "debug"}, tt.args...)
			r := dbinstall(t, args...)
			if tt.wantCode == exitOK {
				t.Cleanup(func() { deleteVia(t, withCreds, name) })
			}
			assert.Equal(t, tt.wantCode, r.code, "stderr: %s", r.stderr)
			if tt.wantErr != "" {
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				last := lines[len(lines)-1] + "\n"
				if strings.HasSuffix(tt.wantErr, "\n") {
					assert.Equal(t, tt.wantErr, last)
				} else {
					assert.Contains(t, last, tt.wantErr)
				}
			}
			for _, out := range []string{r.stdout, r.stderr} {
				assert.NotContains(t, out, "s3cret", "the password never shows, not even in debug logs")
				assert.NotContains(t, out, "wrong")
			}
		})
	}
}

// deleteVia deletes the database name through the auth proxy.
func deleteVia(t *testing.T, host, name string) {
	c, err := couch.New(couch.Config{URL: host, InsecureSkipVerify: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	if ok, _ := c.DBExists(ctx, name); ok {
		require.NoError(t, c.DeleteDB(ctx, name))
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	r := dbinstall(t, "-host", "http://127.0.0.1:1", "-database", "accord_unreachable")
	assert.Equal(t, exitUnreachable, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "dbinstall: cannot reach http://127.0.0.1:1: connection refused — is CouchDB running? start one with `make run` or pass -host\n", r.stderr)
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never answers.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	r := dbinstall(t, "-host", srv.URL, "-timeout", "200ms")
	assert.Equal(t, exitUnreachable, r.code)
	assert.Equal(t, "dbinstall: no answer from "+srv.URL+" within 200ms — is the server overloaded? check -host, or raise -timeout\n", r.stderr)
}

func TestInvalidDatabaseName(t *testing.T) {
	t.Parallel()
	t.Run("refused here", func(t *testing.T) {
		t.Parallel()
		tg := newTarget(t)
		r := dbinstall(t, "-host", tg.host, "-database", "Fruits")
		assert.Equal(t, exitDBName, r.code)
		assert.Equal(t, `dbinstall: invalid database name "Fruits": it must start with a lower-case letter and hold only a-z, 0-9 and _$()+-/ — pass another -database`+"\n", r.stderr)
	})
	t.Run("refused by the server", func(t *testing.T) {
		t.Parallel()
		// A name this tool accepts but a server refuses (CouchDB refuses
		// names longer than 238 characters, say): a proxy in front of the
		// test server refuses to create it as CouchDB would.
		upstream := couchtest.URL(t)
		proxy := httputil.NewSingleHostReverseProxy(upstream)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && r.URL.Path == "/refused_name" {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"error":"illegal_database_name","reason":"Name: 'refused_name'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter."}`))
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		u.User = upstream.User
		r := dbinstall(t, "-host", u.String(), "-database", "refused_name")
		assert.Equal(t, exitDBName, r.code, "stderr: %s", r.stderr)
		assert.Contains(t, r.stderr, `refuses the database name "refused_name": couch: create db "refused_name": illegal_database_name (400)`)
		assert.True(t, strings.HasSuffix(r.stderr, " — pass another -database\n"), r.stderr)
	})
}

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"help", []string{"-help"}, exitOK, "Exit codes:\n  0  done"},
		{"unknown flag", []string{"-nope"}, exitUsage, "flag provided but not defined: -nope"},
		{"bool with space", []string{"-delete", "true"}, exitUsage, `dbinstall: unexpected argument "true" — boolean flags take their value after '=', as in -delete=true`},
		{"argument", []string{"fruits"}, exitUsage, `dbinstall: unexpected argument "fruits" — dbinstall takes flags only`},
		{"log level", []string{"-log", "loud"}, exitUsage, `dbinstall: -log "loud" is not a logging level — use debug, info, warn or error`},
		{"creds without colon", []string{"-creds", "admin"}, exitUsage, `dbinstall: -creds is not user:password — write it as user:password`},
		{"creds without user", []string{"-creds", ":secret"}, exitUsage, `dbinstall: -creds is not user:password`},
		{"host scheme", []string{"-host", "ftp://127.0.0.1:5984"}, exitUsage, `dbinstall: -host: couch: server URL "ftp://127.0.0.1:5984": scheme must be http or https — give a URL such as http://127.0.0.1:5984`},
		{"timeout", []string{"-timeout", "0s"}, exitUsage, `-timeout 0s is not positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// An unreachable host: none of these may get as far as asking it.
			args := append([]string{"-host", "http://127.0.0.1:1"}, tt.args...)
			r := dbinstall(t, args...)
			assert.Equal(t, tt.wantCode, r.code, "stderr: %s", r.stderr)
			assert.Contains(t, r.stderr, tt.wantErr)
			assert.Empty(t, r.stdout)
		})
	}
}

func TestHelpDocumentsEveryExitCode(t *testing.T) {
	t.Parallel()
	r := dbinstall(t, "-help")
	require.Equal(t, exitOK, r.code)
	for _, code := range []string{"0", "1", "2", "3", "4", "5", "6", "7"} {
		assert.Contains(t, r.stderr, "\n  "+code+"  ")
	}
	for _, f := range []string{"-log", "-host", "-database", "-creds", "-delete", "-create", "-createdesign", "-createseed", "-seeddocsigner", "-verify", "-verify_host_ssl_cert", "-designdocs", "-seeddocs", "-json"} {
		assert.Regexp(t, `\n  `+f+`[ \n]`, r.stderr, "flag %s is documented", f)
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	design, seed := sampleIDs(t)
	var sum summary

	r := dbinstall(t, tg.args("-json")...)
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"), "one JSON object, one line: %s", r.stdout)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	assert.Equal(t, redacted(t, tg.host), sum.Server)
	assert.Equal(t, tg.name, sum.Database)
	assert.True(t, sum.Created)
	assert.False(t, sum.Deleted)
	assert.True(t, sum.Changed)
	assert.Empty(t, sum.Error)
	assert.Equal(t, exitOK, sum.ExitCode)
	require.Len(t, sum.DesignDocs, len(design))
	require.Len(t, sum.SeedDocs, len(seed))
	for i, d := range sum.DesignDocs {
		assert.Equal(t, design[i], d.ID)
		assert.Equal(t, couch.Created, d.Status)
		assert.True(t, strings.HasPrefix(d.Rev, "1-"), d.Rev)
	}
	for _, d := range sum.SeedDocs {
		assert.Equal(t, couch.Created, d.Status)
	}

	r = dbinstall(t, tg.args("-json")...)
	require.Equal(t, exitOK, r.code)
	sum = summary{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
	assert.False(t, sum.Created)
	assert.False(t, sum.Changed, "the second run changes nothing")
	for _, d := range append(sum.DesignDocs, sum.SeedDocs...) {
		assert.Equal(t, couch.Unchanged, d.Status, d.ID)
	}

	// A failure is in the summary too.
	r = dbinstall(t, "-json", "-host", "http://127.0.0.1:1")
	assert.Equal(t, exitUnreachable, r.code)
	var failed map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &failed))
	assert.EqualValues(t, exitUnreachable, failed["exit_code"])
	assert.Contains(t, failed["error"], "cannot reach http://127.0.0.1:1")
	assert.Equal(t, []any{}, failed["design_docs"])
}

// TestHostCredentialsNeverEchoed gives -host URLs whose password is not
// percent-encoded: the run stops with a usage error, on stderr and in the
// -json summary, that prints nothing of the password.
func TestHostCredentialsNeverEchoed(t *testing.T) {
	t.Parallel()
	hosts := []string{
		"http://admin:hun/ter2@127.0.0.1:1",
		"http://admin:hun#ter2@127.0.0.1:1",
		"http://admin:hun?ter2@127.0.0.1:1",
		"http://admin:4242/2424@127.0.0.1:1",
		"http://admin:4242#2424@127.0.0.1:1",
		"http://admin:4242?2424@127.0.0.1:1",
		"http://admin:hunter2@127.0.0.1:hunter2",
	}
	for _, host := range hosts {
		for _, asJSON := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s json=%v", host, asJSON), func(t *testing.T) {
				args := []string{"-host", host}
				if asJSON {
					args = append(args, "-json")
				}
				r := dbinstall(t, args...)
				assert.Equal(t, exitUsage, r.code, "stderr: %s", r.stderr)
				assert.Contains(t, r.stderr, "percent-encode")
				if asJSON {
					var sum summary
					require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum))
					assert.Contains(t, sum.Error, "percent-encode")
				}
				for _, piece := range []string{"hun", "ter2", "4242", "2424"} {
					assert.NotContains(t, r.stdout+r.stderr, piece)
				}
			})
		}
	}
}

// TestHostileFilesChangeNothing puts files in the document folders that
// must not be read or installed: symlinks (to a valid document outside
// the folder, to /dev/zero), a file over the size cap, and design
// documents with features that need asking for. Each stops the run with
// exit code 3 before anything is written.
func TestHostileFilesChangeNothing(t *testing.T) {
	t.Parallel()
	outside := filepath.Join(t.TempDir(), "outside.json")
	require.NoError(t, os.WriteFile(outside, []byte(`{"views":{"stolen":{"map":"function(doc){ emit(doc._id, null); }"}}}`), 0o644))
	tests := []struct {
		name      string
		folder    string // "design" or "seed"
		setup     func(t *testing.T, dir string)
		wantInErr string
	}{
		{"symlink out of the folder", "design", func(t *testing.T, dir string) {
			require.NoError(t, os.Symlink(outside, filepath.Join(dir, "stolen.json")))
		}, "stolen.json: invalid document: not a regular file"},
		{"symlink to /dev/zero", "seed", func(t *testing.T, dir string) {
			require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, "zero.json")))
		}, "zero.json: invalid document: not a regular file"},
		{"too large", "seed", func(t *testing.T, dir string) {
			big := `{"type":"fruit_v1.0","pad":"` + strings.Repeat("x", couch.MaxDocFileBytes) + `"}`
			require.NoError(t, os.WriteFile(filepath.Join(dir, "big.json"), []byte(big), 0o644))
		}, "big.json: invalid document: 1048606 bytes, larger than 1048576"},
		{"validate_doc_update", "design", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "guard.json"), []byte(`{"views":{"v":{"map":"function(doc){}"}},"validate_doc_update":"function(){ throw({forbidden:'no'}); }"}`), 0o644))
		}, "guard.json: invalid document: not allowed: a validate_doc_update function"},
		{"erlang", "design", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "native.json"), []byte(`{"language":"erlang","views":{"v":{"map":"fun({Doc}) -> ok end."}}}`), 0o644))
		}, `native.json: invalid document: not allowed: language "erlang"`},
		{"filters", "design", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "filtered.json"), []byte(`{"views":{"v":{"map":"function(doc){}"}},"filters":{"f":"function(){ return true; }"}}`), 0o644))
		}, `filtered.json: invalid document: not allowed: "filters"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			designDir, seedDir := copySample(t)
			dir := map[string]string{"design": designDir, "seed": seedDir}[tt.folder]
			tt.setup(t, dir)
			tg := newTarget(t)
			r := dbinstall(t, tg.args("-designdocs", designDir, "-seeddocs", seedDir)...)
			assert.Equal(t, exitBadFiles, r.code, "stderr: %s", r.stderr)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, tt.wantInErr)
			assert.Contains(t, r.stderr, "nothing was written")
			assert.Less(t, len(r.stderr), 1024, "one short line")
			assert.False(t, tg.exists(t), "the database is not created")
		})
	}
}

// TestAllowFlags installs a design document with a validate_doc_update
// function, which needs -allow_validate_doc_update=true, and checks the
// allow flags reach the policy.
func TestAllowFlags(t *testing.T) {
	t.Parallel()
	opts, _, ok := parseFlags([]string{"-allow_validate_doc_update=true", "-allow_functions=true", "-allow_languages", "erlang, query"}, io.Discard)
	require.True(t, ok)
	assert.Equal(t, couch.DesignPolicy{AllowValidateDocUpdate: true, AllowFunctions: true, AllowLanguages: []string{"erlang", "query"}}, opts.policy)

	designDir, seedDir := copySample(t)
	require.NoError(t, os.WriteFile(filepath.Join(designDir, "guard.json"),
		[]byte(`{"views":{"v":{"map":"function(doc){}"}},"validate_doc_update":"function(newDoc){ if (newDoc.forbidden) { throw({forbidden:'no'}); } }"}`), 0o644))
	tg := newTarget(t)
	r := dbinstall(t, tg.args("-designdocs", designDir, "-seeddocs", seedDir, "-allow_validate_doc_update=true")...)
	require.Equal(t, exitOK, r.code, "stderr: %s", r.stderr)
	assert.Contains(t, tg.ids(t), "_design/guard")
}
