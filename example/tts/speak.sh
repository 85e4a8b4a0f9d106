#!/usr/bin/env bash
# Speak text through owt and save each sentence as soon as it arrives:
#   example/tts/speak.sh "Hello there. How are you?" [OUT_DIR]   # sentence0.wav, sentence1.wav
# It sends owt's TTS adaptor (owt/lib/tts.py) as code_b64 and reads the server-sent events
# with curl, sed and base64 only. OWT_ADDRESS / OWT_PORT / OWT_TOKEN name the server (`make
# run` first; example/README.md); VOICE (en, en-us, fr, de...) and SPEED (words per minute)
# are passed on.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../common.sh"
text=${1:?usage: speak.sh TEXT [OUT_DIR]}
out=${2:-.}
speed=${SPEED:-175}
[[ $speed =~ ^[0-9]+$ ]] || { echo "SPEED is words per minute, a whole number" >&2; exit 2; }
mkdir -p "$out"

code=$(b64 < "$here/../../owt/lib/tts.py")
body=$(printf '{"code_b64": "%s", "kwargs": {"text": %s, "voice": %s, "speed": %s}}' \
  "$code" "$(json_string "$text")" "$(json_string "${VOICE:-en}")" "$speed")

printf '%s' "$body" |
  owt_curl -N "$url/tts" -H 'content-type: application/json' --data-binary @- |
  {
    # Each event is an id line, then its data line. The stream ends at the event whose id is
    # [DONE] (its data is [DONE] too, but so would be an item that is that text, with a number
    # as its id); an error event carries the server's JSON error as its data.
    n=0 id='' event=''
    while IFS= read -r line || [[ -n $line ]]; do
      case $line in
        'id: '*) id=${line#id: } ;;
        'event: '*) event=${line#event: } ;;
        'data: '*)
          if [[ $event == error ]]; then echo "owt: ${line#data: }" >&2; exit 1; fi
          if [[ $id == '[DONE]' ]]; then echo "saved $n sentence(s) in $out"; exit 0; fi
          [[ $line == 'data: {'* ]] || { echo "owt: not a sentence: $line" >&2; exit 1; }
          printf '%s' "$line" | sed -n 's/.*"sentence": *"\([^"]*\)".*/\1/p' |
            base64 -d > "$out/sentence$n.wav"
          said=$(printf '%s' "$line" | sed -n 's/.*"text": *"\(\([^"\\]\|\\.\)*\)".*/\1/p' |
            sed 's/\\\(.\)/\1/g')
          echo "sentence$n.wav  $said"
          n=$((n + 1)) ;;
        '') id='' event='' ;;
        *) echo "owt: $line" >&2; exit 1 ;;
      esac
    done
    echo "the stream ended before its last event (the one with the id [DONE])" >&2
    exit 1
  }
