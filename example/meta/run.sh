#!/usr/bin/env bash
# Forward a payload through nested owt servers: ./run.sh [DEPTH] [PAYLOAD]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"
code=$(base64 < "$here/meta.py" | tr -d '\n')
curl -sS --fail-with-body "$url/meta" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"kwargs\": {\"depth\": ${1:-3}, \"payload\": \"${2:-hello}\"}}"
echo
