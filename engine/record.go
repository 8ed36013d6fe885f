package engine

import (
	"time"

	"github.com/accord-db/accord/resolve"
)

// Record is one line of a flight recording (JSON lines): a conflict a
// resolver was asked about and what it answered. A host writes them to
// try another resolver on real traffic later: replaying a recording asks
// the other resolver about each Conflict and compares its answer with
// Decision.
type Record struct {
	// Time is when the resolver was asked.
	Time time.Time `json:"time"`
	// Resolver is the name the resolver describes itself with.
	Resolver string `json:"resolver"`
	// Module is the hex SHA-256 of the resolver's WebAssembly module, or
	// empty for a native resolver.
	Module string `json:"module,omitempty"`
	// Conflict is what the resolver was asked, as the host sent it.
	Conflict *resolve.Conflict `json:"conflict"`
	// Decision is its answer; nil when Error is set.
	Decision *resolve.Decision `json:"decision,omitempty"`
	// Error is the resolver's failure (clipped), when it failed.
	Error string `json:"error,omitempty"`
	// TookUS is how long the decision took, in microseconds.
	TookUS int64 `json:"took_us"`
	// Redacted is true when the documents of Conflict were replaced by
	// their field names, so that a recording holds no values.
	Redacted bool `json:"redacted,omitempty"`
	// Truncated is true when the record, redacted, was still over the
	// recorder's bound of a record (1 MiB): its documents were left out.
	Truncated bool `json:"truncated,omitempty"`
}
