#!/usr/bin/env bash
# A mounted endpoint called with curl and plain query parameters, against a running owt
# started from the repository root with:
#   owt serve --mount greet=example/endpoints/greet.py
# then:  ./example/endpoints/run.sh    (OWT_PORT, OWT_ADDRESS, OWT_TOKEN pick the server)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"

if ! probe=$(owt_curl "$url/greet?name=owt" 2> /dev/null); then
    printf '%s\n' "$probe" >&2
    if [[ $probe == *'"missing_code"'* ]]; then
        echo "no /greet endpoint at $url: start owt from the repository root with" >&2
        echo "  owt serve --mount greet=example/endpoints/greet.py" >&2
    fi
    exit 1
fi

owt_curl "$url/greet?name=owt"                           # Hello, owt!
owt_curl "$url/greet?name=owt&times=2&style=shout"       # HELLO, OWT! twice
owt_curl "$url/greet?name=owt&tag=python&tag=http"       # repeated → list[str]
owt_curl "$url/greet" -H 'content-type: application/json' -d '{"name": "JSON", "times": 1}'
owt_expect 400 "$url/greet?name=owt&times=lots"          # 400: parameter 'times' expects an integer
