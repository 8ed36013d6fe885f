package main

import (
	"context"
	"errors"
	"strings"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/couch/keys"
	"github.com/accord-db/accord/couch/tamper"
)

// exitTampered is the exit code of -verify when a document fails.
const exitTampered = 7

// verifyPage is how many documents -verify reads per request.
const verifyPage = 500

// maxReported caps the failures -verify prints one by one.
const maxReported = 1000

// Failure is a document that failed verification, as -verify reports it.
type Failure struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Verified is what -verify found, in the -json summary.
type Verified struct {
	Checked int       `json:"checked"`
	Failed  int       `json:"failed"`
	Failing []Failure `json:"failing"`
}

// loadSigner reads the -seeddocsigner key file (the format of package
// couch/keys: its first key signs, every key verifies).
func (in *installer) loadSigner() error {
	if in.opts.signer == "" {
		return nil
	}
	ring, err := keys.Load("", in.opts.signer)
	if err != nil {
		return fail(exitBadFiles, "give a key file of lines \"ID BASE64-OF-32-BYTES\" (see couch/keys); nothing was written",
			"-seeddocsigner: %v", err)
	}
	if in.signer, err = tamper.New(tamper.Config{Keys: ring}); err != nil {
		return fail(exitBadFiles, "", "-seeddocsigner: %v", err)
	}
	id, _ := ring.Active()
	in.log.Info("seed docs are signed", "key_id", id)
	return nil
}

// signSeed signs every seed document with the -seeddocsigner key.
func (in *installer) signSeed(docs []couch.SeedDoc) error {
	if in.signer == nil {
		return nil
	}
	for i, d := range docs {
		body, err := in.signer.Sign(d.ID, d.Body)
		if err != nil {
			return fail(exitBadFiles, "fix the file; nothing was written", "%s: %v", d.Source, err)
		}
		docs[i].Body = body
	}
	return nil
}

// verify reads every document of the database but the design documents,
// a page at a time, and reports each that fails verification with the
// -seeddocsigner keys. It changes nothing.
func (in *installer) verify(ctx context.Context, db *couch.DB) error {
	sum := &Verified{Failing: []Failure{}}
	in.sum.Verify = sum
	var start any
	for {
		q := couch.ViewQuery{IncludeDocs: true, Limit: verifyPage + 1}
		if start != nil {
			q.StartKey = start
		}
		res, err := db.AllDocs(ctx, q)
		if err != nil {
			return in.serverFailure(err, "")
		}
		rows := res.Rows
		start = nil
		if len(rows) > verifyPage {
			start = rows[verifyPage].ID
			rows = rows[:verifyPage]
		}
		for _, r := range rows {
			if strings.HasPrefix(r.ID, "_design/") || r.Doc == nil || string(r.Doc) == "null" {
				continue
			}
			sum.Checked++
			err := in.signer.Verify(r.ID, r.Doc)
			if err == nil {
				continue
			}
			sum.Failed++
			reason := err.Error()
			if te, ok := errors.AsType[*tamper.Error](err); ok {
				reason = te.Reason
			}
			in.log.Warn("document failed verification", "id", clip(r.ID), "reason", reason)
			if len(sum.Failing) < maxReported {
				sum.Failing = append(sum.Failing, Failure{ID: r.ID, Reason: reason})
				in.printf("FAILED %q: %s", clip(r.ID), reason)
			}
		}
		if start == nil {
			break
		}
	}
	if sum.Failed > 0 {
		in.printf("verify: %d of %d documents failed verification", sum.Failed, sum.Checked)
		return fail(exitTampered, "they were changed outside the service, or signed with a key this key file lacks",
			"%d of %d documents in %s failed verification", sum.Failed, sum.Checked, in.opts.database)
	}
	in.printf("verify: %d documents verified", sum.Checked)
	return nil
}

// clip bounds an id for output.
func clip(s string) string {
	if len(s) <= 128 {
		return s
	}
	return s[:128] + "…"
}
