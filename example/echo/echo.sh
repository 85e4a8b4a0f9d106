#!/usr/bin/env bash
# Self-contained: the adaptor is written inline, base64-encoded and sent with its arguments.
# Run `make run` first (OWT_PORT, OWT_ADDRESS, OWT_TOKEN: see example/README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
code=$(printf '%s\n' 'def run(name="world"):' '    return f"Hello, {name}!"' | b64)
kwargs=$(printf '{"name": %s}' "$(json_string "${1:-owt}")" | b64)
owt_curl -G "$url/echo" --data-urlencode "code_b64=$code" --data-urlencode "kwargs_b64=$kwargs"
echo
