#!/usr/bin/env bash
# The wrapper called with no adaptor file at all: the code is the one expression
# f(sota.hard_task), the argument a bare JSON string. Needs a server with --lib example/lib
# (`make run` gives it one).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
code=$(printf 'f(sota.hard_task)' | b64)
kwargs=$(json_string "${1:-solve AGI}" | b64)
if ! answer=$(owt_curl "$url/owt" -H 'content-type: application/json' \
  -d "{\"code_b64\": \"$code\", \"kwargs_b64\": \"$kwargs\"}"); then
  printf '%s\n' "$answer" >&2
  if [[ $answer == *"name 'sota' is not defined"* ]]; then
    echo "the server at $url does not serve example/lib: start it with --lib example/lib" \
      "(from the repository root; make run does)" >&2
  fi
  exit 1
fi
printf '%s\n' "$answer"
