#!/usr/bin/env bash
# Read-a-file-and-shout with owt.summat, against a running owt (`make run` from the repo root).
#   ./example/summat/simple/run.sh        → SERVE UP OWT YER FANCY ON T'FLY.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../common.sh"
code=$(b64 < "$here/shout.py")

# POST JSON: the adaptor file, base64, with plain JSON arguments.
owt_curl "$url/" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"kwargs\": {\"path\": \"summat/simple/owt.txt\"}}"

# GET: the same call as a URL (arguments as base64 JSON).
kwargs=$(printf '{"path": "summat/simple/owt.txt"}' | b64)
owt_curl -G "$url/" --data-urlencode "code_b64=$code" --data-urlencode "kwargs_b64=$kwargs"

# A terse pipe (no pipe() in front) reading the URL path: /hello/owt → Hello owt!
terse=$(printf '%s' 'path().f(lambda names: f"Hello {names[-1]}!\n")' | b64)
owt_curl -G "$url/hello/owt" --data-urlencode "code_b64=$terse"

# Escaping root_dir is refused: 403 forbidden, naming no path of the server (its first 200
# characters shown).
escape=$(printf '{"path": "../pyproject.toml"}' | b64)
refusal=$(owt_expect 403 -G "$url/" --data-urlencode "code_b64=$code" \
  --data-urlencode "kwargs_b64=$escape")
printf '%s\n' "${refusal:0:200}"
