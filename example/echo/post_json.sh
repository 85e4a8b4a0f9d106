#!/usr/bin/env bash
# POST a JSON body: the adaptor file as code_b64, plain JSON kwargs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
code=$(b64 < "$here/${ADAPTOR:-echo.py}")
owt_curl "$url/echo" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"kwargs\": {\"name\": $(json_string "${1:-owt}"), \"n\": 3}}"
echo
