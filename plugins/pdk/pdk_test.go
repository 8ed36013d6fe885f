package pdk

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/resolve"
)

// register sets the package's registration for one test.
func register(t *testing.T, desc resolve.Description, fn resolve.Func, conf func([]byte) error) {
	t.Helper()
	Register(desc, fn)
	OnConfigure(conf)
	t.Cleanup(func() { description, decide, configure = resolve.Description{}, nil, nil })
}

const update = `{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":2}`

func TestHandleResolve(t *testing.T) {
	register(t, resolve.RetryDescription, resolve.RetryParams{MaxRetries: 1}.Decide, nil)
	tests := []struct {
		name string
		in   string
		want resolve.Decision
	}{
		{"decides", `{"abi":1,"kind":"write","op":"update","db":"fruits","id":"apple","attempt":1}`,
			resolve.Decision{Action: resolve.ActionRetry, Reason: "retry 1 of 1"}},
		{"gives up", update,
			resolve.Decision{Action: resolve.ActionFail, Reason: `conflict on "apple": giving up after 1 retries`}},
		{"bad conflict", `{"abi":2}`,
			resolve.Decision{Action: resolve.ActionFail, Reason: "pdk: resolve: invalid conflict: abi 2, want 1"}},
		{"no input", ``,
			resolve.Decision{Action: resolve.ActionFail, Reason: "pdk: resolve: invalid conflict: EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve.DecodeDecision(handleResolve([]byte(tt.in)))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestHandleResolveUnregistered(t *testing.T) {
	got, err := resolve.DecodeDecision(handleResolve([]byte(update)))
	require.NoError(t, err)
	assert.Equal(t, resolve.ActionFail, got.Action)
	assert.Contains(t, got.Reason, "no resolver registered")
}

func TestHandleConfigure(t *testing.T) {
	t.Run("without OnConfigure", func(t *testing.T) {
		register(t, resolve.BasicDescription, resolve.DecideBasic, nil)
		for _, in := range []string{``, `null`, `{}`, ` { } `} {
			assert.JSONEq(t, `{}`, string(handleConfigure([]byte(in))), "configure(%q)", in)
		}
		for _, in := range []string{`{"max_retries":1}`, `[]`, `7`, `nonsense`} {
			assert.JSONEq(t, `{"error":"basic takes no parameters"}`, string(handleConfigure([]byte(in))), "configure(%q)", in)
		}
	})
	t.Run("with OnConfigure", func(t *testing.T) {
		var got []byte
		register(t, resolve.RetryDescription, resolve.RetryParams{}.Decide, func(params []byte) error {
			got = params
			if string(params) == `{"bad":true}` {
				return errors.New(`bad "params"`)
			}
			return nil
		})
		assert.JSONEq(t, `{}`, string(handleConfigure([]byte(`{"max_retries":1}`))))
		assert.Equal(t, `{"max_retries":1}`, string(got))
		assert.JSONEq(t, `{"error":"bad \"params\""}`, string(handleConfigure([]byte(`{"bad":true}`))))
	})
}

func TestHandleDescribe(t *testing.T) {
	register(t, resolve.BackoffDescription, resolve.DecideBasic, nil)
	assert.JSONEq(t, `{"name":"backoff","version":"1.1.0","description":"retries after a jittered exponential wait (jitter full, equal or decorrelated), at most max_retries times","needs":[]}`,
		string(handleDescribe()))
}
