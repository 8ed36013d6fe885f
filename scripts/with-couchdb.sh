#!/usr/bin/env bash
# with-couchdb.sh CMD [ARGS...]: run CMD with COUCHDB_URL pointing at an
# Apache CouchDB 3.x.
#
# With COUCHDB_URL already set, CMD runs against that server as it is.
# Otherwise a single-node Apache CouchDB is started from COUCHDB_DIST (default
# ../shared/couchdb, a folder holding the `couchdb` start script) in a
# temporary directory, and stopped and removed when CMD ends; its log is
# shown if CMD fails. COUCHDB_DIST is exported (as an absolute path) so that
# tests that need more servers, or need to stop and restart one, can start
# their own the same way.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

if [ -n "${COUCHDB_URL:-}" ]; then
  echo "with-couchdb: using the server at COUCHDB_URL"
  exec "$@"
fi

dist=${COUCHDB_DIST:-../shared/couchdb}
if [ ! -x "$dist/couchdb" ]; then
  echo "with-couchdb: no Apache CouchDB: $dist/couchdb is missing." >&2
  echo "Set COUCHDB_DIST to the folder that holds the couchdb start script," >&2
  echo "or COUCHDB_URL to a running Apache CouchDB 3.x (http://admin:secret@127.0.0.1:5984)." >&2
  exit 1
fi
dist=$(cd "$dist" && pwd)
export COUCHDB_DIST=$dist

dir=$(mktemp -d "${TMPDIR:-/tmp}/accord-couchdb.XXXXXX")
cleanup() {
  "$dist/couchdb" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$(date +%s)
url=$("$dist/couchdb" start "$dir")
version=$(curl -s "$url/" | sed -n 's/.*"version":"\([^"]*\)".*/\1/p')
echo "with-couchdb: Apache CouchDB ${version:-?} up on ${url##*@} in $(( $(date +%s) - start )) s"
export COUCHDB_URL=$url

set +e
"$@"
rc=$?
set -e
if [ $rc -ne 0 ]; then
  echo "with-couchdb: '$*' failed ($rc); the end of the server's log:" >&2
  tail -n 40 "$dir/couch.log" | cut -c1-400 >&2 || true
fi
exit $rc
