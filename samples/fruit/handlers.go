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
// Every point read asks it, so it decodes into a struct when that is
// sure to read the same properties as the exact match (see
// structMatchesExactly), and into a map otherwise.
func hasFruitID(id string) func(json.RawMessage) bool {
	return func(raw json.RawMessage) bool {
		var typ, fruitID json.RawMessage
		if structMatchesExactly(raw) {
			var d struct {
				Type    json.RawMessage `json:"type"`
				FruitID json.RawMessage `json:"fruit_id"`
			}
			if json.Unmarshal(raw, &d) != nil {
				return false
			}
			typ, fruitID = d.Type, d.FruitID
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
func isJSONString(raw json.RawMessage, want string, pattern *regexp.Regexp) bool {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	if pattern != nil {
		return pattern.MatchString(s)
	}
	return s == want
}

// structMatchesExactly reports whether decoding doc into a struct with
// the properties "type" and "fruit_id" sets them from exactly those keys,
// as a map would: encoding/json also gives a struct field the value of a
// key that differs only in case ("TYPE", or "fruit_\u0049d" escaped, or
// with the Kelvin sign for a k), so doc must hold no escape and no
// non-ASCII byte, and no spelling of "type" or "fruit_id" other than the
// exact one in any case. The test is on all of doc's bytes, values
// included: a false "no" only costs the slower map.
func structMatchesExactly(doc []byte) bool {
	for _, c := range doc {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
	}
	return sameCount(doc, `"type"`) && sameCount(doc, `"fruit_id"`)
}

// sameCount reports whether word (lower case ASCII) occurs in doc as
// often spelled exactly as in any case.
func sameCount(doc []byte, word string) bool {
	return bytes.Count(doc, []byte(word)) == countFold(doc, word)
}

// countFold counts the occurrences of word (lower case ASCII) in the
// ASCII doc in any case.
func countFold(doc []byte, word string) int {
	n := 0
	for i := 0; i+len(word) <= len(doc); i++ {
		if doc[i] == word[0] && asciiEqualFold(doc[i:i+len(word)], word) {
			n++
		}
	}
	return n
}

func asciiEqualFold(b []byte, lower string) bool {
	for i := range len(lower) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
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
