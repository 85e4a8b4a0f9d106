#!/usr/bin/env bash
# Embed texts with all-MiniLM-L6-v2 through owt, from curl:
#   example/embed/embed.sh "A cat sat on the mat." "Dogs bark."   # {"vectors": [[...384...], ...], "dim": 384}
# The server needs the embeddings environment: owt serve --env embed=.venv-embed/bin/python
# (OWT_ENV names another; OWT_ADDRESS / OWT_PORT the server).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"
(($#)) || { echo "usage: embed.sh TEXT..." >&2; exit 2; }

json_string() {  # $1 as a JSON string
  printf '"%s"\n' "$(printf '%s' "$1" | tr -d '\r' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' |
    awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }')"
}

texts=$(for text in "$@"; do json_string "$text"; done | paste -sd, -)
code=$(base64 < "$here/../../owt/lib/embed.py" | tr -d '\n')
curl -sS --fail-with-body "$url/embed" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"env\": \"${OWT_ENV:-embed}\", \"kwargs\": {\"texts\": [$texts]}}"
echo
