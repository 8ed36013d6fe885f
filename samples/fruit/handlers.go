package fruit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/julienschmidt/httprouter"

	"github.com/accord-db/accord/couch"
)

// fruitBody is a POST or PUT body; the grower's properties only with
// [Options.Sensitive].
type fruitBody struct {
	Color       string  `json:"color"`
	GrowerEmail *string `json:"grower_email"`
	GrowerPIN   *string `json:"grower_pin"`
}

// readBody reads and validates a fruit request body.
func (s *Service) readBody(r *http.Request, dst *fruitBody) error {
	schema := bodySchema
	if s.sensitive != nil {
		schema = sensitiveSchema
	}
	return readJSON(r, schema, dst)
}

// setGrower sets the grower's properties the body gives.
func (b fruitBody) setGrower(d *doc) {
	if b.GrowerEmail != nil {
		d.GrowerEmail = *b.GrowerEmail
	}
	if b.GrowerPIN != nil {
		d.GrowerPIN = *b.GrowerPIN // the store hashes it
	}
}

func (s *Service) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.timeout)
}

// byFruitID finds a fruit by its fruit_id: by document id first, as the
// service writes every fruit under _id = fruit_id (one document GET,
// what a raw point read costs), and through the fruit_by_fruit_id view
// for a fruit installed under another id (see the README).
func byFruitID(id string) couch.Locator {
	return couch.ByIDOr(id, hasFruitID(id), couch.ByView(viewByFruitID, viewByFruitID, id))
}

// hasFruitID accepts a stored document that the fruit_by_fruit_id view
// would find under id: a fruit (its type) with that fruit_id. The keys
// are matched exactly, as the view's JavaScript reads them (a struct
// would also take "Fruit_ID").
//
// Every point read asks it, so a valid document without a backslash
// (no escape, so every string ends at its next quote) is walked by
// topMembers rather than decoded into a map; the walk is fuzzed against
// the map (FuzzHasFruitID).
func hasFruitID(id string) func(json.RawMessage) bool {
	return func(raw json.RawMessage) bool {
		var typ, fruitID []byte
		if bytes.IndexByte(raw, '\\') < 0 && json.Valid(raw) {
			var ok bool
			if typ, fruitID, ok = topMembers(raw); !ok {
				return false
			}
		} else {
			var d map[string]json.RawMessage
			if json.Unmarshal(raw, &d) != nil {
				return false
			}
			typ, fruitID = d["type"], d["fruit_id"]
		}
		return isJSONString(fruitID, id, nil) && isJSONString(typ, "", fruitTypePattern)
	}
}

// isJSONString reports whether raw is a JSON string equal to want, or,
// with a pattern, one that matches it.
func isJSONString(raw []byte, want string, pattern *regexp.Regexp) bool {
	var s []byte
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		// Without an escape the string is its bytes (an invalid UTF-8
		// byte, which decoding would make U+FFFD, neither equals a hex
		// digit nor matches differently: regexp reads it as U+FFFD too).
		s = raw[1 : n-1]
	} else {
		var str string
		if json.Unmarshal(raw, &str) != nil {
			return false
		}
		s = []byte(str)
	}
	if pattern != nil {
		return pattern.Match(s)
	}
	return string(s) == want
}

// topMembers returns the values of the last "type" and "fruit_id"
// members of doc, as a map would hold them (nil if absent), and false if
// doc is not an object. doc must be valid JSON without a backslash.
func topMembers(doc []byte) (typ, fruitID []byte, ok bool) {
	i := skipSpace(doc, 0)
	if doc[i] != '{' {
		return nil, nil, false
	}
	i = skipSpace(doc, i+1)
	if doc[i] == '}' {
		return nil, nil, true
	}
	for {
		end := i + 1 + bytes.IndexByte(doc[i+1:], '"') // the key's closing quote
		key := doc[i+1 : end]
		i = skipSpace(doc, skipSpace(doc, end+1)+1) // past the colon
		next := skipValue(doc, i)
		switch string(key) {
		case "type":
			typ = doc[i:next]
		case "fruit_id":
			fruitID = doc[i:next]
		}
		i = skipSpace(doc, next)
		if doc[i] == '}' {
			return typ, fruitID, true
		}
		i = skipSpace(doc, i+1) // past the comma
	}
}

// skipSpace returns the index of the first byte from i on that is not
// JSON white space.
func skipSpace(doc []byte, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the value that starts at i, in
// valid JSON without a backslash.
func skipValue(doc []byte, i int) int {
	switch doc[i] {
	case '"':
		return i + 2 + bytes.IndexByte(doc[i+1:], '"')
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch doc[i] {
			case '"':
				i += 1 + bytes.IndexByte(doc[i+1:], '"')
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(doc) && doc[i] != ',' && doc[i] != '}' && doc[i] != ']' &&
		doc[i] != ' ' && doc[i] != '\t' && doc[i] != '\n' && doc[i] != '\r' {
		i++
	}
	return i
}

func (s *Service) createFruit(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var body fruitBody
	if err := s.readBody(r, &body); err != nil {
		s.writeFailure(w, r, "", err)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	ts := now()
	d := doc{Type: DocType, FruitID: newFruitID(), Color: body.Color, CreatedOn: ts, UpdatedOn: ts}
	body.setGrower(&d)
	// Under _id = fruit_id, so that a read by fruit_id is one document
	// GET (see byFruitID).
	if _, err := s.store.CreateWithID(ctx, d.FruitID, d); err != nil {
		s.writeFailure(w, r, d.FruitID, err)
		return
	}
	w.Header().Set("Location", "/v1.0/fruits/"+d.FruitID)
	writeJSON(w, http.StatusCreated, d.api())
}

func (s *Service) listFruits(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	q := r.URL.Query()
	for k := range q {
		if k != "color" {
			writeError(w, http.StatusBadRequest, "bad_query", fmt.Sprintf("unknown query parameter %q; the only one is color", k))
			return
		}
	}
	view, query := viewByFruitID, couch.ViewQuery{IncludeDocs: true}
	if colors, ok := q["color"]; ok {
		if len(colors) != 1 || colors[0] == "" || utf8.RuneCountInString(colors[0]) > 64 {
			writeError(w, http.StatusBadRequest, "bad_query", "color must be given once, 1 to 64 characters")
			return
		}
		view, query.Key = viewByColor, colors[0]
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	// Through the store: a fruit that fails verification is left out
	// (and raises the alarm).
	docs, err := s.store.Query(ctx, view, view, query)
	if err != nil {
		s.writeFailure(w, r, "", err)
		return
	}
	fruits := make([]Fruit, 0, len(docs))
	for _, d := range docs {
		fruits = append(fruits, d.Value.api())
	}
	slices.SortFunc(fruits, func(a, b Fruit) int {
		if c := compare(a.CreatedOn, b.CreatedOn); c != 0 {
			return c
		}
		return compare(a.FruitID, b.FruitID)
	})
	writeJSON(w, http.StatusOK, fruits)
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fruitID returns the request's fruit_id, or answers 404 without
// touching the database when it is not 32 hex digits.
func fruitID(w http.ResponseWriter, ps httprouter.Params) (string, bool) {
	id := ps.ByName("fruit_id")
	if !fruitIDPattern.MatchString(id) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no fruit %q: a fruit_id is 32 lower-case hex digits", clip(id, maxEchoBytes)))
		return "", false
	}
	return id, true
}

func (s *Service) getFruit(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	id, ok := fruitID(w, ps)
	if !ok {
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	d, err := s.store.Get(ctx, byFruitID(id))
	if err != nil {
		s.writeFailure(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, d.Value.api())
}

func (s *Service) updateFruit(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	id, ok := fruitID(w, ps)
	if !ok {
		return
	}
	var body fruitBody
	if err := s.readBody(r, &body); err != nil {
		s.writeFailure(w, r, id, err)
		return
	}
	s.update(w, r, id, func(d *doc) error {
		d.Color = body.Color
		body.setGrower(d)
		d.UpdatedOn = now()
		return nil
	})
}

func (s *Service) tasteFruit(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	id, ok := fruitID(w, ps)
	if !ok {
		return
	}
	if r.ContentLength > 0 {
		writeError(w, http.StatusBadRequest, "unexpected_body", "a tasting takes no request body")
		return
	}
	s.update(w, r, id, func(d *doc) error {
		d.Tastings++
		d.UpdatedOn = now()
		return nil
	})
}

// update runs change through the conflict loop (coalesced with the
// fruit's other changes in flight, with [Options.Coalesce]) and answers
// with the fruit as stored.
func (s *Service) update(w http.ResponseWriter, r *http.Request, id string, change func(*doc) error) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	var res couch.Result[doc]
	var err error
	if s.coalesce != nil {
		res, err = s.coalesce.update(ctx, id, change)
	} else {
		res, err = s.store.Update(ctx, byFruitID(id), change)
	}
	if err != nil {
		s.writeFailure(w, r, id, err)
		return
	}
	if res.Status == couch.StatusSuperseded {
		writeSuperseded(w, id, "this one was not applied")
		return
	}
	writeJSON(w, http.StatusOK, res.Value.api())
}

func (s *Service) deleteFruit(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	id, ok := fruitID(w, ps)
	if !ok {
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	res, err := s.store.Delete(ctx, byFruitID(id), nil)
	if err != nil {
		s.writeFailure(w, r, id, err)
		return
	}
	if res.Status != couch.StatusWritten {
		writeSuperseded(w, id, "it was not deleted")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// writeSuperseded answers a change the resolver dropped in favour of a
// concurrent one (accept): 409, since it was not written and must not be
// acknowledged.
func writeSuperseded(w http.ResponseWriter, id, what string) {
	writeError(w, http.StatusConflict, "superseded",
		fmt.Sprintf("fruit %s changed under us and the resolver kept the other change; %s", id, what))
}
