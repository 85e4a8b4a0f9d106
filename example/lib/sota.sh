#!/usr/bin/env bash
# The wrapper called with no adaptor file at all: the code is the one expression
# f(sota.hard_task), the argument a bare JSON string. Needs a server with --lib example/lib
# (`make run` gives it one).
set -euo pipefail
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"
code=$(printf 'f(sota.hard_task)' | base64 | tr -d '\n')
curl -sS --fail-with-body "$url/owt" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"kwargs_b64\": \"$(printf '"%s"' "${1:-solve AGI}" | base64 | tr -d '\n')\"}"
