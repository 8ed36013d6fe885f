// Command replicate starts a replication between two databases, given
// by URL (credentials in the URL or in COUCHDB_USER and
// COUCHDB_PASSWORD):
//
//	go run ./tools/replicate -continuous http://127.0.0.1:5984/accord_sample http://127.0.0.1:5985/accord_sample
//
// A one-shot replication returns when it is done and prints what it
// copied; a continuous one is written as a document of the source
// server's _replicator database and runs until that document is deleted.
// With -both, the target is replicated back to the source as well (on
// the target's server): the two-way replication of the multimaster
// sample. The work is package couch's [couch.Client.Replicate].
//
// Exit codes: 0 done, 1 the replication failed, 2 bad arguments.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/accord-db/accord/couch"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replicate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	continuous := fs.Bool("continuous", false, "keep replicating new changes (a _replicator document)")
	both := fs.Bool("both", false, "replicate the target back to the source too")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up a one-shot replication after this `long`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: replicate [flags] SOURCE_DB_URL TARGET_DB_URL\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	source, target := fs.Arg(0), fs.Arg(1)
	for _, u := range []string{source, target} {
		if _, err := couch.ParseURL(u); err != nil {
			fmt.Fprintf(stderr, "replicate: %v: give a database URL such as http://127.0.0.1:5984/accord_sample\n", err)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	pairs := [][2]string{{source, target}}
	if *both {
		pairs = append(pairs, [2]string{target, source})
	}
	for _, p := range pairs {
		res, err := replicate(ctx, p[0], p[1], *continuous)
		if err != nil {
			fmt.Fprintf(stderr, "replicate: %v\nIs the server up, and are the credentials right (COUCHDB_USER, COUCHDB_PASSWORD)?\n", err)
			return 1
		}
		out, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s -> %s: %s\n", redact(p[0]), redact(p[1]), out)
	}
	return 0
}

// replicate runs one replication on the source's server. Credentials
// from the environment are added to URLs that carry none, since the
// server itself connects to both.
func replicate(ctx context.Context, source, target string, continuous bool) (couch.ReplicationResult, error) {
	src, err := withEnvAuth(source)
	if err != nil {
		return couch.ReplicationResult{}, err
	}
	dst, err := withEnvAuth(target)
	if err != nil {
		return couch.ReplicationResult{}, err
	}
	server := *src
	server.Path, server.RawPath = "", ""
	c, err := couch.New(couch.Config{URL: server.String(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return couch.ReplicationResult{}, err
	}
	return c.Replicate(ctx, couch.Replication{Source: src.String(), Target: dst.String(), Continuous: continuous})
}

// withEnvAuth parses a database URL and adds COUCHDB_USER and
// COUCHDB_PASSWORD to it if it has no credentials.
func withEnvAuth(raw string) (*url.URL, error) {
	u, err := couch.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	if u.User == nil && os.Getenv("COUCHDB_USER") != "" {
		u.User = url.UserPassword(os.Getenv("COUCHDB_USER"), os.Getenv("COUCHDB_PASSWORD"))
	}
	return u, nil
}

// redact hides a password in a URL.
func redact(raw string) string {
	u, err := couch.ParseURL(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return u.Redacted()
}
