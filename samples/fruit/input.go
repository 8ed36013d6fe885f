package fruit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// maxBodyBytes is the largest request body the service reads.
const maxBodyBytes = 64 << 10

// fruitSchema is what a POST or PUT body must be, as in the seed: an
// object with a non-empty color (here at most 64 characters) and nothing
// else.
const fruitSchema = `{
	"$schema": "https://json-schema.org/draft/2020-12/schema",
	"title": "fruit create and update request",
	"type": "object",
	"properties": {
		"color": {"type": "string", "minLength": 1, "maxLength": 64}
	},
	"required": ["color"],
	"additionalProperties": false
}`

var bodySchema = mustCompile("fruit.json", fruitSchema)

// fruitSensitiveSchema is fruitSchema plus the sensitive properties, the
// schema of a service with [Options.Sensitive].
const fruitSensitiveSchema = `{
	"$schema": "https://json-schema.org/draft/2020-12/schema",
	"title": "fruit create and update request, with a grower",
	"type": "object",
	"properties": {
		"color": {"type": "string", "minLength": 1, "maxLength": 64},
		"grower_email": {"type": "string", "maxLength": 254, "pattern": "^[^@\\s]{1,64}@[^@\\s]{1,189}$"},
		"grower_pin": {"type": "string", "pattern": "^[0-9]{4,8}$"}
	},
	"required": ["color"],
	"additionalProperties": false
}`

var sensitiveSchema = mustCompile("fruit-sensitive.json", fruitSensitiveSchema)

// pinSchema is the body of a PIN check.
var pinSchema = mustCompile("pin.json", `{
	"$schema": "https://json-schema.org/draft/2020-12/schema",
	"title": "PIN check request",
	"type": "object",
	"properties": {"pin": {"type": "string", "pattern": "^[0-9]{4,8}$"}},
	"required": ["pin"],
	"additionalProperties": false
}`)

func mustCompile(name, schema string) *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		panic(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		panic(err)
	}
	return c.MustCompile(name)
}

// badRequest is a client error: the request cannot be served as sent.
type badRequest struct {
	status int    // the answer's status
	name   string // the JSON body's "error"
	reason string // the JSON body's "reason"
}

func bad(name, reason string) *badRequest {
	return &badRequest{status: http.StatusBadRequest, name: name, reason: reason}
}

func (e *badRequest) Error() string { return e.name + ": " + e.reason }

// readJSON reads a request body, validates it against schema and
// decodes it into dst.
func readJSON(r *http.Request, schema *jsonschema.Schema, dst any) error {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return bad("body_too_large", fmt.Sprintf("the request body is larger than %d bytes", maxBodyBytes))
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return &badRequest{http.StatusRequestTimeout, "request_timeout", "the request body was not sent in time"}
		}
		return bad("bad_body", "the request body could not be read")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return bad("bad_json", "the request body is empty; send a JSON object such as {\"color\":\"red\"}")
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return bad("bad_json", fmt.Sprintf("the request body is not valid JSON: %v", err))
	}
	if err := schema.Validate(inst); err != nil {
		return bad("bad_body", schemaReason(err))
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return bad("bad_json", fmt.Sprintf("the request body is not valid JSON: %v", err))
	}
	return nil
}

// checkContentType accepts application/json, with an optional utf-8
// charset, and nothing else: anything else is a 415.
func checkContentType(ct string) error {
	unsupported := func(reason string) error {
		return &badRequest{http.StatusUnsupportedMediaType, "bad_content_type", reason}
	}
	if ct == "" {
		return unsupported("no Content-Type; send Content-Type: application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return unsupported(fmt.Sprintf("Content-Type %q is not application/json", clip(ct, maxEchoBytes)))
	}
	for k, v := range params {
		if k != "charset" || (!strings.EqualFold(v, "utf-8") && !strings.EqualFold(v, "utf8")) {
			return unsupported(fmt.Sprintf("Content-Type %q: only charset=utf-8 is accepted", clip(ct, maxEchoBytes)))
		}
	}
	return nil
}

// schemaReason turns a schema validation error into one line naming
// each violation and where it is.
func schemaReason(err error) string {
	ve, ok := errors.AsType[*jsonschema.ValidationError](err)
	if !ok {
		return err.Error()
	}
	var parts []string
	var walk func(u []jsonschema.OutputUnit)
	walk = func(units []jsonschema.OutputUnit) {
		for _, u := range units {
			if u.Error != nil {
				msg := u.Error.String()
				if !strings.HasPrefix(msg, "validation failed") {
					where := u.InstanceLocation
					if where == "" {
						where = "/"
					}
					parts = append(parts, fmt.Sprintf("at %s: %s", where, msg))
				}
			}
			walk(u.Errors)
		}
	}
	out := ve.BasicOutput()
	walk([]jsonschema.OutputUnit{*out})
	if len(parts) == 0 {
		return ve.Error()
	}
	return "the request body does not match the fruit schema: " + strings.Join(parts, "; ")
}
