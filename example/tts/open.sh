#!/usr/bin/env bash
# Print the URL of the text-to-speech page (open it in a browser); with --fetch, print the page.
# The page is itself an adaptor (page.py), sent in the URL; run `make run` first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
code=$(b64url < "$here/page.py")
page="$url/speak?code_b64=$code"
# A server started with --token: OWT_TOKEN goes in the URL (a typed address sends no header),
# and the page passes it on to the calls it makes.
if [[ -n "${OWT_TOKEN:-}" ]]; then page="$page&token=$(url_quote "${OWT_TOKEN%%,*}")"; fi
if [[ "${1:-}" == "--fetch" ]]; then owt_curl "$page"; else echo "$page"; fi
