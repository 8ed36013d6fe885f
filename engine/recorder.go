package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accord-db/accord/resolve"
)

// RecorderConfig configures a [Recorder]. Path is required; every other
// field documents its default.
type RecorderConfig struct {
	// Path is the recording's file, JSON lines of [Record]. It is
	// created 0600 if missing and appended to if not. When it reaches
	// MaxBytes it is renamed Path.1 (Path.1 to Path.2, and so on) and a
	// new one is started. Required.
	Path string
	// MaxBytes is the size of a file past which it is rotated. Default
	// 64 MiB.
	MaxBytes int64
	// MaxFiles is how many rotated files (Path.1 ... Path.MaxFiles) are
	// kept besides Path; older ones are deleted. Default 3. The
	// recording therefore takes at most (MaxFiles+1) * (MaxBytes + 1 MiB)
	// on disk.
	MaxFiles int
	// Redact replaces every document of a recorded conflict, and a merge
	// decision's document, by its field names: an object with the same
	// top-level fields, each null but _id, _rev and _deleted. The record
	// says Redacted; it holds no values of the documents. Default false.
	Redact bool
	// Logger receives the recorder's notices (a write that failed, once
	// until one succeeds again). Default slog.Default().
	Logger *slog.Logger
}

// The defaults of RecorderConfig.
const (
	DefaultRecordMaxBytes = 64 << 20
	DefaultRecordMaxFiles = 3
)

// maxRecordBytes bounds one record. A larger one (large documents) is
// written redacted; if it is still too large, without its documents and
// marked Truncated.
const maxRecordBytes = 1 << 20

// Recorder is a flight recorder: it writes a [Record] of every conflict a
// resolver decides, as JSON lines in a size-bounded set of rotated files,
// for [Replay] to run through another resolver later. Give it to a
// runtime with [Config.Recorder]. It is safe for concurrent use. A failure
// to write is logged and counted ([RecorderStats.Dropped]), never passed
// on to the decision.
type Recorder struct {
	cfg RecorderConfig

	mu     sync.Mutex
	f      *os.File
	size   int64
	closed bool
	failed bool // the last write failed (logged once)

	records, dropped, rotations atomic.Uint64
}

// NewRecorder opens (or creates) cfg.Path for appending.
func NewRecorder(cfg RecorderConfig) (*Recorder, error) {
	switch {
	case cfg.Path == "":
		return nil, errors.New("engine: recorder: no Path")
	case cfg.MaxBytes < 0 || cfg.MaxFiles < 0:
		return nil, fmt.Errorf("engine: recorder: MaxBytes %d or MaxFiles %d is negative", cfg.MaxBytes, cfg.MaxFiles)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultRecordMaxBytes
	}
	if cfg.MaxFiles == 0 {
		cfg.MaxFiles = DefaultRecordMaxFiles
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rec := &Recorder{cfg: cfg}
	if err := rec.open(); err != nil {
		return nil, fmt.Errorf("engine: recorder: %w", err)
	}
	return rec, nil
}

func (rec *Recorder) open() error {
	f, err := os.OpenFile(rec.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return fmt.Errorf("%s is not a regular file", rec.cfg.Path)
	}
	rec.f, rec.size = f, fi.Size()
	return nil
}

// RecorderStats counts what a recorder did.
type RecorderStats struct {
	// Records counts the records written, Dropped those that could not
	// be, Rotations the files rotated.
	Records, Dropped, Rotations uint64
}

// Stats returns the recorder's counters.
func (rec *Recorder) Stats() RecorderStats {
	return RecorderStats{Records: rec.records.Load(), Dropped: rec.dropped.Load(), Rotations: rec.rotations.Load()}
}

// record builds and writes the record of one call.
func (rec *Recorder) record(resolver, module string, began time.Time, took time.Duration, c *resolve.Conflict, d resolve.Decision, err error) {
	r := Record{Time: began.UTC(), Resolver: resolver, Module: module, Conflict: c, TookUS: took.Microseconds()}
	if err != nil {
		r.Error = resolve.Clip(err.Error())
	} else {
		r.Decision = &d
	}
	_ = rec.Add(r)
}

// Add writes r as one line, redacted if the recorder redacts, and rotates
// the file when it is full. It returns the write's error, which is also
// logged and counted.
func (rec *Recorder) Add(r Record) error {
	line, err := rec.encode(r)
	if err == nil {
		err = rec.write(line)
	}
	if err != nil {
		rec.dropped.Add(1)
		rec.mu.Lock()
		first := !rec.failed
		rec.failed = true
		rec.mu.Unlock()
		if first && !errors.Is(err, ErrClosed) {
			rec.cfg.Logger.Error("engine: recorder: a record was dropped (logged once until a write succeeds)", "err", err)
		}
		return fmt.Errorf("engine: recorder: %w", err)
	}
	rec.records.Add(1)
	return nil
}

// encode marshals r as a line, within maxRecordBytes.
func (rec *Recorder) encode(r Record) ([]byte, error) {
	if rec.cfg.Redact {
		r = redactRecord(r)
	}
	line, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(line) >= maxRecordBytes && !r.Redacted {
		r = redactRecord(r)
		if line, err = json.Marshal(r); err != nil {
			return nil, err
		}
	}
	if len(line) >= maxRecordBytes && r.Conflict != nil {
		c := *r.Conflict
		c.Base, c.Mine, c.Theirs, c.Conflicts = nil, nil, nil, nil
		r.Conflict, r.Truncated = &c, true
		if r.Decision != nil && r.Decision.Doc != nil {
			d := *r.Decision
			d.Doc = nil
			r.Decision = &d
		}
		if line, err = json.Marshal(r); err != nil {
			return nil, err
		}
	}
	return append(line, '\n'), nil
}

func (rec *Recorder) write(line []byte) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.closed {
		return ErrClosed
	}
	if rec.size > 0 && rec.size+int64(len(line)) > rec.cfg.MaxBytes {
		if err := rec.rotate(); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	if rec.f == nil {
		if err := rec.open(); err != nil {
			return err
		}
	}
	n, err := rec.f.Write(line)
	rec.size += int64(n)
	if err != nil {
		return err
	}
	rec.failed = false
	return nil
}

// rotate closes the current file and shifts the files up by one:
// Path.MaxFiles-1 to Path.MaxFiles, ..., Path to Path.1. The caller holds
// rec.mu; the next write opens a new Path.
func (rec *Recorder) rotate() error {
	if rec.f != nil {
		err := rec.f.Close()
		rec.f = nil
		if err != nil {
			return err
		}
	}
	p := rec.cfg.Path
	for i := rec.cfg.MaxFiles - 1; i >= 1; i-- {
		if err := os.Rename(p+"."+strconv.Itoa(i), p+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(p, p+".1"); err != nil {
		return err
	}
	rec.size = 0
	rec.rotations.Add(1)
	return nil
}

// Close closes the recording's file; later records are dropped.
func (rec *Recorder) Close() error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.closed {
		return nil
	}
	rec.closed = true
	if rec.f == nil {
		return nil
	}
	if err := rec.f.Close(); err != nil {
		return fmt.Errorf("engine: recorder: %w", err)
	}
	return nil
}

// RecordingFiles returns the files of the recording at path that exist,
// oldest first (Path.N, ..., Path.1, Path), the order to replay them in:
//
//	var rs []io.Reader
//	for _, name := range engine.RecordingFiles(path) {
//		f, err := os.Open(name)
//		...
//		rs = append(rs, f)
//	}
//	report, err := engine.Replay(ctx, io.MultiReader(rs...), resolver)
func RecordingFiles(path string) []string {
	var files []string
	for i := 1; ; i++ {
		name := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(name); err != nil {
			break
		}
		files = append(files, name)
	}
	for i, j := 0, len(files)-1; i < j; i, j = i+1, j-1 {
		files[i], files[j] = files[j], files[i]
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	}
	return files
}

// redactRecord returns r with every document replaced by its field names
// (see RecorderConfig.Redact).
func redactRecord(r Record) Record {
	if r.Conflict != nil {
		c := *r.Conflict
		c.Base, c.Mine, c.Theirs = redactDoc(c.Base), redactDoc(c.Mine), redactDoc(c.Theirs)
		if c.Conflicts != nil {
			docs := make([]json.RawMessage, len(c.Conflicts))
			for i, d := range c.Conflicts {
				docs[i] = redactDoc(d)
			}
			c.Conflicts = docs
		}
		r.Conflict = &c
	}
	if r.Decision != nil && r.Decision.Doc != nil {
		d := *r.Decision
		d.Doc = redactDoc(d.Doc)
		r.Decision = &d
	}
	r.Redacted = true
	return r
}

// redactDoc returns a document's field names as an object whose values
// are null, but _id, _rev and _deleted, which are kept: they are the
// document's identity, not its content. A document that is not an
// object is replaced by null.
func redactDoc(doc json.RawMessage) json.RawMessage {
	if doc == nil {
		return nil
	}
	trimmed := bytes.TrimSpace(doc)
	if bytes.Equal(trimmed, []byte("null")) {
		return json.RawMessage("null")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return json.RawMessage("null")
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return json.RawMessage("null")
		}
		key, _ := t.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return json.RawMessage("null")
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		b.Write(k)
		b.WriteByte(':')
		switch key {
		case "_id", "_rev", "_deleted":
			b.Write(value)
		default:
			b.WriteString("null")
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}
