#!/usr/bin/env bash
# How close in meaning two texts are (cosine similarity of their embeddings, -1 to 1):
#   example/embed/similar.sh "How old are you?" "What is your age?"   # 0.76...
# Sends `from owt.lib.embed import similarity` to the embeddings environment (see embed.sh).
set -euo pipefail
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"
(($# == 2)) || { echo "usage: similar.sh TEXT_A TEXT_B" >&2; exit 2; }

json_string() {  # $1 as a JSON string
  printf '"%s"\n' "$(printf '%s' "$1" | tr -d '\r' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' |
    awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }')"
}

code=$(printf 'from owt.lib.embed import similarity\n' | base64 | tr -d '\n')
curl -sS --fail-with-body "$url/similarity" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"env\": \"${OWT_ENV:-embed}\", \"fn_name\": \"similarity\",
       \"kwargs\": {\"a\": $(json_string "$1"), \"b\": $(json_string "$2")}}"
echo
