#!/usr/bin/env bash
# Sentences as server-sent events, against a running owt (`make run` from the repo root):
#   ./example/summat/stream/run.sh ['Any text. More of it.']
#   id: 1 / data: {"sentence": "Ey up.", "words": 2}  ...  id: [DONE] / data: [DONE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../common.sh"
code=$(b64url < "$here/sentences.py")
text=${1:-"Ey up. Dr. Foster went to Gloucester. Did he step in a puddle? Aye, right up to his middle!"}
kwargs=$(printf '{"text": %s}' "$(json_string "$text")" | b64url)

# The same call as an address for a browser, on stderr (stdout is the stream).
echo "open in a browser: $url/?code_b64=$code&kwargs_b64=$kwargs" >&2
owt_curl -N "$url/?code_b64=$code&kwargs_b64=$kwargs"
