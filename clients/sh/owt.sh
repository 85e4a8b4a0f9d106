# owt shell helpers: call an adaptor file with curl. Needs only bash, curl, base64 and tr.
#
#   source clients/sh/owt.sh
#   owt_call http://127.0.0.1:9876 hello.py '{"name": "owt"}'       # prints the result
#   owt_call http://127.0.0.1:9876 hello.py '{"name": "owt"}' -u alice:secret
#   curl -N "$(owt_url http://127.0.0.1:9876/hello hello.py '{"name": "owt"}')"
#
# FILE - reads the code from stdin. The arguments are a JSON object (or a Python literal
# such as "{'name': 'owt'}"); they default to {}. Options after them go to curl as they are.
# owt_call streams the body as it arrives and, on an error response, still prints the
# error's JSON but returns curl's status 22.

# _owt_b64 FILE|- [url]: base64 of a file (or stdin) on one line; URL-safe without padding
# when the second argument is "url". The line breaks and characters go in tr, not in bash's
# ${var//...}: over a body-sized value that is quadratic (800 KB took 11 s, 4 MB minutes).
_owt_b64() {
    local input=$1
    [ "$input" = "-" ] && input=/dev/stdin
    if [ "$2" = "url" ]; then
        base64 < "$input" | tr -d '\n=' | tr '+/' '-_'
    else
        base64 < "$input" | tr -d '\n'
    fi
    # base64's own failure (an unreadable file) is the function's, not tr's success.
    return "${PIPESTATUS[0]}"
}

# _owt_b64_text TEXT [url]: base64 of a string.
_owt_b64_text() {
    printf '%s' "$1" | _owt_b64 - "$2"
}

# _owt_escape URL: the URL with its spaces, quotes and non-ASCII bytes percent-encoded, as
# a browser sends them, so a printed URL can be pasted; what is already encoded stays.
_owt_escape() {
    local LC_ALL=C
    local s=$1 out='' c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9._~/:@!\$\&\'\(\)*+,\;=?%#\[\]-]) out+=$c ;;
            *) printf -v c '%02X' "'$c"; out+=%${c: -2} ;;
        esac
    done
    printf '%s' "$out"
}

# _owt_code FILE|- CALLER [url]: the code's base64 (as _owt_b64); empty code is refused
# here, where the file is named (the server could only say that no code came).
_owt_code() {
    local out
    out=$(_owt_b64 "$1" "$3") || return
    if [ -z "$out" ]; then
        printf '%s: %s is empty: there is no code to send\n' "$2" "${1/#-/stdin}" >&2
        return 2
    fi
    printf '%s' "$out"
}

# owt_call URL FILE.py ['{"name": "owt"}'] [curl options...]
owt_call() {
    if [ $# -lt 2 ]; then
        printf 'usage: owt_call URL FILE.py [KWARGS_JSON] [curl options...]\n' >&2
        return 2
    fi
    local url=$1 file=$2 kwargs=${3:-'{}'}
    shift $(($# < 3 ? 2 : 3))
    local code args
    code=$(_owt_code "$file" owt_call) || return
    args=$(_owt_b64_text "$kwargs") || return
    printf '{"code_b64": "%s", "kwargs_b64": "%s"}' "$code" "$args" |
        curl -sS -N --fail-with-body -H 'content-type: application/json' \
            --data-binary @- "$@" "$url"
}

# owt_url URL FILE.py ['{"name": "owt"}']: print a GET URL that makes the call.
owt_url() {
    if [ $# -lt 2 ]; then
        printf 'usage: owt_url URL FILE.py [KWARGS_JSON]\n' >&2
        return 2
    fi
    local url=$1 file=$2 kwargs=${3:-'{}'} sep='?' fragment=''
    local code args
    code=$(_owt_code "$file" owt_url url) || return
    args=$(_owt_b64_text "$kwargs" url) || return
    # The call's query goes before a fragment, not inside it.
    case $url in *#*) fragment="#${url#*#}" url=${url%%#*} ;; esac
    case $url in *\?*) sep='&' ;; esac
    url=$(_owt_escape "$url") fragment=$(_owt_escape "$fragment")
    printf '%s%scode_b64=%s&kwargs_b64=%s%s\n' "$url" "$sep" "$code" "$args" "$fragment"
}
