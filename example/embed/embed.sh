#!/usr/bin/env bash
# Embed texts with all-MiniLM-L6-v2 through owt, from curl:
#   example/embed/embed.sh "A cat sat on the mat." "Dogs bark."   # {"vectors": [[...384...], ...], "dim": 384}
# The server needs the embeddings environment: owt serve --env embed=.venv-embed/bin/python
# (OWT_ENV names another; OWT_ADDRESS / OWT_PORT / OWT_TOKEN the server).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
(($#)) || { echo "usage: embed.sh TEXT..." >&2; exit 2; }

texts=$(for text in "$@"; do json_string "$text"; echo; done | paste -sd, -)
code=$(b64 < "$here/../../owt/lib/embed.py")
owt_curl "$url/embed" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"env\": $(json_string "${OWT_ENV:-embed}"), \"kwargs\": {\"texts\": [$texts]}}"
echo
