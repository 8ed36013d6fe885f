package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/accord-db/accord/internal/couchtest"
)

// The markers that make a fenced block of a doc part of its test: the
// next block is run (<!-- test -->) or written to a file in the working
// directory (<!-- file: NAME -->).
const (
	markTest = "<!-- test -->"
	markFile = "<!-- file: "
)

// docScript turns a doc's marked blocks into one bash script, in order.
func docScript(doc string) (string, int, error) {
	var script strings.Builder
	sc := bufio.NewScanner(strings.NewReader(doc))
	blocks := 0
	pending := "" // "test", or the file name
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		switch {
		case text == markTest:
			pending = "test"
			continue
		case strings.HasPrefix(text, markFile) && strings.HasSuffix(text, " -->"):
			pending = strings.TrimSuffix(strings.TrimPrefix(text, markFile), " -->")
			continue
		case pending == "":
			continue
		case !strings.HasPrefix(text, "```"):
			return "", 0, fmt.Errorf("line %d: a marker must be followed by a fenced block", line)
		}
		var body []string
		closed := false
		for sc.Scan() {
			line++
			if sc.Text() == "```" {
				closed = true
				break
			}
			body = append(body, sc.Text())
		}
		if !closed {
			return "", 0, fmt.Errorf("line %d: unclosed block", line)
		}
		if pending == "test" {
			fmt.Fprintf(&script, "echo '+ block %d'\n%s\n", blocks, strings.Join(body, "\n"))
		} else {
			fmt.Fprintf(&script, "cat > %q <<'ACCORD_DOC_EOF'\n%s\nACCORD_DOC_EOF\n", pending, strings.Join(body, "\n"))
		}
		blocks++
		pending = ""
	}
	return script.String(), blocks, sc.Err()
}

func TestDocScript(t *testing.T) {
	script, n, err := docScript("intro\n<!-- test -->\n```sh\necho hi\n```\n\n```sh\nnot run\n```\n<!-- file: a.txt -->\n```\nA\n```\n")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, "echo '+ block 0'\necho hi\ncat > \"a.txt\" <<'ACCORD_DOC_EOF'\nA\nACCORD_DOC_EOF\n", script)
	_, _, err = docScript("<!-- test -->\ntext\n")
	require.ErrorContains(t, err, "must be followed by a fenced block")
}

// TestGuide runs every command of docs/writing-resolvers.md and docs/ABI.md,
// in order, in one shell from a folder outside the module, with the
// environment the guide's set-up section describes.
func TestGuide(t *testing.T) {
	root := repo(t)
	base := strings.TrimSuffix(couchtest.URL(t).String(), "/")
	work := t.TempDir()
	gobin := filepath.Join(work, "gobin")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	var script strings.Builder
	script.WriteString("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n")
	for _, doc := range []string{"writing-resolvers.md", "ABI.md"} { // the guide installs resolver
		data, err := os.ReadFile(filepath.Join(root, "docs", doc))
		require.NoError(t, err)
		s, n, err := docScript(string(data))
		require.NoError(t, err, doc)
		require.Positive(t, n, "%s has no tested block", doc)
		fmt.Fprintf(&script, "echo '+ %s'\n%s", doc, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = work
	cmd.Env = append(os.Environ(),
		"ACCORD_ROOT="+root, "COUCHDB="+base, fmt.Sprint("PORT=", port),
		"GOBIN="+gobin, "PATH="+gobin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the guide's commands failed:\n%s", out)
	t.Logf("the guide's commands:\n%s", out)
	for _, want := range []string{
		"name:    accepter",          // ABI.md's smallest plugin
		"3 passed, 0 failed",         // tally's fixtures through the module
		"audit",                      // loadgen ran
		"2 passed, 0 failed",         // patient, in AssemblyScript and in WAT
		`declare "theirs"`, "caught", // the naive merge
		"1 records: 1 replayed, 0 decided alike (0 retries with another delay), 1 changed", "retry→merge",
	} {
		require.Contains(t, string(out), want)
	}
}
