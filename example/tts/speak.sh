#!/usr/bin/env bash
# Speak text through owt and save each sentence as soon as it arrives:
#   example/tts/speak.sh "Hello there. How are you?" [OUT_DIR]   # sentence0.wav, sentence1.wav
# It sends owt's TTS adaptor (owt/lib/tts.py) as code_b64 and reads the server-sent events
# with curl, sed and base64 only. OWT_ADDRESS / OWT_PORT name the server (`make run` first);
# VOICE (en, en-us, fr, de...) and SPEED (words per minute) are passed on.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"
text=${1:?usage: speak.sh TEXT [OUT_DIR]}
out=${2:-.}
mkdir -p "$out"

json_string() {  # stdin as the inside of a JSON string
  tr -d '\r' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | awk 'BEGIN { ORS = "\\n" } { print }'
}

code=$(base64 < "$here/../../owt/lib/tts.py" | tr -d '\n')
body=$(printf '{"code_b64": "%s", "kwargs": {"text": "%s", "voice": "%s", "speed": %d}}' \
  "$code" "$(printf '%s' "$text" | json_string)" "${VOICE:-en}" "${SPEED:-175}")

printf '%s' "$body" |
  curl -sS -N "$url/tts" -H 'content-type: application/json' --data-binary @- |
  {
    n=0
    while IFS= read -r line || [[ -n $line ]]; do
      case $line in
        'data: [DONE]') echo "saved $n sentence(s) in $out"; exit 0 ;;
        'data: {'*)
          printf '%s' "$line" | sed -n 's/.*"sentence": *"\([^"]*\)".*/\1/p' |
            base64 -d > "$out/sentence$n.wav"
          said=$(printf '%s' "$line" | sed -n 's/.*"text": *"\(\([^"\\]\|\\.\)*\)".*/\1/p' |
            sed 's/\\\(.\)/\1/g')
          echo "sentence$n.wav  $said"
          n=$((n + 1)) ;;
        'id: '*|'') ;;
        *) echo "owt: $line" >&2; exit 1 ;;
      esac
    done
    echo "the stream ended before [DONE]" >&2
    exit 1
  }
