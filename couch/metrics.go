package couch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// CheckHealth reports whether the database can be reached: nil if the
// server answers for it, an error saying why not otherwise. It is the
// deep check behind a service's /_health?quick=false.
func (db *DB) CheckHealth(ctx context.Context) error {
	if _, err := db.c.doJSON(ctx, db.req("GET"), nil); err != nil {
		return fmt.Errorf("couch: health of %q: %w", db.name, err)
	}
	return nil
}

// Metrics describes a database's size and that of its views. Sizes the
// server does not report are nil, not zero: pouchdb-server in memory
// reports none, on disk only the disk size; CouchDB 2+ reports all.
type Metrics struct {
	// DocCount counts the database's live documents.
	DocCount int64 `json:"docCount"`
	// DataSize is the size of the live data, in bytes.
	DataSize *int64 `json:"dataSize,omitempty"`
	// DiskSize is the size of the database file, in bytes.
	DiskSize *int64 `json:"diskSize,omitempty"`
	// Fragmentation is the share of the file that compaction would free,
	// in percent: (disk - data) / disk * 100.
	Fragmentation *float64 `json:"fragmentation,omitempty"`
	// Views holds each design document's index sizes, by design document
	// name (without "_design/").
	Views map[string]ViewMetrics `json:"views"`
}

// ViewMetrics describes one design document's index.
type ViewMetrics struct {
	DataSize      *int64   `json:"dataSize,omitempty"`
	DiskSize      *int64   `json:"diskSize,omitempty"`
	Fragmentation *float64 `json:"fragmentation,omitempty"`
}

// Metrics gathers the database's metrics: GET /{db} for the database, and
// GET /{db}/_design/{name}/_info for each design document. A design
// document whose info the server does not serve gets absent sizes.
func (db *DB) Metrics(ctx context.Context) (Metrics, error) {
	info, err := db.Info(ctx)
	if err != nil {
		return Metrics{}, fmt.Errorf("couch: metrics: %w", err)
	}
	m := metricsOf(info)

	names, err := db.designDocNames(ctx)
	if err != nil {
		return Metrics{}, fmt.Errorf("couch: metrics: %w", err)
	}
	for _, name := range names {
		vm, err := db.viewMetrics(ctx, name)
		if err != nil {
			return Metrics{}, fmt.Errorf("couch: metrics: %w", err)
		}
		m.Views[name] = vm
	}
	return m, nil
}

// metricsOf reads a database's metrics from its info: CouchDB 2+'s
// sizes.active and sizes.file, else the top-level data_size and disk_size.
func metricsOf(info Info) Metrics {
	m := Metrics{DocCount: info.DocCount, Views: map[string]ViewMetrics{}}
	if info.Sizes != nil {
		m.DataSize, m.DiskSize = info.Sizes.Active, info.Sizes.File
	} else {
		m.DataSize, m.DiskSize = info.DataSize, info.DiskSize
	}
	m.Fragmentation = fragmentation(m.DataSize, m.DiskSize)
	return m
}

// designDocNames lists the database's design documents, without their
// "_design/" prefix.
func (db *DB) designDocNames(ctx context.Context) ([]string, error) {
	res, err := db.AllDocs(ctx, ViewQuery{StartKey: "_design/", EndKey: "_design0"})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(res.Rows))
	for _, r := range res.Rows {
		if name, ok := strings.CutPrefix(r.ID, "_design/"); ok {
			names = append(names, name)
		}
	}
	return names, nil
}

// viewMetrics reads a design document's index sizes from its _info.
func (db *DB) viewMetrics(ctx context.Context, name string) (ViewMetrics, error) {
	var raw json.RawMessage
	if _, err := db.c.doJSON(ctx, db.req("GET", "_design/"+name, "_info"), &raw); err != nil {
		// A server without _info for design documents gets absent sizes.
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrMethodNotAllowed) {
			return ViewMetrics{}, nil
		}
		return ViewMetrics{}, fmt.Errorf("view info %q: %w", name, err)
	}
	return viewMetricsOf(raw), nil
}

// viewMetricsOf reads index sizes from a design document's _info:
// CouchDB 2+'s view_index.sizes, else 1.x's data_size and disk_size.
// Anything else (pouchdb-server answers {"view_index":"Not
// implemented."}) gives absent sizes.
func viewMetricsOf(raw json.RawMessage) ViewMetrics {
	var info struct {
		ViewIndex struct {
			Sizes *struct {
				File   *int64 `json:"file"`
				Active *int64 `json:"active"`
			} `json:"sizes"`
			DataSize *int64 `json:"data_size"`
			DiskSize *int64 `json:"disk_size"`
		} `json:"view_index"`
	}
	if json.Unmarshal(raw, &info) != nil {
		return ViewMetrics{}
	}
	vi := info.ViewIndex
	var vm ViewMetrics
	if vi.Sizes != nil {
		vm.DataSize, vm.DiskSize = vi.Sizes.Active, vi.Sizes.File
	} else {
		vm.DataSize, vm.DiskSize = vi.DataSize, vi.DiskSize
	}
	vm.Fragmentation = fragmentation(vm.DataSize, vm.DiskSize)
	return vm
}

// fragmentation is (disk - data) / disk in percent, rounded to two
// decimals, or nil without both sizes.
func fragmentation(data, disk *int64) *float64 {
	if data == nil || disk == nil || *disk <= 0 {
		return nil
	}
	f := math.Round(float64(*disk-*data)/float64(*disk)*10000) / 100
	return &f
}
