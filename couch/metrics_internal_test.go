package couch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

// TestMetricsOf reads the database info each kind of server answers, as
// recorded in testdata/info, and checks which sizes come out: all of them
// from CouchDB, the disk size alone from pouchdb-server on disk, none from
// pouchdb-server in memory.
func TestMetricsOf(t *testing.T) {
	tests := []struct {
		file string
		want Metrics
	}{
		{"couchdb3_db.json", Metrics{DocCount: 6146, DataSize: ptr[int64](65031503), DiskSize: ptr[int64](137433211), Fragmentation: ptr(52.68)}},
		{"couchdb1_db.json", Metrics{DocCount: 10, DataSize: ptr[int64](2289), DiskSize: ptr[int64](8287), Fragmentation: ptr(72.38)}},
		{"pouchdb_disk_db.json", Metrics{DocCount: 0, DiskSize: ptr[int64](4389)}},
		{"pouchdb_memory_db.json", Metrics{DocCount: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var info Info
			require.NoError(t, json.Unmarshal(readInfo(t, tt.file), &info))
			got := metricsOf(info)
			tt.want.Views = map[string]ViewMetrics{}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestViewMetricsOf(t *testing.T) {
	tests := []struct {
		file string
		want ViewMetrics
	}{
		{"couchdb3_ddoc_info.json", ViewMetrics{DataSize: ptr[int64](13135), DiskSize: ptr[int64](67252), Fragmentation: ptr(80.47)}},
		{"pouchdb_ddoc_info.json", ViewMetrics{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			assert.Equal(t, tt.want, viewMetricsOf(readInfo(t, tt.file)))
		})
	}
}

func TestFragmentation(t *testing.T) {
	tests := []struct {
		data, disk *int64
		want       *float64
	}{
		{ptr[int64](50), ptr[int64](100), ptr(50.0)},
		{ptr[int64](100), ptr[int64](100), ptr(0.0)},
		{nil, ptr[int64](100), nil},
		{ptr[int64](100), nil, nil},
		{ptr[int64](0), ptr[int64](0), nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, fragmentation(tt.data, tt.disk))
	}
}

func readInfo(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "info", name))
	require.NoError(t, err)
	return b
}
