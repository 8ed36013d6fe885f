// Package couch is a CouchDB client whose writes can hand conflicts to a
// resolver.
//
//	client, err := couch.New(couch.Config{URL: "http://admin:secret@127.0.0.1:5984"})
//	if err != nil { … }
//	db := client.DB("fruits")
//	id, rev, err := db.Post(ctx, map[string]any{"type": "fruit_v1.0", "color": "red"})
//	var fruit Fruit
//	err = db.Get(ctx, id, &fruit)
//	if errors.Is(err, couch.ErrNotFound) { … }
//
// A [Client] talks to one server (ping, version, databases, replication);
// a [DB] handle reads and writes one database: documents ([DB.Get],
// [DB.Put], [DB.Post], [DB.Delete], [DB.OpenRevs]), many at once
// ([DB.BulkDocs], [DB.AllDocs]), views ([DB.Query]), the changes feed
// ([DB.Changes]), design documents ([LoadDesignDocs],
// [DB.InstallDesignDocs]), seed documents ([LoadSeedDocs], [DB.Seed]),
// health ([DB.CheckHealth]) and size metrics ([DB.Metrics]).
//
// # The conflict loop
//
// A [Store] is the model layer over a database: documents of one
// versioned type (such as "fruit_v1.0", checked by [CheckType] before
// anything is sent), decoded into a Go type. Its updates and deletes take
// the caller's change as a function, so that when a write meets a 409 the
// store can ask a [resolve.Resolver] what to do (retry after a delay,
// merge, accept theirs, give up) and re-apply the change to the fresh
// revision:
//
//	fruits, err := couch.NewStore[Fruit](db, couch.StoreConfig{Type: "fruit_v1.0", Resolver: resolver})
//	res, err := fruits.Update(ctx, couch.ByID(id), func(f *Fruit) error { f.Tastings++; return nil })
//
// The loop reads only the documents the resolver says it needs, is bounded
// by a hard attempt cap and the context's deadline, and fails closed: a
// resolver that errs or answers an invalid decision gets a
// [*ResolverError] and nothing it returned is written. A resolver that
// gives up gets a [*ConflictError], which matches [ErrConflict]. A retry
// wait that would end after the context's deadline is not started: the
// write stops at once with a [*WaitError] (matching [ErrWaitPastDeadline],
// not context.DeadlineExceeded, since the deadline has not passed) that
// carries the wait asked for and the time that was left. [Stats] counts
// conflicts and decisions for a service's metrics.
//
// On a cluster, a write answered 202 Accepted (it reached fewer copies
// than the write quorum) is not taken at its word: the store reads the
// document back from every copy and acknowledges the write only if its
// revision is in the winner, alone; otherwise it deletes its leaf and
// hands the write to the resolver as a conflict, matching [ErrNotWinner].
// [Stats.Accepted] counts these writes. That does not settle every
// conflict a cluster makes by itself: see accepted.go for what was
// measured.
//
// # Signed and encrypted documents
//
// A store given a [Sealer] (StoreConfig.Sealer) passes every document it
// writes, merges included, through Sealer.Seal just before sending it,
// and every document it reads through Sealer.Open before decoding it or
// showing it to a resolver. Package couch/tamper signs documents
// (HMAC-SHA256 over RFC 8785 canonical JSON) and verifies them; package
// couch/secure hashes and encrypts a model's sensitive properties;
// [Seals] chains them. A document a Sealer refuses is never returned:
// [Store.Get] and the writes fail with a [*RefusedError] (matching
// [ErrRefused]), [Store.Query] leaves it out, and each refusal logs an
// ERROR line naming the document and counts in [Stats.Refused].
//
// What is missing is told apart: a 404 on a database that does not exist
// matches [ErrDatabaseNotFound], on a design document or view that does
// not exist [ErrViewNotFound], both beside [ErrNotFound]; a missing
// document matches ErrNotFound alone.
//
// # Transient failures
//
// Apart from conflicts, a request that fails for a passing reason (a 5xx
// other than 501, a 429, a connection error) is retried by the [Client]
// under a bounded [RetryPolicy]: a few attempts, capped exponential
// backoff with jitter or the server's Retry-After (bounded), never past
// the context's deadline, and a retry budget per client so that an outage
// does not become a retry storm. A request is never resent when that
// could apply it twice (a POST is resent only if it never left). A write
// whose earlier attempt may have landed, its answer lost, returns an
// error that also matches [ErrAmbiguous]; a [Store] then checks whether
// the database holds its own write and reports it written rather than
// applying the change again. Every retry is logged and counted in
// [Stats.Retries].
//
// The client speaks only the CouchDB HTTP API, so it works with Apache
// CouchDB 2 and 3 and with pouchdb-server; where a server lacks something
// (pouchdb-server has no /_up, reports no sizes and has no node stats)
// the client degrades: it falls back to GET /, reports the sizes as
// absent, and [Client.NodeStats] fails with [ErrNotFound].
//
// Every request takes a context and is logged as one structured line at
// debug level (method, path, status, duration), never with credentials.
// Credentials come from the URL or the [Config] and are sent as basic
// auth; TLS verification can be turned off for self-signed certificates.
//
// Document ids of every shape are escaped whole into one URL path
// segment, so "a/b", "a?b" or "a#b" name the document they spell and
// nothing else; "_design/" and "_local/" prefixes are kept as CouchDB
// expects.
//
// # Errors
//
// An answer with an error status is an [*Error] that keeps CouchDB's
// "error" and "reason"; compare it with the sentinels ([ErrConflict],
// [ErrNotFound], [ErrUnauthorized], …) using [errors.Is] and read its
// status with [HTTPStatus]. Mistakes the client can see for itself (an
// invalid database name, an empty id, a document without a versioned
// type) are refused before any request is sent, with errors matching
// [ErrInvalidDBName], [ErrInvalidID] and [ErrInvalidType].
package couch
