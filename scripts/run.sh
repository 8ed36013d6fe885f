#!/usr/bin/env bash
# make run: start a local CouchDB-compatible server (pouchdb-server, data
# kept on disk under .data/), install the sample database with dbinstall,
# and run the backoff sample service in the foreground. Ctrl-C stops
# everything this script started.
#
# Environment:
#   COUCHDB_URL    use this server instead of starting pouchdb-server
#                  (e.g. http://admin:secret@127.0.0.1:5984)
#   COUCHDB_PORT   port for the local pouchdb-server (default 5984)
#   SAMPLE         which sample to run (default backoff)
#   CONFIG         a config file of your own instead of the sample's
#   PLUGIN         the resolver instead of the config's: a built-in's name
#                  or a .wasm / .wasm.gz file (fruitsvc -plugin)
#   PARAMS         the resolver's parameters as a JSON object (-params)
#   PORT           the service's port (default 8445)
#   COUCHDB_URL2   SAMPLE=multimaster only: the second server, instead of a
#                  second pouchdb-server on COUCHDB_PORT+1
#
# SAMPLE=multimaster starts two servers, replicates accord_sample between
# them both ways, continuously, and runs a service on each: PORT on the
# first server, PORT+1 on the second (samples/multimaster/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

sample=${SAMPLE:-backoff}
port=${PORT:-8445}
couch_port=${COUCHDB_PORT:-5984}
server_pids=()
svc_pids=()

cleanup() {
  trap - INT TERM EXIT
  for pid in "${svc_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -INT "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${server_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "stopping pouchdb-server (pid $pid)"
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

config=${CONFIG:-samples/$sample/config.yaml}
[ -f "$config" ] || { echo "no config $config: name a sample (see samples/README.md) or CONFIG=<file>" >&2; exit 2; }
resolver_flags=()
[ -n "${PLUGIN:-}" ] && resolver_flags+=(-plugin "$PLUGIN")
[ -n "${PARAMS:-}" ] && resolver_flags+=(-params "$PARAMS")

echo "building the service and the installer into bin/"
mkdir -p bin
go build -o bin/fruitsvc ./samples/fruitsvc
go build -o bin/dbinstall ./tools/dbinstall

# start_pouchdb PORT DIR starts pouchdb-server on 127.0.0.1:PORT with its
# data in DIR and waits until it answers.
start_pouchdb() {
  local port=$1 dir=$2
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is already taken: stop what runs there, or set COUCHDB_PORT=<free port>," >&2
    echo "or point COUCHDB_URL at that server if it is a CouchDB you want to use" >&2
    exit 1
  fi
  mkdir -p "$dir"
  echo "starting pouchdb-server on 127.0.0.1:$port (data and logs in $dir)"
  (cd "$dir" && exec "$OLDPWD/node_modules/.bin/pouchdb-server" --host 127.0.0.1 --port "$port" \
      --dir . --config ./config.json --no-stdout-logs >>server.log 2>&1) &
  local pid=$!
  server_pids+=("$pid")
  up() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
  for _ in $(seq 1 150); do
    if up; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "pouchdb-server exited; see $dir/log.txt" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "pouchdb-server did not answer on 127.0.0.1:$port within 30 s; see $dir/log.txt" >&2
  exit 1
}

if [ -n "${COUCHDB_URL:-}" ]; then
  couch_url=${COUCHDB_URL%/}
  echo "using the CouchDB at COUCHDB_URL"
else
  start_pouchdb "$couch_port" .data/couchdb
  couch_url="http://127.0.0.1:$couch_port"
fi

if [ "$sample" = multimaster ]; then
  go build -o bin/replicate ./tools/replicate
  if [ -n "${COUCHDB_URL2:-}" ]; then
    couch_url2=${COUCHDB_URL2%/}
  else
    start_pouchdb $((couch_port + 1)) .data/couchdb2
    couch_url2="http://127.0.0.1:$((couch_port + 1))"
  fi
  bin/dbinstall -host "$couch_url" -database accord_sample
  bin/dbinstall -host "$couch_url2" -database accord_sample
  bin/replicate -continuous -both "$couch_url/accord_sample" "$couch_url2/accord_sample"
  echo
  echo "the multimaster sample: http://127.0.0.1:$port on the first server, http://127.0.0.1:$((port + 1)) on the second; try:"
  echo "  curl -s -X POST -H 'Content-Type: application/json' -d '{\"color\":\"red\"}' http://127.0.0.1:$port/v1.0/fruits"
  echo "  curl -s http://127.0.0.1:$((port + 1))/v1.0/fruits"
  echo "Ctrl-C stops the services and the servers."
  echo
  bin/fruitsvc -config "$config" "${resolver_flags[@]}" -port "$port" -database "$couch_url/accord_sample" -sweep-peer "$couch_url2/accord_sample" &
  svc_pids+=($!)
  bin/fruitsvc -config "$config" "${resolver_flags[@]}" -port $((port + 1)) -database "$couch_url2/accord_sample" -sweep-peer "$couch_url/accord_sample" &
  svc_pids+=($!)
  wait -n "${svc_pids[@]}"
  exit $?
fi

# A sample that signs its documents (tampering) has its seed fruit signed
# with the same keys; seed fruit already installed unsigned are left alone
# (and refused by that sample): start again with dbinstall -delete=true.
install_flags=()
[ -f "samples/$sample/signing.keys" ] && install_flags+=(-seeddocsigner "samples/$sample/signing.keys")
bin/dbinstall -host "$couch_url" -database accord_sample "${install_flags[@]}"

echo
echo "the $sample sample listens on http://127.0.0.1:$port; try:"
echo "  curl -s -X POST -H 'Content-Type: application/json' -d '{\"color\":\"red\"}' http://127.0.0.1:$port/v1.0/fruits"
echo "  curl -s http://127.0.0.1:$port/v1.0/fruits"
echo "  make loadgen    # in another terminal: the seed's conflict recipe against it"
echo "Ctrl-C stops the service and the server."
echo
bin/fruitsvc -config "$config" "${resolver_flags[@]}" -port "$port" -database "$couch_url/accord_sample" &
svc_pids+=($!)
wait "${svc_pids[0]}"
