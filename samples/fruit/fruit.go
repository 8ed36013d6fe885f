// Package fruit is the sample fruit service: the seed's RESTful fruit API
// on httprouter, over a CouchDB database, with every conflicting write
// decided by the resolver its configuration names.
//
//	svc, err := fruit.New(fruit.Options{DB: client.DB("accord_sample"), Resolver: resolver})
//	if err != nil { … }
//	http.ListenAndServe("127.0.0.1:8445", svc)
//
// The API, kept from the seed:
//
//	POST   /v1.0/fruits                      {"color":"red"} → 201 fruit
//	GET    /v1.0/fruits[?color=red]          → 200 [fruit, …]
//	GET    /v1.0/fruits/{fruit_id}           → 200 fruit | 404
//	PUT    /v1.0/fruits/{fruit_id}           {"color":"blue"} → 200 fruit | 404 | 409 | 503
//	DELETE /v1.0/fruits/{fruit_id}           → 200 | 404 | 409 | 503
//	POST   /v1.0/fruits/{fruit_id}/tastings  → 200 fruit (tastings+1) | 404 | 409 | 503
//	POST   /v1.0/fruits/{fruit_id}/pin       {"pin":"4821"} → 200 {"match": bool} (with Options.Sensitive)
//	GET    /v1.0/_health[?quick=false]       → 200 green | 503 red
//	GET    /v1.0/_metrics                    → 200 database and resolver metrics
//	GET    /metrics                          → Prometheus exposition
//
// A 200 means the change was written. A 409 means it was not: the
// resolver gave up on a conflict, or kept the other writer's change
// ("superseded"); the change was refused, never lost. A 503 means the
// resolver itself failed (timed out, trapped, answered garbage) or the
// database could not be reached; the document was left untouched. A 500
// "tampered" means the fruit failed its integrity check (with
// Options.Signer or Options.Sensitive) and is not served. Error
// bodies are {"error": name, "reason": short text}: the details go to the
// log, bounded, never to the client.
//
// Hostile clients: every POST, PUT and DELETE must carry Content-Type:
// application/json, body or not (415 otherwise), so that no other site can
// make a browser send one without a CORS preflight; every answer says
// X-Content-Type-Options: nosniff; links are paths, never built from the
// Host header; beyond [Options.MaxConcurrentRequests] requests in flight
// the answer is 503 "overloaded". [Config.HTTPServer] adds the read,
// write and idle timeouts.
package fruit

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"time"
)

// DocType is the versioned type of every fruit document.
const DocType = "fruit_v1.0"

// The views the service reads fruit through, installed by tools/dbinstall
// from package sampledb.
const (
	viewByFruitID = "fruit_by_fruit_id"
	viewByColor   = "fruit_by_color"
)

// ViewDesign is the design document every fruit lookup needs: a
// database without it is not installed.
const ViewDesign = viewByFruitID

// doc is a fruit as stored in CouchDB (the store keeps _id and _rev).
type doc struct {
	Type      string `json:"type"`
	FruitID   string `json:"fruit_id"`
	Color     string `json:"color"`
	Tastings  int    `json:"tastings"`
	CreatedOn string `json:"created_on"`
	UpdatedOn string `json:"updated_on"`
	// The sensitive properties (see SensitiveModel), only with
	// Options.Sensitive: the e-mail in plain text here, encrypted in the
	// database; the PIN as its bcrypt hash once stored.
	GrowerEmail string `json:"grower_email,omitempty"`
	GrowerPIN   string `json:"grower_pin,omitempty"`
}

// Fruit is a fruit as the API shows it.
type Fruit struct {
	FruitID   string `json:"fruit_id"`
	Color     string `json:"color"`
	Tastings  int    `json:"tastings"`
	CreatedOn string `json:"created_on"`
	UpdatedOn string `json:"updated_on"`
	// GrowerEmail is shown decrypted; the PIN is never shown, only
	// whether there is one.
	GrowerEmail string `json:"grower_email,omitempty"`
	HasPIN      bool   `json:"has_pin,omitempty"`
}

func (d doc) api() Fruit {
	return Fruit{FruitID: d.FruitID, Color: d.Color, Tastings: d.Tastings, CreatedOn: d.CreatedOn, UpdatedOn: d.UpdatedOn,
		GrowerEmail: d.GrowerEmail, HasPIN: d.GrowerPIN != ""}
}

// timeFormat is RFC 3339 with microseconds, as the seed wrote its
// timestamps.
const timeFormat = "2006-01-02T15:04:05.000000Z07:00"

func now() string { return time.Now().UTC().Format(timeFormat) }

// fruitIDPattern is what a fruit_id looks like: 32 lower-case hex digits.
var fruitIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// fruitTypePattern is the types the fruit_by_fruit_id view emits (see
// package sampledb).
var fruitTypePattern = regexp.MustCompile(`^fruit_v\d+\.\d+$`)

func newFruitID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
