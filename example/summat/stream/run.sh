#!/usr/bin/env sh
# Sentences as server-sent events, against a running owt (`make run` from the repo root):
#   data: {"sentence": "Ey up.", "words": 2}  ...  data: [DONE]
set -eu
here=$(dirname "$0")
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"
code=$(base64 < "$here/sentences.py" | tr -d '\n')
text=${1:-"Ey up. Dr. Foster went to Gloucester. Did he step in a puddle? Aye, right up to his middle!"}
kwargs=$(printf '{"text": "%s"}' "$text" | base64 | tr -d '\n')

# The same call as an address for a browser, on stderr (stdout is the stream).
echo "open in a browser: $url/?code_b64=$code&kwargs_b64=$kwargs" >&2
curl -sN -G "$url/" --data-urlencode "code_b64=$code" --data-urlencode "kwargs_b64=$kwargs"
