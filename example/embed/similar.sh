#!/usr/bin/env bash
# How close in meaning two texts are (cosine similarity of their embeddings, -1 to 1):
#   example/embed/similar.sh "How old are you?" "What is your age?"   # 0.76...
# Sends `from owt.lib.embed import similarity` to the embeddings environment (see embed.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
(($# == 2)) || { echo "usage: similar.sh TEXT_A TEXT_B" >&2; exit 2; }

code=$(printf 'from owt.lib.embed import similarity\n' | b64)
owt_curl "$url/similarity" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"env\": $(json_string "${OWT_ENV:-embed}"), \"fn_name\": \"similarity\",
       \"kwargs\": {\"a\": $(json_string "$1"), \"b\": $(json_string "$2")}}"
echo
