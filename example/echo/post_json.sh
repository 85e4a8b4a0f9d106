#!/usr/bin/env bash
# POST a JSON body: the adaptor file as code_b64, plain JSON kwargs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"
code=$(base64 < "$here/${ADAPTOR:-echo.py}" | tr -d '\n')
curl -sS --fail-with-body "$url/echo" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"kwargs\": {\"name\": \"${1:-owt}\", \"n\": 3}}"
echo
