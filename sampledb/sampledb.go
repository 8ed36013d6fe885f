// Package sampledb holds the documents of the samples' database, embedded
// so that the installer and the tests find them from any directory:
//
//	design, err := couch.LoadDesignDocs(sampledb.FS, sampledb.DesignDir)
//	seed, err := couch.LoadSeedDocs(sampledb.FS, sampledb.SeedDir)
//	_, err = client.EnsureDB(ctx, sampledb.Database)
//	_, err = db.InstallDesignDocs(ctx, design)
//	_, err = db.Seed(ctx, seed)
//
// (`go run ./tools/dbinstall` does all of that.)
//
// The design documents, one view each, named after their file:
//
//   - fruit_by_fruit_id emits (fruit_id, null) for every fruit, that is
//     every document whose type matches /^fruit_v\d+\.\d+$/;
//   - fruit_by_color emits (color, null) for every fruit;
//   - conflicts emits (_id, _conflicts) for every document with
//     conflicting revisions.
//
// The seed documents are a handful of fruit of the shape the sample
// service writes:
//
//	{"_id": "5d25431b78ca79b5799d1e98990f9f82", "type": "fruit_v1.0",
//	 "fruit_id": "5d25431b78ca79b5799d1e98990f9f82", "color": "red", "tastings": 0,
//	 "created_on": "2026-01-01T00:00:00.000000Z", "updated_on": "2026-01-01T00:00:00.000000Z"}
//
// They live in this package rather than in the repository's testdata/
// folder because the go tool ignores directories named testdata, and an
// embed directive cannot reach files above its package. The package
// imports nothing but embed.
package sampledb

import "embed"

// FS holds the directories [DesignDir] and [SeedDir].
//
//go:embed design seed
var FS embed.FS

// The directories of [FS].
const (
	// DesignDir holds the design documents, one *.json file each.
	DesignDir = "design"
	// SeedDir holds the seed documents, one *.json file each.
	SeedDir = "seed"
)

// Database is the name the samples give their database.
const Database = "accord_sample"
