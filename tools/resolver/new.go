package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/accord-db/accord/internal/modroot"
)

// accordModule is this repository's module path.
const accordModule = "github.com/accord-db/accord"

// manifestFile is what new writes into a plugin's directory so that build
// knows its language and where the kit is: {"name","lang","accord"}.
const manifestFile = "resolver.json"

// manifest is a plugin directory's resolver.json.
type manifest struct {
	Name string `json:"name"`
	Lang string `json:"lang"`
	// Accord is the checkout of this repository the plugin builds
	// against: the Go module's replace target, the AssemblyScript kit's
	// compiler and pdk.
	Accord string `json:"accord"`
}

func runNew(args []string, stdout, stderr io.Writer) int {
	fs := flagSet("new", stderr)
	lang := fs.String("lang", "go", "the plugin's `language`: go or assemblyscript")
	accord := fs.String("accord", os.Getenv("ACCORD_ROOT"), "a checkout of the accord repository to build against (`DIR`; default $ACCORD_ROOT, else the checkout the working directory is in)")
	parent := fs.String("dir", ".", "the `directory` to create NAME in")
	rest, code, ok := parse(fs, args, 1, 1)
	if !ok {
		return code
	}
	name := rest[0]
	if !validName(name) {
		return fail(stderr, "new: name %q is not 1 to 64 lowercase letters, digits and '-', starting with a letter", name)
	}
	if *lang != "go" && *lang != "assemblyscript" {
		return fail(stderr, "new: -lang %q: want go or assemblyscript", *lang)
	}
	root, err := accordRoot(*accord)
	if err != nil {
		return fail(stderr, "new: %v", err)
	}
	dir := filepath.Join(*parent, name)
	if _, err := os.Stat(dir); err == nil {
		return fail(stderr, "new: %s already exists", dir)
	}
	data := scaffoldData{Name: name, Accord: root, Module: accordModule}
	files := goFiles
	if *lang == "assemblyscript" {
		files = asFiles
	}
	m, _ := json.MarshalIndent(manifest{Name: name, Lang: *lang, Accord: root}, "", "  ")
	written := []string{manifestFile}
	if err := writeFile(filepath.Join(dir, manifestFile), append(m, '\n')); err != nil {
		return fail(stderr, "new: %v", err)
	}
	for _, f := range files {
		var buf bytes.Buffer
		path := strings.ReplaceAll(f.path, "NAME", name)
		if err := template.Must(template.New(path).Delims("[[", "]]").Parse(f.text)).Execute(&buf, data); err != nil {
			return fail(stderr, "new: %s: %v", path, err)
		}
		if err := writeFile(filepath.Join(dir, path), buf.Bytes()); err != nil {
			return fail(stderr, "new: %v", err)
		}
		written = append(written, path)
	}
	if *lang == "go" {
		// The plugin's go.sum: the checksums of this repository's
		// dependencies, so that the module builds offline from the module
		// cache; go mod tidy keeps the lines it needs.
		sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
		if err != nil {
			return fail(stderr, "new: %v", err)
		}
		if err := writeFile(filepath.Join(dir, "go.sum"), sum); err != nil {
			return fail(stderr, "new: %v", err)
		}
		cmd := exec.Command("go", "mod", "tidy")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fail(stderr, "new: go mod tidy in %s: %v\n%s", dir, err, out)
		}
		written = append(written, "go.sum")
	}
	for _, w := range written {
		fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(dir, w))
	}
	fmt.Fprintf(stdout, "next: resolver build %s && resolver test %s\n", dir, filepath.Join(dir, name+".wasm"))
	return exitOK
}

// validName: names go into a Go module path, a file name and the
// plugin's description.
func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// accordRoot returns the absolute path of the accord checkout dir, or of
// the one the working directory is in.
func accordRoot(dir string) (string, error) {
	if dir == "" {
		r, err := modroot.Find()
		if err != nil {
			return "", fmt.Errorf("no accord checkout: pass -accord DIR or set ACCORD_ROOT")
		}
		dir = r
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	f, err := os.Open(filepath.Join(abs, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("%s is not an accord checkout: %w", abs, err)
	}
	defer f.Close()
	line, _ := bufio.NewReader(io.LimitReader(f, 1024)).ReadString('\n')
	if strings.TrimSpace(line) != "module "+accordModule {
		return "", fmt.Errorf("%s is not an accord checkout (its go.mod is not module %s)", abs, accordModule)
	}
	return abs, nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

type scaffoldData struct {
	Name, Accord, Module string
}

type scaffoldFile struct{ path, text string }

// goFiles are a Go plugin's: a three-way merge of a counter, the fruit
// service's tastings, with its native test.
var goFiles = []scaffoldFile{
	{"go.mod", `module example.com/[[.Name]]

go 1.26.0

require [[.Module]] v0.0.0-00010101000000-000000000000

// The accord module is not published yet: build against a local
// checkout. Once it is, delete this line and run
// go get [[.Module]]@latest; the code does not change.
replace [[.Module]] => [[.Accord]]
`},
	{"main.go", `//go:build wasip1

// Command [[.Name]] is an Accord resolver plugin. Build it with
//
//	resolver build .
//
// (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o [[.Name]].wasm .).
package main

import "[[.Module]]/plugins/pdk"

// A reactor's main is never called: the plugin registers from init,
// which the host runs through the module's _initialize export.
func init() { pdk.Register(Description, Decide) }

func main() {}
`},
	{"decide.go", `package main

import (
	"strconv"

	"[[.Module]]/resolve"
)

// Description is what the plugin's accord_describe reports. A merge
// needs base (what both sides started from), mine (our change) and
// theirs (the revision that won): the store writes a merge only from a
// resolver that declares "theirs", on the revision it was shown.
var Description = resolve.Description{
	Name:        "[[.Name]]",
	Version:     "0.1.0",
	Description: "three-way merge: counters add up, other fields keep the side that changed them",
	Needs:       []resolve.Need{resolve.NeedBase, resolve.NeedMine, resolve.NeedTheirs},
}

// rules merge the documents field by field with resolve.MergeDocs, the
// merge built-in's engine: "tastings" counts events, so concurrent
// increments add up (theirs + mine - base) instead of one overwriting
// the other; a field only one side changed takes that side's value, and
// one both changed takes ours (the default rule, mine). Other rules:
// max, min, union, latest_by, theirs (see resolve.MergeRule).
//
// The plugin parses no JSON with encoding/json, which with reflect
// would make its module some 3.5 MB instead of 2 MB: resolve's own JSON
// is what the built-ins use.
var rules = resolve.MergeParams{
	Fields: map[string]resolve.FieldRule{"tastings": {Rule: resolve.MergeCounter}},
}

// maxRetries bounds the retries of what the plugin does not merge.
const maxRetries = 20

// Decide merges our change into the revision that won, three-way
// against base, by rules. A delete, a document deleted meanwhile, a base
// compacted away (base_missing: a counter could not be merged without
// counting twice) and a replication conflict are retried instead.
func Decide(c *resolve.Conflict) resolve.Decision {
	if c.Attempt > maxRetries {
		return resolve.Decision{Action: resolve.ActionFail, Reason: "giving up after " + strconv.Itoa(maxRetries) + " retries"}
	}
	retry := func(why string) resolve.Decision {
		return resolve.Decision{Action: resolve.ActionRetry, Reason: why}
	}
	switch {
	case c.Kind != resolve.KindWrite:
		return retry("only write conflicts are merged")
	case c.Op == resolve.OpDelete:
		return retry("a delete is retried, not merged")
	case c.Theirs == nil:
		return retry("the document was deleted meanwhile")
	case c.Base == nil || c.Mine == nil:
		return retry("no base to merge against")
	}
	// _id and _rev come from theirs: the merge is written on their
	// revision. The error, if any, quotes a bounded clip of the input.
	doc, _, err := resolve.MergeDocs(c.Base, c.Mine, c.Theirs, rules)
	if err != nil {
		return resolve.Decision{Action: resolve.ActionFail, Reason: err.Error()}
	}
	return resolve.Decision{Action: resolve.ActionMerge, Doc: doc, Reason: "three-way merge"}
}
`},
	{"decide_test.go", `package main

import (
	"context"
	"reflect"
	"testing"

	"[[.Module]]/plugins/pdk/pdktest"
	"[[.Module]]/resolve"
)

// TestDecide runs the fixtures through the native Decide, with the
// store's rules. resolver test runs them through the built module.
func TestDecide(t *testing.T) {
	fixtures, err := pdktest.ReadFixtures("testdata/conflicts")
	if err != nil {
		t.Fatal(err)
	}
	native := resolve.NewStrategy(Description, Decide)
	for _, f := range fixtures {
		for i, c := range f.Cases {
			got, err := native.Resolve(context.Background(), &c.Conflict)
			if err == nil {
				err = pdktest.StoreRules(Description, &c.Conflict, got)
			}
			if err != nil {
				t.Errorf("%s case %d: %v", f.File, i, err)
			}
			if !reflect.DeepEqual(got, c.Want) {
				t.Errorf("%s case %d: Decide = %+v, want %+v", f.File, i, got, c.Want)
			}
		}
	}
}
`},
	{"testdata/conflicts/NAME.json", `{
  "about": "[[.Name]]: concurrent tastings add up; a color we changed is ours; a delete is retried",
  "plugin": "[[.Name]]",
  "cases": [
    {
      "conflict": {"abi": 1, "kind": "write", "op": "update", "db": "fruits", "id": "f1", "attempt": 1, "elapsed_ms": 2,
        "base": {"_id": "f1", "_rev": "3-a", "color": "red", "tastings": 4},
        "mine": {"_id": "f1", "_rev": "3-a", "color": "red", "tastings": 5},
        "theirs": {"_id": "f1", "_rev": "4-b", "color": "red", "tastings": 5},
        "conflicts": [], "base_missing": false},
      "want": {"action": "merge", "doc": {"_id": "f1", "_rev": "4-b", "color": "red", "tastings": 6}, "reason": "three-way merge"}
    },
    {
      "conflict": {"abi": 1, "kind": "write", "op": "update", "db": "fruits", "id": "f1", "attempt": 1, "elapsed_ms": 2,
        "base": {"_id": "f1", "_rev": "3-a", "color": "red", "tastings": 4},
        "mine": {"_id": "f1", "_rev": "3-a", "color": "blue", "tastings": 4},
        "theirs": {"_id": "f1", "_rev": "4-b", "color": "red", "tastings": 5},
        "conflicts": [], "base_missing": false},
      "want": {"action": "merge", "doc": {"_id": "f1", "_rev": "4-b", "color": "blue", "tastings": 5}, "reason": "three-way merge"}
    },
    {
      "conflict": {"abi": 1, "kind": "write", "op": "delete", "db": "fruits", "id": "f1", "attempt": 2, "elapsed_ms": 2,
        "base": {"_id": "f1", "_rev": "3-a", "tastings": 4}, "mine": {"_id": "f1", "_rev": "3-a", "_deleted": true}, "theirs": {"_id": "f1", "_rev": "4-b", "tastings": 5},
        "conflicts": [], "base_missing": false},
      "want": {"action": "retry", "reason": "a delete is retried, not merged"}
    }
  ]
}
`},
	{"README.md", `# [[.Name]]

An Accord resolver plugin in Go: a three-way merge (counters add up,
other fields keep the side that changed them). It builds against the
accord checkout at [[.Accord]] (the replace line in go.mod).

    go test ./...                       # the native decision on the fixtures
    resolver build .                    # [[.Name]].wasm, its size and sha256
    resolver test [[.Name]].wasm          # the fixtures through the built module
    resolver describe [[.Name]].wasm

Serve the fruit sample with it, from the accord checkout:

    cd [[.Accord]] && go run ./samples/fruitsvc -plugin $OLDPWD/[[.Name]].wasm

and make loadgen's audit your acceptance test: every acknowledged
tasting must be counted (docs/writing-resolvers.md).
`},
}

// asFiles are an AssemblyScript plugin's: a retry with a fixed wait,
// which reads no document.
var asFiles = []scaffoldFile{
	{"index.ts", `// [[.Name]]: an Accord resolver plugin in AssemblyScript. It retries
// after delay_ms (default 5), at most max_retries times (default 20),
// then gives up. It reads no document. Build it with: resolver build .
import { JSON } from "assemblyscript-json/assembly";
import { register, onConfigure, Conflict, Decision, Description } from "pdk/assemblyscript";
export { accord_abi_version, accord_alloc, accord_resolve, accord_configure, accord_describe } from "pdk/assemblyscript";

let maxRetries: i64 = 20;
let delayMS: i64 = 5;

register(
  new Description("[[.Name]]", "0.1.0", "retries after delay_ms, at most max_retries times", []),
  (c: Conflict): Decision => {
    if (<i64>c.attempt > maxRetries) {
      return Decision.fail("giving up after " + maxRetries.toString() + " retries");
    }
    return Decision.retry(delayMS, "retry " + c.attempt.toString() + " of " + maxRetries.toString());
  },
);

onConfigure((params: JSON.Obj): string | null => {
  const keys = params.keys;
  for (let i = 0; i < keys.length; i++) {
    const v = params.getInteger(keys[i]);
    if (v == null || v.valueOf() < 0 || v.valueOf() > 1000) return keys[i] + " is not an integer in [0, 1000]";
    if (keys[i] == "max_retries") maxRetries = v.valueOf();
    else if (keys[i] == "delay_ms") delayMS = v.valueOf();
    else return "unknown parameter " + keys[i];
  }
  return null;
});
`},
	{"package.json", `{
  "name": "[[.Name]]",
  "private": true,
  "description": "An Accord resolver plugin in AssemblyScript",
  "devDependencies": {
    "assemblyscript": "0.28.20",
    "assemblyscript-json": "1.1.0"
  }
}
`},
	{"testdata/conflicts/NAME.json", `{
  "about": "[[.Name]]: retries after 5 ms, 20 times, then gives up",
  "plugin": "[[.Name]]",
  "cases": [
    {
      "conflict": {"abi": 1, "kind": "write", "op": "update", "db": "fruits", "id": "f1", "attempt": 1, "elapsed_ms": 2, "base": null, "mine": null, "theirs": null, "conflicts": [], "base_missing": false},
      "want": {"action": "retry", "delay_ms": 5, "reason": "retry 1 of 20"}
    },
    {
      "conflict": {"abi": 1, "kind": "write", "op": "update", "db": "fruits", "id": "f1", "attempt": 21, "elapsed_ms": 200, "base": null, "mine": null, "theirs": null, "conflicts": [], "base_missing": false},
      "want": {"action": "fail", "reason": "giving up after 20 retries"}
    }
  ]
}
`},
	{"README.md", `# [[.Name]]

An Accord resolver plugin in AssemblyScript. It builds with the
AssemblyScript compiler and JSON library pinned in package.json; with no
node_modules here, resolver build uses the accord checkout's at
[[.Accord]] (npm ci there), and the kit (pdk/assemblyscript) from it.

    resolver build .                    # [[.Name]].wasm, its size and sha256
    resolver test [[.Name]].wasm          # the fixtures through the built module
    resolver describe [[.Name]].wasm

Serve the fruit sample with it, from the accord checkout:

    cd [[.Accord]] && go run ./samples/fruitsvc -plugin $OLDPWD/[[.Name]].wasm
`},
}
