#!/usr/bin/env bash
# Installs wat2wasm from Debian's wabt package, used to rebuild the
# hand-written test modules under engine/testdata.
set -euo pipefail
if command -v wat2wasm >/dev/null 2>&1; then exit 0; fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
    echo "wat2wasm is missing and this user cannot install it: run 'apt-get install wabt' as root" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q wabt >/dev/null 2>&1 || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q wabt >/dev/null; }
command -v wat2wasm >/dev/null || { echo "installing wabt failed: run 'apt-get install wabt'" >&2; exit 1; }
