package couch_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
)

const byColor = `{"language":"javascript","views":{"by_color":{"map":"function(doc){ emit(doc.color, null); }"}}}`

func TestLoadDesignDocs(t *testing.T) {
	fsys := fstest.MapFS{
		"dd/by_color.json": {Data: []byte(byColor)},
		"dd/by_id.json":    {Data: []byte(`{"views":{"by_id":{"map":"function(doc){ emit(doc._id, 1); }","reduce":"_sum"}}}`)},
		"dd/README.md":     {Data: []byte("not a design doc")},
	}
	docs, err := couch.LoadDesignDocs(fsys, "dd")
	require.NoError(t, err)
	require.Len(t, docs, 2)
	assert.Equal(t, "_design/by_color", docs[0].ID)
	assert.Equal(t, "dd/by_color.json", docs[0].Source)
	assert.Equal(t, "_design/by_id", docs[1].ID)
}

func TestLoadDesignDocsRefusesBadFiles(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"syntax", "{\n  \"views\": {,\n}", "bad.json: invalid document: invalid character ',' looking for beginning of object key string at line 2, column 13"},
		{"truncated", `{"views": {`, "bad.json: invalid document: unexpected end of JSON input at line 1"},
		{"trailing", byColor + ` {}`, "trailing data"},
		{"not an object", `[1,2]`, "bad.json: invalid document"},
		{"null", `null`, "null is not a JSON object"},
		{"no views", `{"language":"javascript"}`, `no "views"`},
		{"views not an object", `{"views":[]}`, `"views" must be an object`},
		{"empty views", `{"views":{}}`, `"views" is empty`},
		{"map not a string", `{"views":{"v":{"map":1}}}`, `view "v": "map" must be a non-empty string`},
		{"empty map", `{"views":{"v":{"map":" "}}}`, `view "v": "map" must be a non-empty string`},
		{"reduce not a string", `{"views":{"v":{"map":"f","reduce":{}}}}`, `view "v": "reduce" must be a string`},
		{"wrong _id", `{"_id":"_design/other","views":{"v":{"map":"f"}}}`, `does not match the file name`},
		{"_rev", `{"_rev":"1-abc","views":{"v":{"map":"f"}}}`, `must not carry _rev`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"dd/a_good.json": {Data: []byte(byColor)},
				"dd/bad.json":    {Data: []byte(tt.data)},
			}
			docs, err := couch.LoadDesignDocs(fsys, "dd")
			require.Error(t, err)
			assert.Nil(t, docs, "nothing is returned when one file is bad")
			assert.ErrorIs(t, err, couch.ErrInvalidDocument)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestLoadDesignDocsMissingDir(t *testing.T) {
	_, err := couch.LoadDesignDocs(fstest.MapFS{}, "nope")
	require.Error(t, err)
	assert.False(t, errors.Is(err, couch.ErrInvalidDocument))
}

func TestInstallDesignDocsIsIdempotent(t *testing.T) {
	db := newDB(t)
	docs := []couch.DesignDoc{
		{ID: "_design/by_color", Body: []byte(byColor)},
		{ID: "_design/other", Body: []byte(`{"views":{"v":{"map":"function(doc){ emit(1, null); }"}}}`)},
	}
	res, err := db.InstallDesignDocs(ctx, docs)
	require.NoError(t, err)
	assert.Equal(t, []couch.InstallStatus{couch.Created, couch.Created}, statuses(res))

	again, err := db.InstallDesignDocs(ctx, docs)
	require.NoError(t, err)
	assert.Equal(t, []couch.InstallStatus{couch.Unchanged, couch.Unchanged}, statuses(again))
	assert.Equal(t, res[0].Rev, again[0].Rev, "an unchanged document keeps its revision")

	docs[1].Body = []byte(`{"views":{"v":{"map":"function(doc){ emit(2, null); }"}}}`)
	changed, err := db.InstallDesignDocs(ctx, docs)
	require.NoError(t, err)
	assert.Equal(t, []couch.InstallStatus{couch.Unchanged, couch.Updated}, statuses(changed))
	assert.NotEqual(t, res[1].Rev, changed[1].Rev)

	var got struct {
		Views map[string]struct {
			Map string `json:"map"`
		} `json:"views"`
	}
	require.NoError(t, db.Get(ctx, "_design/other", &got))
	assert.Equal(t, "function(doc){ emit(2, null); }", got.Views["v"].Map)
}

func TestInstallDesignDocsRefusesNonObjects(t *testing.T) {
	db := newDB(t)
	for _, body := range []string{`null`, `[]`, `7`} {
		_, err := db.InstallDesignDocs(ctx, []couch.DesignDoc{{ID: "_design/x", Body: []byte(body)}})
		assert.ErrorIs(t, err, couch.ErrInvalidDocument, "body %s", body)
	}
}

func statuses(res []couch.Installed) []couch.InstallStatus {
	out := make([]couch.InstallStatus, len(res))
	for i, r := range res {
		out[i] = r.Status
	}
	return out
}

// TestLoadDesignDocsReadsRegularFilesOnly checks that a *.json entry that
// is not a regular file, or is larger than MaxDocFileBytes, fails the
// load of design and seed documents alike.
func TestLoadDesignDocsReadsRegularFilesOnly(t *testing.T) {
	tests := []struct {
		name string
		file *fstest.MapFile
		want string
	}{
		{"symlink", &fstest.MapFile{Data: []byte(byColor), Mode: fs.ModeSymlink}, "dd/x.json: invalid document: not a regular file"},
		{"device", &fstest.MapFile{Mode: fs.ModeDevice | fs.ModeCharDevice}, "dd/x.json: invalid document: not a regular file"},
		{"pipe", &fstest.MapFile{Mode: fs.ModeNamedPipe}, "dd/x.json: invalid document: not a regular file"},
		{"too large", &fstest.MapFile{Data: []byte(byColor[:len(byColor)-1] + `,"pad":"` + strings.Repeat("x", couch.MaxDocFileBytes) + `"}`)}, "larger than 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"dd/x.json": tt.file}
			_, err := couch.LoadDesignDocs(fsys, "dd")
			require.ErrorIs(t, err, couch.ErrInvalidDocument)
			assert.ErrorContains(t, err, tt.want)
			_, err = couch.LoadSeedDocs(fsys, "dd")
			require.ErrorIs(t, err, couch.ErrInvalidDocument)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

// TestDesignPolicy checks what a design document may hold beyond views,
// with the zero policy and with each feature allowed.
func TestDesignPolicy(t *testing.T) {
	const views = `"views":{"v":{"map":"function(doc){}"}}`
	tests := []struct {
		name   string
		doc    string
		policy couch.DesignPolicy
		want   string // "" for accepted
	}{
		{"views only", `{` + views + `}`, couch.DesignPolicy{}, ""},
		{"javascript", `{"language":"javascript",` + views + `}`, couch.DesignPolicy{}, ""},
		{"options and autoupdate", `{` + views + `,"options":{"local_seq":true},"autoupdate":false}`, couch.DesignPolicy{}, ""},
		{"validate_doc_update", `{` + views + `,"validate_doc_update":"function(){}"}`, couch.DesignPolicy{}, "validate_doc_update"},
		{"validate_doc_update allowed", `{` + views + `,"validate_doc_update":"function(){}"}`, couch.DesignPolicy{AllowValidateDocUpdate: true}, ""},
		{"erlang", `{"language":"erlang",` + views + `}`, couch.DesignPolicy{}, `language "erlang"`},
		{"erlang allowed", `{"language":"erlang",` + views + `}`, couch.DesignPolicy{AllowLanguages: []string{"erlang"}}, ""},
		{"another language allowed", `{"language":"erlang",` + views + `}`, couch.DesignPolicy{AllowLanguages: []string{"python"}}, `language "erlang"`},
		{"language not a string", `{"language":7,` + views + `}`, couch.DesignPolicy{}, `"language" must be a string`},
		{"filters", `{` + views + `,"filters":{"f":"function(){ return true; }"}}`, couch.DesignPolicy{}, `"filters"`},
		{"updates allowed", `{` + views + `,"updates":{"u":"function(){}"}}`, couch.DesignPolicy{AllowFunctions: true}, ""},
		{"underscore member", `{` + views + `,"_attachments":{}}`, couch.DesignPolicy{}, `member "_attachments"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := tt.policy.Load(fstest.MapFS{"dd/x.json": {Data: []byte(tt.doc)}}, "dd")
			if tt.want == "" {
				require.NoError(t, err)
				require.Len(t, docs, 1)
				return
			}
			require.ErrorIs(t, err, couch.ErrInvalidDocument, "%v", err)
			malformed := strings.Contains(tt.want, "must be")
			assert.Equal(t, !malformed, errors.Is(err, couch.ErrDesignNotAllowed), "%v", err)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}
