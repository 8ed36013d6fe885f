// Package resolve is the shared vocabulary of Accord's conflict handling:
// the [Conflict] a writer ran into, the [Decision] a resolver takes about
// it, the [Resolver] interface both WebAssembly plugins and native Go
// strategies implement, and the ABI v1 wire format between a host and a
// plugin.
//
// It imports nothing outside the standard library because it is compiled
// into the plugins too: a plugin and the host agree on the contract by
// sharing this package.
//
//	d, err := resolve.Retry(resolve.RetryParams{MaxRetries: 3}).Resolve(ctx, &resolve.Conflict{
//		ABI: resolve.ABIVersion, Kind: resolve.KindWrite, Op: resolve.OpUpdate,
//		DB: "fruits", ID: "apple", Attempt: 1,
//	})
//	// d.Action == resolve.ActionRetry
//
// # Errors
//
// [DecodeDecision] and [Decision.Validate] return errors that match
// [ErrInvalidDecision] with [errors.Is]; a host must treat such a decision
// as a failure of the resolver and write nothing it returned.
//
// # In a plugin
//
// Built for a plugin (GOOS=wasip1), the package links only small parts of
// the standard library (strconv, strings, bytes, slices, errors, io,
// unicode/utf8): its JSON is its own, written and fuzzed to decode and
// encode what encoding/json does, and it does not use fmt, reflect,
// math/big, context, time or crypto/rand, which made half of a Go
// plugin's module (and a module's size is what loading it costs). So
// that it can, a guest's build leaves out what only a host uses —
// [Resolver], [Strategy] and the native strategies ([Basic], [Retry],
// [Backoff], [Merge]), [Decision.Delay] — and [RawJSON], encoding/json's
// RawMessage on a host, is there a []byte type of its own that encodes
// and decodes as RawMessage does. A plugin that decodes documents with
// encoding/json itself still can; it then links encoding/json.
package resolve

import "slices"

// ABIVersion is the version of the guest/host contract this package
// speaks. A plugin's accord_abi_version export must return it.
const ABIVersion = 1

// Kind says how a conflict arose.
type Kind string

const (
	// KindWrite is a 409 Conflict answered to a write: someone else
	// updated the document between our read and our write.
	KindWrite Kind = "write"
	// KindReplication is a document that carries _conflicts: concurrent
	// edits on two replicas met through replication.
	KindReplication Kind = "replication"
)

// Op is the write that ran into the conflict.
type Op string

// The operations a conflicting write can be.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Action is what a resolver decided to do about a conflict.
type Action string

const (
	// ActionRetry re-reads the document, re-applies the caller's change
	// and writes again, after Decision.DelayMS milliseconds.
	ActionRetry Action = "retry"
	// ActionMerge writes Decision.Doc on top of the current revision.
	ActionMerge Action = "merge"
	// ActionAccept keeps the current revision: the caller's change is
	// dropped and reported as superseded.
	ActionAccept Action = "accept"
	// ActionFail gives up: the write returns a conflict error carrying
	// Decision.Reason.
	ActionFail Action = "fail"
)

// Valid reports whether a is one of the four actions of ABI v1.
func (a Action) Valid() bool {
	switch a {
	case ActionRetry, ActionMerge, ActionAccept, ActionFail:
		return true
	}
	return false
}

// Conflict is what a host tells a resolver about one conflicting write.
// Documents are raw JSON; a document the resolver did not ask for (see
// [Description.Needs]) or that does not exist is nil and encodes as null.
type Conflict struct {
	// ABI is the contract version, always [ABIVersion].
	ABI int `json:"abi"`
	// Kind says whether this is a write (409) or a replication conflict.
	Kind Kind `json:"kind"`
	// Op is the write that conflicted.
	Op Op `json:"op"`
	// DB is the database name.
	DB string `json:"db"`
	// ID is the document id.
	ID string `json:"id"`
	// Attempt counts the conflicts this write has met so far, from 1.
	Attempt int `json:"attempt"`
	// ElapsedMS is the time since the write began, in milliseconds.
	ElapsedMS int64 `json:"elapsed_ms"`
	// Base is the revision the caller's change was applied to.
	Base RawJSON `json:"base"`
	// Mine is the document the caller tried to write.
	Mine RawJSON `json:"mine"`
	// Theirs is the current revision, the one that won.
	Theirs RawJSON `json:"theirs"`
	// Conflicts holds the losing revisions of a replication conflict.
	Conflicts []RawJSON `json:"conflicts"`
	// BaseMissing is true when the base revision was asked for but could
	// not be read (compacted away, say).
	BaseMissing bool `json:"base_missing"`
}

// Decision is a resolver's answer to a [Conflict].
type Decision struct {
	// Action is what to do.
	Action Action `json:"action"`
	// DelayMS is how long to wait before a retry, in milliseconds. It must
	// be zero for every other action.
	DelayMS int64 `json:"delay_ms,omitempty"`
	// Doc is the merged document, for ActionMerge only.
	Doc RawJSON `json:"doc,omitempty"`
	// Reason explains the decision, for logs and error messages.
	Reason string `json:"reason,omitempty"`
}

// Need names a part of a [Conflict] that costs the host work to fill in.
type Need string

// The parts of a conflict a resolver may ask for.
const (
	NeedBase      Need = "base"
	NeedMine      Need = "mine"
	NeedTheirs    Need = "theirs"
	NeedConflicts Need = "conflicts"
	// NeedDiff asks a host to send of base, mine, theirs and the
	// conflicting leaves only the fields where they differ, and to read a
	// merge's doc the same way: a field sent is set to the doc's value or
	// removed if the doc leaves it out, every other field is theirs'. A
	// resolver that asks for it must also work on whole documents, which
	// a host sends when one of them is absent or not an object. It is
	// not in AllNeeds: it changes what the documents hold.
	NeedDiff Need = "diff"
)

// AllNeeds is what a host assumes a resolver needs when it does not say.
var AllNeeds = []Need{NeedBase, NeedMine, NeedTheirs, NeedConflicts}

// Description is what a resolver says about itself (the accord_describe
// export of a plugin).
type Description struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// Needs lists the documents the resolver reads. A host leaves the
	// others out of the Conflict, which saves it reading them. Nil means
	// the resolver did not say, and gets everything; an empty, non-nil
	// list means it reads no documents.
	Needs []Need `json:"needs"`
	// Actions lists the actions the resolver may answer; nil means it
	// did not say (any). A host can then refuse up front what it could
	// only refuse per decision: a store refuses a resolver that may
	// merge but does not read theirs.
	Actions []Action `json:"actions,omitempty"`
}

// MayAnswer reports whether the resolver may answer a. A description
// that does not list its actions may answer any.
func (d Description) MayAnswer(a Action) bool {
	return d.Actions == nil || slices.Contains(d.Actions, a)
}

// Has reports whether the resolver asks for n. A description that
// does not list its needs asks for everything.
func (d Description) Has(n Need) bool {
	if d.Needs == nil {
		return true
	}
	return slices.Contains(d.Needs, n)
}

// Describer is implemented by resolvers that can say what they are and
// which documents they read.
type Describer interface {
	Describe() Description
}
