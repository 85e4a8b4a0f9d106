#!/usr/bin/env bash
# GET with the adaptor and its arguments in the query string (URL-safe base64).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"
b64url() { base64 | tr -d '\n=' | tr '+/' '-_'; }
code=$(b64url < "$here/${ADAPTOR:-echo.py}")
kwargs=$(printf '{"name": "%s"}' "${1:-owt}" | b64url)
curl -sS --fail-with-body "$url${REQUEST_PATH:-/echo}?code_b64=$code&kwargs_b64=$kwargs"
echo
