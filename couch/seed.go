package couch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// SeedDoc is a document a database starts with: sample or reference data
// that [DB.Seed] creates once, when it is missing.
type SeedDoc struct {
	// ID is the document id. It is stable, so that seeding twice finds
	// the document instead of making a second one.
	ID string
	// Source names where the document came from, for messages.
	Source string
	// Body is the document's content, a JSON object with a versioned
	// "type". An "_id" in it, if any, equals ID; it has no "_rev".
	Body json.RawMessage
}

// LoadSeedDocs reads every *.json file in dir of fsys as a seed document.
// Each must be a JSON object with a versioned "type" (see [CheckType])
// and no "_rev". Its id is its "_id", or else the file's name without
// ".json": apple.json becomes the document apple. Ids starting with "_"
// are refused (design and local documents are not seed documents), and
// so are two files with one id.
//
// Every file is read and checked before LoadSeedDocs returns; the first
// one that is not right fails the whole load, with the file's name and,
// for bad JSON, the line and column, in an error matching
// [ErrInvalidDocument] (and [ErrInvalidType] for a missing or
// unversioned type). A missing dir is an error too; a dir without JSON
// files is not.
func LoadSeedDocs(fsys fs.FS, dir string) ([]SeedDoc, error) {
	files, err := jsonFiles(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("couch: load seed docs: %w", err)
	}
	docs := make([]SeedDoc, 0, len(files))
	sources := make(map[string]string, len(files))
	for _, name := range files {
		file := path.Join(dir, name)
		obj, body, err := readObject(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("couch: load seed docs: %w", err)
		}
		id := strings.TrimSuffix(name, ".json")
		if raw, ok := obj["_id"]; ok {
			if json.Unmarshal(raw, &id) != nil {
				return nil, fmt.Errorf("couch: load seed docs: %s: %w: _id %s is not a string", file, ErrInvalidDocument, bounded(string(raw), maxTypeEcho))
			}
		}
		doc := SeedDoc{ID: id, Source: file, Body: body}
		if err := checkSeed(doc); err != nil {
			return nil, fmt.Errorf("couch: load seed docs: %s: %w", file, err)
		}
		if other, dup := sources[id]; dup {
			return nil, fmt.Errorf("couch: load seed docs: %s: %w: id %q is also the id of %s", file, ErrInvalidDocument, id, other)
		}
		sources[id] = file
		docs = append(docs, doc)
	}
	return docs, nil
}

// checkSeed checks one seed document. Its errors match
// ErrInvalidDocument.
func checkSeed(d SeedDoc) error {
	if d.ID == "" {
		return fmt.Errorf("%w: empty id", ErrInvalidDocument)
	}
	if strings.HasPrefix(d.ID, "_") {
		return fmt.Errorf("%w: id %q: seed document ids must not start with '_'", ErrInvalidDocument, d.ID)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(d.Body, &obj); err != nil || obj == nil {
		return fmt.Errorf("%w: %s: not a JSON object", ErrInvalidDocument, d.ID)
	}
	if raw, ok := obj["_id"]; ok {
		var given string
		if json.Unmarshal(raw, &given) != nil || given != d.ID {
			return fmt.Errorf("%w: _id %s does not match the id %q", ErrInvalidDocument, raw, d.ID)
		}
	}
	if _, ok := obj["_rev"]; ok {
		return fmt.Errorf(`%w: %s has a "_rev": seed documents are created, never updated, so remove it`, ErrInvalidDocument, d.ID)
	}
	if err := CheckType(d.Body); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	return nil
}

// Seed creates those of docs the database does not have, and leaves the
// others alone: running it twice creates nothing the second time. A seed
// document that exists is never overwritten, even if its content differs
// from docs (a user may have edited it since, and the edit wins), and one
// that was deleted is not brought back; both are reported [Unchanged]
// with their current revision. To start again from the seed, delete and
// recreate the database.
//
// Seed checks every document first (an id not starting with "_", a JSON
// object without "_rev" whose "_id", if any, is the id, with a versioned
// type; no id twice) and writes nothing if one is wrong. It then asks for
// all the ids in one request and creates the missing documents in one
// _bulk_docs request. It returns one [Installed] per document, in the
// order of docs; on failure, those it got to. A document created by
// someone else between the two requests is reported Unchanged.
//
// # Errors
//
// A document that is not right fails with an error matching
// [ErrInvalidDocument] before any request is sent. A failed request, or
// a document the server refuses (a validate_doc_update function, say),
// fails with an [*Error].
func (db *DB) Seed(ctx context.Context, docs []SeedDoc) ([]Installed, error) {
	seen := make(map[string]bool, len(docs))
	keys := make([]any, 0, len(docs))
	for _, d := range docs {
		if err := checkSeed(d); err != nil {
			return nil, fmt.Errorf("couch: seed %s: %w", d.source(), err)
		}
		if seen[d.ID] {
			return nil, fmt.Errorf("couch: seed %s: %w: id %q given twice", d.source(), ErrInvalidDocument, d.ID)
		}
		seen[d.ID] = true
		keys = append(keys, d.ID)
	}
	if len(docs) == 0 {
		return []Installed{}, nil
	}

	res, err := db.AllDocs(ctx, ViewQuery{Keys: keys})
	if err != nil {
		return nil, fmt.Errorf("couch: seed: %w", err)
	}
	current := make(map[string]string, len(res.Rows)) // id → rev, tombstones included
	for _, row := range res.Rows {
		var v struct {
			Rev string `json:"rev"`
		}
		if row.Error != "" || row.ID == "" || json.Unmarshal(row.Value, &v) != nil {
			continue
		}
		current[row.ID] = v.Rev
	}

	out := make([]Installed, len(docs))
	var missing []any
	var missingAt []int
	for i, d := range docs {
		if rev, ok := current[d.ID]; ok {
			out[i] = Installed{ID: d.ID, Status: Unchanged, Rev: rev}
			continue
		}
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(d.Body, &obj) // checked by checkSeed
		obj["_id"], _ = json.Marshal(d.ID)
		missing = append(missing, obj)
		missingAt = append(missingAt, i)
	}
	if len(missing) == 0 {
		return out, nil
	}

	results, err := db.BulkDocs(ctx, missing)
	if err != nil {
		return nil, fmt.Errorf("couch: seed: %w", err)
	}
	if len(results) != len(missing) {
		return nil, fmt.Errorf("couch: seed: the server answered %d results for %d documents", len(results), len(missing))
	}
	// Match the results by id: the ids are unique, and pouchdb-server
	// does not keep the order when a validation function refuses some.
	byID := make(map[string]BulkResult, len(results))
	for _, r := range results {
		byID[r.ID] = r
	}
	var failed error
	for _, i := range missingAt {
		id := docs[i].ID
		r, ok := byID[id]
		if !ok {
			if failed == nil {
				failed = fmt.Errorf("couch: seed %s: the server did not answer for it", docs[i].source())
			}
			continue
		}
		err := r.Err()
		switch {
		case err == nil:
			out[i] = Installed{ID: id, Status: Created, Rev: r.Rev}
		case errors.Is(err, ErrConflict):
			// Created by someone else since we asked: it exists, so it
			// is left alone.
			rev, rerr := db.Rev(ctx, id)
			if rerr != nil {
				if failed == nil {
					failed = fmt.Errorf("couch: seed %s: %w", docs[i].source(), rerr)
				}
				continue
			}
			out[i] = Installed{ID: id, Status: Unchanged, Rev: rev}
		case failed == nil:
			failed = fmt.Errorf("couch: seed %s: %w", docs[i].source(), err)
		}
	}
	if failed != nil {
		// Report what was done: every document the server answered for
		// without an error.
		done := make([]Installed, 0, len(out))
		for _, r := range out {
			if r.Status != "" {
				done = append(done, r)
			}
		}
		return done, failed
	}
	return out, nil
}

// source names a seed document for messages: its file, or its id.
func (d SeedDoc) source() string {
	if d.Source != "" {
		return d.Source
	}
	return fmt.Sprintf("%q", d.ID)
}
