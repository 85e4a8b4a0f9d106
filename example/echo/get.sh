#!/usr/bin/env bash
# GET with the adaptor and its arguments in the query string (URL-safe base64).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
code=$(b64url < "$here/${ADAPTOR:-echo.py}")
kwargs=$(printf '{"name": %s}' "$(json_string "${1:-owt}")" | b64url)
owt_curl "$url${REQUEST_PATH:-/echo}?code_b64=$code&kwargs_b64=$kwargs"
echo
