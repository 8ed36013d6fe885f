package engine

import (
	"errors"

	"github.com/accord-db/accord/plugins"
)

// The errors a resolver fails with. Each failure of a plugin wraps one of
// them (with a "engine: NAME: ..." prefix), so callers match them with
// [errors.Is]. After a call fails with any of them the instance that
// served it is discarded; the resolver goes on serving with a fresh one.
// A call the caller gave up on (its context cancelled, or its deadline
// passed while it waited for an instance) wraps the context's error
// instead, and a conflict that is not valid ABI v1 wraps
// resolve.ErrInvalidConflict; neither costs an instance.
var (
	// ErrTimeout: a call (or starting an instance) ran past its time
	// limit, an infinite loop included. It also matches
	// context.DeadlineExceeded.
	ErrTimeout = errors.New("call timed out")
	// ErrMemoryLimit: the guest tried to grow its memory past
	// Config.MemoryLimitMiB, or declares a minimum memory above it
	// (refused at load).
	ErrMemoryLimit = errors.New("memory limit exceeded")
	// ErrTrap: the guest trapped (unreachable, out-of-bounds access,
	// stack overflow...), panicked or exited.
	ErrTrap = errors.New("guest trapped")
	// ErrBadOutput: the guest answered something the ABI does not allow:
	// a pointer or length outside its memory, bad JSON, or a decision
	// that fails [resolve.Decision.Validate]. Errors about a decision also
	// match [resolve.ErrInvalidDecision].
	ErrBadOutput = errors.New("bad output")
	// ErrConfigure: the plugin refused its parameters.
	ErrConfigure = errors.New("plugin refused its parameters")
	// ErrMissingExport: the module lacks an ABI v1 export (or its memory),
	// or exports one with the wrong signature. Refused at load.
	ErrMissingExport = errors.New("missing or mistyped export")
	// ErrABIVersion: accord_abi_version returned a version this host
	// does not speak. Refused at load.
	ErrABIVersion = errors.New("unsupported ABI version")
	// ErrInvalidModule: the bytes are not a WebAssembly module the engine
	// can run (bad binary, imports other than WASI preview 1).
	ErrInvalidModule = errors.New("invalid module")
	// ErrHashMismatch: the module's SHA-256 is not the pinned one.
	ErrHashMismatch = errors.New("sha256 mismatch")
	// ErrUnknownBuiltin: no built-in plugin has that name. It is
	// [plugins.ErrUnknown].
	ErrUnknownBuiltin = plugins.ErrUnknown
	// ErrUnhealthy: the plugin failed several times in a row (calls or
	// starts of instances), so the resolver starts no instance until its
	// back-off ends; a call that finds no idle instance fails at once.
	// See [Resolver.Health].
	ErrUnhealthy = errors.New("plugin unhealthy")
	// ErrClosed: the resolver or its runtime is closed.
	ErrClosed = errors.New("closed")
)
