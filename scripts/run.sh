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
set -euo pipefail
cd "$(dirname "$0")/.."

sample=${SAMPLE:-backoff}
port=${PORT:-8445}
couch_port=${COUCHDB_PORT:-5984}
server_pid=""
svc_pid=""

cleanup() {
  trap - INT TERM EXIT
  if [ -n "$svc_pid" ] && kill -0 "$svc_pid" 2>/dev/null; then
    kill -INT "$svc_pid" 2>/dev/null || true
    wait "$svc_pid" 2>/dev/null || true
  fi
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    echo "stopping pouchdb-server (pid $server_pid)"
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
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

if [ -n "${COUCHDB_URL:-}" ]; then
  couch_url=${COUCHDB_URL%/}
  echo "using the CouchDB at COUCHDB_URL"
else
  if (exec 3<>"/dev/tcp/127.0.0.1/$couch_port") 2>/dev/null; then
    echo "port $couch_port is already taken: stop what runs there, or set COUCHDB_PORT=<free port>," >&2
    echo "or point COUCHDB_URL at that server if it is a CouchDB you want to use" >&2
    exit 1
  fi
  mkdir -p .data/couchdb
  echo "starting pouchdb-server on 127.0.0.1:$couch_port (data and logs in .data/couchdb)"
  (cd .data/couchdb && exec ../../node_modules/.bin/pouchdb-server --host 127.0.0.1 --port "$couch_port" \
      --dir . --config ./config.json --no-stdout-logs >>server.log 2>&1) &
  server_pid=$!
  couch_url="http://127.0.0.1:$couch_port"
  up() { (exec 3<>"/dev/tcp/127.0.0.1/$couch_port") 2>/dev/null; }
  for _ in $(seq 1 150); do
    if up; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "pouchdb-server exited; see .data/couchdb/log.txt" >&2
      exit 1
    fi
    sleep 0.2
  done
  up || { echo "pouchdb-server did not answer on $couch_url within 30 s; see .data/couchdb/log.txt" >&2; exit 1; }
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
svc_pid=$!
wait "$svc_pid"
