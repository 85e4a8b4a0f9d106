# Sourced by the example scripts (bash): the server they call and how they call it.
#
#   OWT_ADDRESS, OWT_PORT   the server (127.0.0.1:9876, as `make run` serves)
#   OWT_TOKEN               a server started with --token: sent as "Authorization: Bearer"
#                           (of a comma-separated list, as the server reads it, the first)
#
# Every call goes through owt_curl: an error answer ends the script with a non-zero status,
# after the server's JSON error (stdout) and curl's line naming the status (stderr).

url="http://${OWT_ADDRESS:-127.0.0.1}:${OWT_PORT:-9876}"

# curl as the examples call owt: quiet but for errors, the token, failing on an error answer.
owt_curl() {
  _owt_curl -sS --fail-with-body "$@"
}

# owt_expect STATUS CURL_ARGS...: a call planned to be refused with STATUS (a bad argument, a
# path outside root_dir): prints the server's answer, and fails if the status is another.
owt_expect() {
  local want=$1 out status
  shift
  out=$(_owt_curl -sS -w '\n%{http_code}' "$@") || return
  status=${out##*$'\n'}
  printf '%s\n' "${out%$'\n'*}"
  if [[ $status != "$want" ]]; then
    echo "owt answered $status where $want was planned" >&2
    return 1
  fi
}

_owt_curl() {
  if [[ -n ${OWT_TOKEN:-} ]]; then
    # From a file descriptor, not the command line, where other users' `ps` would show it.
    curl -H @<(printf 'Authorization: Bearer %s\n' "${OWT_TOKEN%%,*}") "$@"
  else
    curl "$@"
  fi
}

# json_string TEXT: TEXT as a JSON string, quotes included ('a b"c' → "a b\"c").
json_string() {
  local s=$1 c i
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  for ((i = 1; i < 32; i++)); do  # the other control characters JSON does not take as they are
    printf -v c "\\$(printf '%03o' "$i")"
    if [[ $s == *"$c"* ]]; then s=${s//"$c"/\\u00$(printf '%02x' "$i")}; fi
  done
  printf '"%s"' "$s"
}

# url_quote TEXT: TEXT percent-encoded, for a URL's query.
url_quote() {
  local LC_ALL=C s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) printf -v c '%02X' "'$c"; out+=%${c: -2} ;;  # a byte over 127 prints as FFFFFFC3
    esac
  done
  printf '%s' "$out"
}

# b64 and b64url: stdin as base64 on one line (standard; URL-safe without padding).
b64() { base64 | tr -d '\n'; }
b64url() { base64 | tr -d '\n=' | tr '+/' '-_'; }
