#!/usr/bin/env bash
# Self-contained: the adaptor is written inline, base64-encoded and sent with its arguments.
# Run `make run` first (or set OWT_PORT / OWT_ADDRESS to another server).
set -euo pipefail
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"
code=$(printf '%s\n' 'def run(name="world"):' '    return f"Hello, {name}!"' | base64 | tr -d '\n')
kwargs=$(printf '{"name": "%s"}' "${1:-owt}" | base64 | tr -d '\n')
curl -sS --fail-with-body "$url/echo?code_b64=$code&kwargs_b64=$kwargs"
echo
