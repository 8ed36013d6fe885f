package samples_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/couch"
	"github.com/accord-db/accord/internal/couchtest"
	"github.com/accord-db/accord/internal/sampletest"
)

// rawFruit reads the fruit document behind fruitID directly from the
// database, as someone with access to it would.
func rawFruit(t *testing.T, db *couch.DB, fruitID string) map[string]any {
	t.Helper()
	res, err := db.Query(context.Background(), "fruit_by_fruit_id", "fruit_by_fruit_id", couch.ViewQuery{Key: fruitID, IncludeDocs: true})
	require.NoError(t, err)
	require.Len(t, res.Rows, 1)
	var d map[string]any
	require.NoError(t, json.Unmarshal(res.Rows[0].Doc, &d))
	return d
}

// editFruit changes the fruit's document directly in the database.
func editFruit(t *testing.T, db *couch.DB, fruitID string, change func(map[string]any)) {
	t.Helper()
	d := rawFruit(t, db, fruitID)
	change(d)
	_, err := db.Put(context.Background(), d["_id"].(string), d)
	require.NoError(t, err)
}

func prometheusText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestTamperingSample is the walk-through of samples/tampering/README.md:
// a fruit edited directly in the database is refused, by itself and in
// lists, and raises the alarm; an untouched one is served.
func TestTamperingSample(t *testing.T) {
	bin := sampletest.BuildService(t)
	db := sampletest.NewDB(t, false)
	s := service{sampletest.StartService(t, bin, filepath.Join("tampering", "config.yaml"), couchtest.URL(t).JoinPath(db.Name()).String())}
	assert.Contains(t, firstLine(s.Output.String()), "signing=true")

	var ids []string
	for _, color := range []string{"red", "green"} {
		status, body := s.do(t, "POST", "/v1.0/fruits", `{"color":"`+color+`"}`)
		require.Equal(t, http.StatusCreated, status)
		ids = append(ids, body.(map[string]any)["fruit_id"].(string))
	}
	doc := rawFruit(t, db, ids[0])
	require.Contains(t, doc, "accord_signature", "the service signs what it writes")

	editFruit(t, db, ids[0], func(d map[string]any) { d["color"] = "gold" })

	status, body := s.do(t, "GET", "/v1.0/fruits/"+ids[0], "")
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Equal(t, "tampered", body.(map[string]any)["error"])
	assert.NotContains(t, body.(map[string]any)["reason"], "gold", "the answer quotes nothing of the document")
	status, _ = s.do(t, "PUT", "/v1.0/fruits/"+ids[0], `{"color":"blue"}`)
	assert.Equal(t, http.StatusInternalServerError, status, "an update does not launder a tampered fruit")

	status, body = s.do(t, "GET", "/v1.0/fruits", "")
	require.Equal(t, http.StatusOK, status)
	var listed []string
	for _, f := range body.([]any) {
		listed = append(listed, f.(map[string]any)["fruit_id"].(string))
	}
	assert.Equal(t, []string{ids[1]}, listed, "the list leaves the tampered fruit out")

	status, body = s.do(t, "GET", "/v1.0/fruits/"+ids[1], "")
	assert.Equal(t, http.StatusOK, status, "an untouched fruit is served: %v", body)

	status, body = s.do(t, "GET", "/v1.0/_metrics", "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"signing": true, "sensitive": false, "tampered": 3.0}, body.(map[string]any)["tamper"])
	assert.Contains(t, prometheusText(t, s.URL), "accord_documents_refused_total 3")
	alarms := 0
	for line := range strings.Lines(s.Output.String()) {
		if strings.Contains(line, "level=ERROR") && strings.Contains(line, "document refused") {
			assert.Contains(t, line, "id="+doc["_id"].(string))
			alarms++
		}
	}
	assert.Equal(t, 3, alarms, "an ERROR line per refusal")

	// Putting the signed original back makes the fruit good again.
	editFruit(t, db, ids[0], func(d map[string]any) {
		for k, v := range doc {
			if k != "_rev" {
				d[k] = v
			}
		}
	})
	status, body = s.do(t, "GET", "/v1.0/fruits/"+ids[0], "")
	assert.Equal(t, http.StatusOK, status, "%v", body)
}

// TestHashEncryptSample is the walk-through of
// samples/hashencrypt/README.md: the database holds no plain text of a
// sensitive property; the API returns the e-mail decrypted and checks the
// PIN; after a key rotation old fruit still read, and are re-encrypted
// with the new key on their next write.
func TestHashEncryptSample(t *testing.T) {
	bin := sampletest.BuildService(t)
	db := sampletest.NewDB(t, false)
	dbURL := couchtest.URL(t).JoinPath(db.Name()).String()
	config := filepath.Join("hashencrypt", "config.yaml")
	t.Setenv("ACCORD_ENCRYPTION_KEYS", "")
	s := service{sampletest.StartService(t, bin, config, dbURL)}
	assert.Contains(t, firstLine(s.Output.String()), "sensitive=true")

	const email, pin = "ann.grower@example.com", "20261201"
	status, body := s.do(t, "POST", "/v1.0/fruits", `{"color":"red","grower_email":"`+email+`","grower_pin":"`+pin+`"}`)
	require.Equal(t, http.StatusCreated, status, "%v", body)
	id := body.(map[string]any)["fruit_id"].(string)
	assert.Equal(t, email, body.(map[string]any)["grower_email"])
	assert.Equal(t, true, body.(map[string]any)["has_pin"])
	assert.NotContains(t, body, "grower_pin")

	status, body = s.do(t, "GET", "/v1.0/fruits/"+id, "")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, email, body.(map[string]any)["grower_email"], "the API returns the e-mail decrypted")

	// Everything in the database, design documents included.
	all, err := db.AllDocs(context.Background(), couch.ViewQuery{IncludeDocs: true})
	require.NoError(t, err)
	dump, err := json.Marshal(all)
	require.NoError(t, err)
	for _, secret := range []string{email, "ann.grower", pin} {
		assert.NotContains(t, string(dump), secret, "plain text in the database")
	}
	doc := rawFruit(t, db, id)
	assert.True(t, strings.HasPrefix(doc["grower_email"].(string), "aes256gcm:demo1:"), "%v", doc["grower_email"])
	assert.True(t, strings.HasPrefix(doc["grower_pin"].(string), "$2a$10$"), "%v", doc["grower_pin"])

	for _, tt := range []struct {
		pin   string
		match bool
	}{{pin, true}, {"1234", false}} {
		status, body = s.do(t, "POST", "/v1.0/fruits/"+id+"/pin", `{"pin":"`+tt.pin+`"}`)
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, tt.match, body.(map[string]any)["match"], "PIN %s", tt.pin)
	}
	status, _ = s.do(t, "POST", "/v1.0/fruits/"+id+"/pin", `{"pin":"12"}`)
	assert.Equal(t, http.StatusBadRequest, status)

	// A key rotation: demo2 first, demo1 kept, given by the variable.
	rotated, err := os.ReadFile(filepath.Join("hashencrypt", "encryption-rotated.keys"))
	require.NoError(t, err)
	t.Setenv("ACCORD_ENCRYPTION_KEYS", string(rotated))
	s2 := service{sampletest.StartService(t, bin, config, dbURL)}
	status, body = s2.do(t, "GET", "/v1.0/fruits/"+id, "")
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, email, body.(map[string]any)["grower_email"], "an old fruit still reads after the rotation")
	assert.True(t, strings.HasPrefix(rawFruit(t, db, id)["grower_email"].(string), "aes256gcm:demo1:"), "a read does not rewrite")
	status, _ = s2.do(t, "POST", "/v1.0/fruits/"+id+"/tastings", "")
	require.Equal(t, http.StatusOK, status)
	after := rawFruit(t, db, id)
	assert.True(t, strings.HasPrefix(after["grower_email"].(string), "aes256gcm:demo2:"), "re-encrypted with the new key on write: %v", after["grower_email"])
	assert.Equal(t, doc["grower_pin"], after["grower_pin"], "the PIN's hash is kept as it is")
	status, body = s2.do(t, "POST", "/v1.0/fruits/"+id+"/pin", `{"pin":"`+pin+`"}`)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body.(map[string]any)["match"])

	// A ciphertext edited in the database is refused, not decrypted to garbage.
	editFruit(t, db, id, func(d map[string]any) {
		c := d["grower_email"].(string)
		d["grower_email"] = c[:len(c)-4] + "AAAA"
	})
	status, body = s2.do(t, "GET", "/v1.0/fruits/"+id, "")
	assert.Equal(t, http.StatusInternalServerError, status)
	assert.Equal(t, "tampered", body.(map[string]any)["error"])
	assert.NotContains(t, s2.Output.String(), email, "the e-mail is never logged")
	assert.NotContains(t, s.Output.String(), email, "the e-mail is never logged")
}
