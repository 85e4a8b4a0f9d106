#!/usr/bin/env bash
# Forward a payload through nested owt servers: ./run.sh [DEPTH] [PAYLOAD]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
depth=${1:-3}
[[ $depth =~ ^[0-9]+$ ]] || { echo "usage: run.sh [DEPTH] [PAYLOAD] (DEPTH a whole number)" >&2; exit 2; }
code=$(b64 < "$here/meta.py")
owt_curl "$url/meta" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"kwargs\": {\"depth\": $depth, \"payload\": $(json_string "${2:-hello}")}}"
echo
