#!/usr/bin/env sh
# Read-a-file-and-shout with owt.summat, against a running owt (`make run` from the repo root).
#   ./example/summat/simple/run.sh        → SERVE UP OWT YER FANCY ON T'FLY.
set -eu
here=$(dirname "$0")
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"
code=$(base64 < "$here/shout.py" | tr -d '\n')

# POST JSON: the adaptor file, base64, with plain JSON arguments.
curl -s "$url/" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"kwargs\": {\"path\": \"summat/simple/owt.txt\"}}"

# GET: the same call as a URL (arguments as base64 JSON).
kwargs=$(printf '{"path": "summat/simple/owt.txt"}' | base64 | tr -d '\n')
curl -s -G "$url/" --data-urlencode "code_b64=$code" --data-urlencode "kwargs_b64=$kwargs"

# A terse pipe (no pipe() in front) reading the URL path: /hello/owt → Hello owt!
terse=$(printf '%s' 'path().f(lambda names: f"Hello {names[-1]}!\n")' | base64 | tr -d '\n')
curl -s -G "$url/hello/owt" --data-urlencode "code_b64=$terse"

# Escaping root_dir is refused: 403 forbidden, naming no path of the server.
escape=$(printf '{"path": "../pyproject.toml"}' | base64 | tr -d '\n')
curl -s -G "$url/" --data-urlencode "code_b64=$code" --data-urlencode "kwargs_b64=$escape" \
  | head -c 200
echo
