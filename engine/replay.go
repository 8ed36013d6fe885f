package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/accord-db/accord/resolve"
)

// ReplayReport is what [Replay] found: how many recorded decisions the
// other resolver took alike, and where it decided otherwise.
type ReplayReport struct {
	// Records counts the lines read; Malformed those that were not a
	// record with a valid conflict and, if any, an action of ABI v1 (or
	// were longer than a record can be).
	Records, Malformed int
	// Skipped counts the records not replayed: the recorded resolver
	// failed (there is no decision to compare with), or the record is
	// redacted or truncated and the resolver reads documents (see
	// resolve.Description.Needs; a resolver that does not describe
	// itself reads them all).
	Skipped int
	// Replayed counts the records asked of the resolver: Same + Changed.
	Replayed int
	// Same counts the decisions taken alike: the same action and, for a
	// merge, the same document. Delays and reasons may differ.
	Same int
	// Changed counts the decisions that differ: another action, another
	// merged document, or a failure of the resolver.
	Changed int
	// DelayChanged counts the retries among Same whose delay differs (a
	// backoff's jitter makes most of them differ).
	DelayChanged int
	// Changes counts the changed decisions by "recorded→replayed"
	// actions, such as "retry→fail"; "error" stands for a failure of
	// the resolver ("retry→error"), "merge→merge" for another document.
	Changes map[string]int
	// Differences are the first MaxReplayDifferences changed decisions,
	// in the recording's order.
	Differences []Difference
}

// MaxReplayDifferences caps ReplayReport.Differences; the counts go on.
const MaxReplayDifferences = 100

// Difference is one recorded decision that a replay decided otherwise.
// Its decisions' reasons are clipped to 64 bytes, and a merged document
// over 4 KiB is left out.
type Difference struct {
	// Line is the record's line in the recording, from 1.
	Line int `json:"line"`
	// ID and Attempt identify the conflict (ID clipped).
	ID      string `json:"id"`
	Attempt int    `json:"attempt"`
	// Recorded is the decision in the recording.
	Recorded resolve.Decision `json:"recorded"`
	// Replayed is the replaying resolver's decision; nil if it failed.
	Replayed *resolve.Decision `json:"replayed,omitempty"`
	// Error is the replaying resolver's failure, clipped.
	Error string `json:"error,omitempty"`
}

// Replay runs each conflict of a recording (JSON lines of [Record], as a
// [Recorder] writes them; several files are replayed in order with
// io.MultiReader, see [RecordingFiles]) through r and compares r's
// decisions with the recorded ones: the way to try a resolver on real
// traffic before switching to it. It returns the report once the
// recording ends, or an error if reading it fails or ctx is done.
//
// A line is read up to twice the size a recorder writes (2 MiB); a longer
// one is counted Malformed and skipped. Conflicts are asked in the
// recording's order, one at a time. For a resolver with a random source
// (a backoff's jitter), load it in a runtime with Config.Deterministic
// and a pinned Config.Rand for a replay that gives the same report twice.
func Replay(ctx context.Context, recording io.Reader, r resolve.Resolver) (ReplayReport, error) {
	rep := ReplayReport{Changes: map[string]int{}}
	readsDocs := true
	if d, ok := r.(resolve.Describer); ok {
		desc := d.Describe()
		readsDocs = desc.Needs == nil || desc.Has(resolve.NeedBase) || desc.Has(resolve.NeedMine) ||
			desc.Has(resolve.NeedTheirs) || desc.Has(resolve.NeedConflicts)
	}
	br := bufio.NewReaderSize(recording, 64<<10)
	for line := 1; ; line++ {
		raw, err := readLine(br, 2*maxRecordBytes)
		if errors.Is(err, io.EOF) && len(raw) == 0 {
			return rep, nil
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errLongLine) {
			return rep, fmt.Errorf("engine: replay: line %d: %w", line, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 && err == nil {
			line-- // a blank line is no record
			continue
		}
		rep.Records++
		var rec Record
		if errors.Is(err, errLongLine) || json.Unmarshal(raw, &rec) != nil || rec.Conflict == nil || rec.Conflict.Validate() != nil {
			rep.Malformed++
			continue
		}
		if rec.Decision != nil && !rec.Decision.Action.Valid() {
			rep.Malformed++ // an action of no ABI: nothing to compare with
			continue
		}
		if rec.Decision == nil || (readsDocs && (rec.Redacted || rec.Truncated)) {
			rep.Skipped++
			continue
		}
		if cerr := ctx.Err(); cerr != nil {
			return rep, fmt.Errorf("engine: replay: %w", cerr)
		}
		d, rerr := r.Resolve(ctx, rec.Conflict)
		if rerr != nil && ctx.Err() != nil {
			return rep, fmt.Errorf("engine: replay: line %d: %w", line, rerr)
		}
		rep.Replayed++
		want := *rec.Decision
		if rerr == nil && sameDecision(want, d) {
			rep.Same++
			if want.Action == resolve.ActionRetry && want.DelayMS != d.DelayMS {
				rep.DelayChanged++
			}
			continue
		}
		rep.Changed++
		diff := Difference{Line: line, ID: resolve.Clip(rec.Conflict.ID), Attempt: rec.Conflict.Attempt, Recorded: bounded(want)}
		got := "error"
		if rerr != nil {
			diff.Error = resolve.Clip(rerr.Error())
		} else {
			got = string(d.Action)
			b := bounded(d)
			diff.Replayed = &b
		}
		rep.Changes[string(want.Action)+"→"+got]++
		if len(rep.Differences) < MaxReplayDifferences {
			rep.Differences = append(rep.Differences, diff)
		}
	}
}

// maxDifferenceDoc bounds a merged document kept in a Difference.
const maxDifferenceDoc = 4 << 10

// bounded is d with its reason clipped and its document left out if it is
// over maxDifferenceDoc, so that a report stays small whatever the
// recording holds.
func bounded(d resolve.Decision) resolve.Decision {
	d.Reason = resolve.Clip(d.Reason)
	if len(d.Doc) > maxDifferenceDoc {
		d.Doc = nil
	}
	return d
}

// sameDecision reports whether two decisions take the same action and,
// for a merge, write the same document (compared as compact JSON).
func sameDecision(a, b resolve.Decision) bool {
	if a.Action != b.Action {
		return false
	}
	if a.Action != resolve.ActionMerge {
		return true
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a.Doc) != nil || json.Compact(&cb, b.Doc) != nil {
		return bytes.Equal(a.Doc, b.Doc)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

var errLongLine = errors.New("line too long")

// readLine reads one line of at most limit bytes. A longer line is read
// to its end, dropped, and reported with errLongLine.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	long := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !long {
			if len(line)+len(chunk) > limit {
				long, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			if long {
				return nil, errLongLine
			}
			return line, err
		}
		if long {
			return nil, errLongLine
		}
		return line, nil
	}
}
