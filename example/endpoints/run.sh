#!/usr/bin/env sh
# A mounted endpoint called with curl and plain query parameters, against a running owt
# started from the repository root with:
#   owt serve --mount greet=example/endpoints/greet.py
# then:  ./example/endpoints/run.sh    (OWT_PORT, OWT_ADDRESS pick the server)
set -eu
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"

if ! curl -sf -o /dev/null "$url/greet?name=owt"; then
    echo "no /greet endpoint at $url: start owt from the repository root with" >&2
    echo "  owt serve --mount greet=example/endpoints/greet.py" >&2
    exit 1
fi

curl -s "$url/greet?name=owt"                           # Hello, owt!
curl -s "$url/greet?name=owt&times=2&style=shout"       # HELLO, OWT! twice
curl -s "$url/greet?name=owt&tag=python&tag=http"       # repeated → list[str]
curl -s "$url/greet" -H 'content-type: application/json' -d '{"name": "JSON", "times": 1}'
curl -s "$url/greet?name=owt&times=lots"                # 400: parameter 'times' expects an integer
echo
