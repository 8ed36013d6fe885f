package couch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"strings"
)

// DesignDoc is a design document to install: its id and its content as a
// JSON object (without _id and _rev).
type DesignDoc struct {
	// ID is the document id, "_design/" and a name.
	ID string
	// Source names where the document came from, for messages.
	Source string
	// Body is the document's content.
	Body json.RawMessage
}

// ErrInvalidDocument is matched by the errors for a design or seed
// document that is not what it must be; they are returned before anything
// is written.
var ErrInvalidDocument = errors.New("invalid document")

// ErrDesignNotAllowed is matched by the errors for a design document that
// uses a feature its [DesignPolicy] does not allow, such as a
// validate_doc_update function. It matches [ErrInvalidDocument] too.
var ErrDesignNotAllowed = fmt.Errorf("%w: not allowed", ErrInvalidDocument)

// MaxDocFileBytes is the largest design or seed document file
// [LoadDesignDocs] and [LoadSeedDocs] read; a larger one is an
// [ErrInvalidDocument], and is not read past this size.
const MaxDocFileBytes = 1 << 20

// DesignPolicy says what [DesignPolicy.Load] accepts in a design document
// beyond JavaScript views. The zero value accepts only "views", "options"
// and "language": "javascript"; it refuses a validate_doc_update function
// (it runs on every write to the database and can refuse them all), any
// other language (an "erlang" design document runs inside the server,
// unsandboxed), other functions (filters, updates, shows, lists,
// rewrites) and any member starting with "_" but _id.
type DesignPolicy struct {
	// AllowValidateDocUpdate accepts a validate_doc_update function.
	AllowValidateDocUpdate bool
	// AllowLanguages lists the languages accepted besides javascript,
	// such as "erlang".
	AllowLanguages []string
	// AllowFunctions accepts filters, updates, shows, lists and rewrites.
	AllowFunctions bool
}

// LoadDesignDocs reads every *.json file in dir of fsys as a design
// document named after the file: fruit_by_color.json becomes
// _design/fruit_by_color. Each must be a JSON object with a "views" object
// whose every view has a "map" string (and, if it has one, a "reduce"
// string). The first file that is not fails the whole load, with the
// file's name and, for bad JSON, the line and column.
//
// Files are read as [DesignPolicy.Load] with the zero policy reads them:
// regular files only (not symlinks or devices), each at most
// [MaxDocFileBytes].
func LoadDesignDocs(fsys fs.FS, dir string) ([]DesignDoc, error) {
	return DesignPolicy{}.Load(fsys, dir)
}

// Load is [LoadDesignDocs] with p deciding what a design document may
// hold beyond views; a document that holds more fails the load with an
// error matching [ErrDesignNotAllowed].
func (p DesignPolicy) Load(fsys fs.FS, dir string) ([]DesignDoc, error) {
	files, err := jsonFiles(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("couch: load design docs: %w", err)
	}
	docs := make([]DesignDoc, 0, len(files))
	for _, name := range files {
		file := path.Join(dir, name)
		obj, body, err := readObject(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("couch: load design docs: %w", err)
		}
		if err := p.check(obj); err != nil {
			return nil, fmt.Errorf("couch: load design docs: %s: %w", file, err)
		}
		if err := checkDesign(obj); err != nil {
			return nil, fmt.Errorf("couch: load design docs: %s: %w: %w", file, ErrInvalidDocument, err)
		}
		if _, ok := obj["_rev"]; ok {
			return nil, fmt.Errorf("couch: load design docs: %s: %w: a design document file must not carry _rev (the installer finds the current one)", file, ErrInvalidDocument)
		}
		id := "_design/" + strings.TrimSuffix(name, ".json")
		if raw, ok := obj["_id"]; ok {
			var given string
			if json.Unmarshal(raw, &given) != nil || given != id {
				return nil, fmt.Errorf("couch: load design docs: %s: %w: _id %s does not match the file name (want %q)", file, ErrInvalidDocument, raw, id)
			}
		}
		docs = append(docs, DesignDoc{ID: id, Source: file, Body: body})
	}
	return docs, nil
}

// jsonFiles lists the *.json files of dir, sorted. A *.json entry that
// is neither a folder nor a regular file (a symlink, a device, a pipe)
// is an error: a symlink could make the load read a file outside dir.
func jsonFiles(fsys fs.FS, dir string) ([]string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("%s: %w: not a regular file (%v); symlinks and devices are not read",
				path.Join(dir, e.Name()), ErrInvalidDocument, e.Type())
		}
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names, nil
}

// readObject reads file as one JSON object, and returns it both parsed
// one level deep and compacted.
func readObject(fsys fs.FS, file string) (map[string]json.RawMessage, json.RawMessage, error) {
	data, err := readRegular(fsys, file)
	if err != nil {
		return nil, nil, err
	}
	var obj map[string]json.RawMessage
	if err := decodeOneJSON(data, &obj); err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %s", file, ErrInvalidDocument, describeJSONError(data, err))
	}
	if obj == nil {
		return nil, nil, fmt.Errorf("%s: %w: null is not a JSON object", file, ErrInvalidDocument)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	return obj, compact.Bytes(), nil
}

// readRegular reads file, which must be a regular file of at most
// MaxDocFileBytes. It reads no more than that, whatever the file is.
func readRegular(fsys fs.FS, file string) ([]byte, error) {
	f, err := fsys.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file (%v)", file, ErrInvalidDocument, st.Mode().Type())
	}
	if st.Size() > MaxDocFileBytes {
		return nil, fmt.Errorf("%s: %w: %d bytes, larger than %d", file, ErrInvalidDocument, st.Size(), MaxDocFileBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxDocFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxDocFileBytes {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", file, ErrInvalidDocument, MaxDocFileBytes)
	}
	return data, nil
}

// decodeOneJSON decodes exactly one JSON value; anything but white space
// after it is an error.
func decodeOneJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if off := dec.InputOffset(); len(bytes.TrimSpace(data[off:])) > 0 {
		return trailingDataError{offset: off + 1}
	}
	return nil
}

type trailingDataError struct{ offset int64 }

func (e trailingDataError) Error() string { return "trailing data after the JSON value" }

// describeJSONError says what is wrong with data, with a line and column
// where the error has a position.
func describeJSONError(data []byte, err error) string {
	var offset int64 = -1
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		offset = se.Offset
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		offset = te.Offset
	}
	if tr, ok := errors.AsType[trailingDataError](err); ok {
		offset = tr.offset
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Sprintf("unexpected end of JSON input at %s", position(data, int64(len(data))))
	}
	if offset < 0 {
		return err.Error()
	}
	return fmt.Sprintf("%v at %s", err, position(data, offset))
}

// position turns a byte offset into "line L, column C" (1-based).
func position(data []byte, offset int64) string {
	offset = min(max(offset, 1), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := offset - int64(bytes.LastIndexByte(before, '\n')+1)
	return fmt.Sprintf("line %d, column %d", line, col)
}

// check refuses what p does not allow in a design document.
func (p DesignPolicy) check(obj map[string]json.RawMessage) error {
	for k := range obj {
		switch k {
		case "_id", "_rev", "views", "options", "language", "autoupdate":
		case "validate_doc_update":
			if !p.AllowValidateDocUpdate {
				return fmt.Errorf("%w: a validate_doc_update function runs on every write and can refuse them all; allow it on purpose", ErrDesignNotAllowed)
			}
		case "filters", "updates", "shows", "lists", "rewrites":
			if !p.AllowFunctions {
				return fmt.Errorf("%w: %q functions; allow them on purpose", ErrDesignNotAllowed, k)
			}
		default:
			if strings.HasPrefix(k, "_") {
				return fmt.Errorf("%w: member %q: only _id may start with _", ErrDesignNotAllowed, clipName(k))
			}
		}
	}
	if raw, ok := obj["language"]; ok {
		var lang string
		if err := json.Unmarshal(raw, &lang); err != nil {
			return fmt.Errorf("%w: \"language\" must be a string", ErrInvalidDocument)
		}
		if lang != "javascript" && !slices.Contains(p.AllowLanguages, lang) {
			return fmt.Errorf("%w: language %q: only javascript unless allowed on purpose", ErrDesignNotAllowed, clipName(lang))
		}
	}
	return nil
}

// clipName bounds a name quoted from a file in an error.
func clipName(s string) string { return bounded(s, 64) }

// checkDesign checks a design document's views.
func checkDesign(obj map[string]json.RawMessage) error {
	raw, ok := obj["views"]
	if !ok {
		return errors.New(`no "views"`)
	}
	var views map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &views); err != nil || views == nil {
		return errors.New(`"views" must be an object of view objects`)
	}
	if len(views) == 0 {
		return errors.New(`"views" is empty`)
	}
	for name, v := range views {
		var mapFn string
		if err := json.Unmarshal(v["map"], &mapFn); err != nil || strings.TrimSpace(mapFn) == "" {
			return fmt.Errorf(`view %q: "map" must be a non-empty string`, name)
		}
		if r, ok := v["reduce"]; ok {
			var reduce string
			if err := json.Unmarshal(r, &reduce); err != nil {
				return fmt.Errorf(`view %q: "reduce" must be a string`, name)
			}
		}
	}
	return nil
}

// InstallStatus says what installing a document did.
type InstallStatus string

// What installing a document can do.
const (
	Created   InstallStatus = "created"
	Updated   InstallStatus = "updated"
	Unchanged InstallStatus = "unchanged"
)

// Installed is the outcome of installing one document.
type Installed struct {
	ID     string        `json:"id"`
	Status InstallStatus `json:"status"`
	Rev    string        `json:"rev"`
}

// InstallDesignDocs makes the database's design documents match docs:
// missing ones are created, ones whose content differs are updated (on
// their current revision), equal ones are left alone. Running it twice
// changes nothing the second time. It stops at the first failure and
// returns what it did until then.
func (db *DB) InstallDesignDocs(ctx context.Context, docs []DesignDoc) ([]Installed, error) {
	out := make([]Installed, 0, len(docs))
	for _, d := range docs {
		res, err := db.install(ctx, d.ID, d.Body)
		if err != nil {
			return out, fmt.Errorf("couch: install design docs: %w", err)
		}
		out = append(out, res)
	}
	return out, nil
}

// install writes body as the document id unless the current revision
// already has that content. If another installer creates or changes the
// document meanwhile, it compares again with what that one wrote.
func (db *DB) install(ctx context.Context, id string, body json.RawMessage) (Installed, error) {
	want, err := contentOf(body)
	if err != nil {
		return Installed{}, fmt.Errorf("%s: %w", id, err)
	}
	delete(want, "_rev")
	for range 3 {
		res, err := db.installOnce(ctx, id, want)
		if !errors.Is(err, ErrConflict) {
			return res, err
		}
	}
	return db.installOnce(ctx, id, want)
}

func (db *DB) installOnce(ctx context.Context, id string, want map[string]any) (Installed, error) {
	var current json.RawMessage
	err := db.Get(ctx, id, &current)
	switch {
	case errors.Is(err, ErrNotFound):
		rev, err := db.Put(ctx, id, want)
		if err != nil {
			return Installed{}, err
		}
		return Installed{ID: id, Status: Created, Rev: rev}, nil
	case err != nil:
		return Installed{}, err
	}
	have, err := contentOf(current)
	if err != nil {
		return Installed{}, fmt.Errorf("%s on the server: %w", id, err)
	}
	rev, _ := have["_rev"].(string)
	delete(have, "_rev")
	if reflect.DeepEqual(have, want) {
		return Installed{ID: id, Status: Unchanged, Rev: rev}, nil
	}
	update := make(map[string]any, len(want)+1)
	for k, v := range want {
		update[k] = v
	}
	update["_rev"] = rev
	newRev, err := db.Put(ctx, id, update)
	if err != nil {
		return Installed{}, err
	}
	return Installed{ID: id, Status: Updated, Rev: newRev}, nil
}

// contentOf decodes a document for comparison, without its _id (the
// server adds it) and keeping _rev.
func contentOf(raw json.RawMessage) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidDocument)
	}
	delete(m, "_id")
	return m, nil
}
