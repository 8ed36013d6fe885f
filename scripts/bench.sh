#!/usr/bin/env bash
# make bench: issue 14's figures, each against its baseline of the same
# run, from one run of the benchmarks and of loadgen, printed as a table
# by tools/benchreport.
#
#   1. the engine's BenchmarkDecision (a decision with and without
#      deadline enforcement, and a CouchDB GET as the yardstick),
#      BenchmarkEnforcement (the same for every plugin, where the engine
#      has it), BenchmarkLoad, BenchmarkLoadBuiltins and BenchmarkMemory;
#   2. samples/fruit's BenchmarkServiceVsCouch (the service against the
#      bare client doing the same read or write), and BenchmarkLoopbackHop
#      (what one extra loopback HTTP hop through a trivial Go proxy costs
#      a document GET: the floor under that ratio; service-hop.txt);
#   3. loadgen's seed recipe (25 workers, 10 fruit, 20 % GET, 40 %
#      tastings, 40 % PUT) against fruitsvc running the backoff sample,
#      with -baseline-couch: service GETs against raw CouchDB GETs.
#
# Every step talks to one server: COUCHDB_URL if set (make bench-couchdb
# sets it to an Apache CouchDB it starts), else a pouchdb-server started
# here, in memory, for the run.
#
# Environment:
#   COUCHDB_URL       the server to use (with credentials, e.g.
#                     http://admin:secret@127.0.0.1:5984)
#   BENCH_OUT         keep the raw outputs in this directory (default: a
#                     temporary one, removed at the end)
#   BENCH_COUNT       runs of each benchmark (default 3; the report takes
#                     the median)
#   LOADGEN_DURATION  the loadgen mix (default 15s, the seed's)
#   BASELINE_DURATION each loadgen baseline phase (default 10s)
#   BENCH_STEPS       the steps to run, of engine, service, loadgen
#                     (default all three); the others' figures are missing
#   BENCH_PPROF       a loopback address (127.0.0.1:6060): fruitsvc serves
#                     its profiles there during the loadgen run
set -euo pipefail
cd "$(dirname "$0")/.."

count=${BENCH_COUNT:-3}
steps=${BENCH_STEPS:-engine,service,loadgen}
mix=${LOADGEN_DURATION:-15s}
phase=${BASELINE_DURATION:-10s}
pids=()
tmp=$(mktemp -d "${TMPDIR:-/tmp}/accord-bench.XXXXXX")
out=${BENCH_OUT:-$tmp}
mkdir -p "$out"

cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a TCP port nothing listens on.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "bench: no free port found" >&2
  exit 1
}

# wait_http URL SECONDS waits until URL answers.
wait_http() {
  for _ in $(seq 1 $(($2 * 5))); do
    if curl -sf -o /dev/null "$1"; then return 0; fi
    sleep 0.2
  done
  echo "bench: $1 did not answer within $2 s" >&2
  return 1
}

if [ -n "${COUCHDB_URL:-}" ]; then
  couch_url=${COUCHDB_URL%/}
  server="the server at COUCHDB_URL"
else
  port=$(free_port)
  mkdir -p "$tmp/pouchdb"
  (cd "$tmp/pouchdb" && exec "$OLDPWD/node_modules/.bin/pouchdb-server" --in-memory --no-stdout-logs \
      --host 127.0.0.1 --port "$port" --config ./config.json >server.log 2>&1) &
  pids+=($!)
  couch_url="http://127.0.0.1:$port"
  wait_http "$couch_url/" 30
  server="pouchdb-server (in memory, started for the run)"
fi
# The server's welcome: {"couchdb":"Welcome","version":"3.4.3",…} or
# pouchdb-server's {"express-pouchdb":"Welcome!","version":"4.2.0",…}.
version=$(curl -s --max-time 10 "$couch_url/" | head -c 2000 | grep -o '"version":"[^"]*"' | head -1 | cut -d'"' -f4 || true)
server="$server, version ${version:-unknown}"
echo "bench: $server" >&2
export COUCHDB_URL=$couch_url

# step NAME says whether the step NAME is to run.
step() { [[ ",$steps," == *",$1,"* ]]; }

# bench FILE ARGS... runs go test -bench ARGS into FILE; a failure is
# reported, and its figures come out missing.
bench() {
  local file=$1
  shift
  go test -run '^$' "$@" | tee "$out/$file" >&2 || echo "bench: go test $* failed; its figures will be missing" >&2
}

if step engine; then
  echo "bench: the engine's benchmarks" >&2
  bench engine-decision.txt -bench '^Benchmark(Decision|Enforcement)$' -benchtime 500ms -count "$count" ./engine/
  bench engine-load.txt -bench '^Benchmark(Load|LoadBuiltins)$' -benchtime 3x -count "$count" ./engine/
  bench engine-memory.txt -bench '^BenchmarkMemory$' -benchtime 1x -count 1 ./engine/
fi

if step service; then
  echo "bench: the service against the bare client" >&2
  bench service.txt -bench '^BenchmarkServiceVsCouch$/op=/via=ratio' -benchtime 300x -count "$count" ./samples/fruit/
  # The floor under the service/couch ratio: one extra loopback hop
  # through a trivial Go proxy (kept in BENCH_OUT; not in the table).
  bench service-hop.txt -bench '^BenchmarkLoopbackHop$/via=ratio' -benchtime 300x -count "$count" ./samples/fruit/
fi

if step loadgen; then
  echo "bench: loadgen, the seed's recipe, with the raw-GET baseline" >&2
  mkdir -p "$tmp/bin"
  go build -o "$tmp/bin/fruitsvc" ./samples/fruitsvc
  go build -o "$tmp/bin/dbinstall" ./tools/dbinstall
  go build -o "$tmp/bin/loadgen" ./tools/loadgen
  db=accord_bench_$$
  "$tmp/bin/dbinstall" -host "$couch_url" -database "$db" >"$out/dbinstall.log" 2>&1
  svc_port=$(free_port)
  pprof_flags=()
  [ -n "${BENCH_PPROF:-}" ] && pprof_flags+=(-pprof "$BENCH_PPROF")
  "$tmp/bin/fruitsvc" -config samples/backoff/config.yaml -port "$svc_port" -log warn \
      -database "$couch_url/$db" "${pprof_flags[@]}" >"$out/fruitsvc.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$svc_port/v1.0/_health?quick=true" 30
  set +e
  "$tmp/bin/loadgen" -service "http://127.0.0.1:$svc_port" -number-fruit 10 -concurrency 25 \
      -percent-get 20 -percent-taste 40 -percent-put 40 -percent-post 0 -percent-delete 0 \
      -duration "$mix" -baseline-couch "$couch_url/$db" -baseline-duration "$phase" \
      -progress-interval 0 -json "$out/loadgen.json" >"$out/loadgen.txt" 2>&1
  rc=$?
  set -e
  [ $rc -eq 0 ] || echo "bench: loadgen exited $rc (see loadgen.txt); its figures may be missing" >&2
  curl -s -X DELETE "$couch_url/$db" >/dev/null || true
fi

echo >&2
args=()
for f in engine-decision.txt engine-load.txt engine-memory.txt service.txt; do
  [ -s "$out/$f" ] && args+=(-bench "$out/$f")
done
[ -s "$out/loadgen.json" ] && args+=(-loadgen "$out/loadgen.json")
[ ${#args[@]} -gt 0 ] || { echo "bench: nothing was measured" >&2; exit 1; }
go run ./tools/benchreport -title "issue 14's figures on $server, $(date -u +%Y-%m-%dT%H:%MZ)" "${args[@]}"
