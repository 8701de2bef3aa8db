#!/usr/bin/env bash
# Runs Google's own Python client library (google-api-python-client + google-auth) against the
# emulator: if the client and the emulator disagree, the emulator is wrong.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

cargo build --locked --bin invitation-gateway

venv=target/google-client-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import googleapiclient, google.oauth2, google_auth_httplib2" 2>/dev/null; then
    python3 -m venv "$venv"
    # Pinned: the check must not change under us when Google releases a new client.
    "$venv/bin/pip" install --quiet google-api-python-client==2.202.0 google-auth==2.62.2 google-auth-httplib2==0.4.4
fi

work=$(mktemp -d)
emulator_pid=""
cleanup() {
    if [ -n "$emulator_pid" ]; then
        kill "$emulator_pid" 2>/dev/null || true
        wait "$emulator_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

target/debug/invitation-gateway emulator --listen 127.0.0.1:0 --write-key "$work/key.json" \
    >"$work/stdout" 2>"$work/stderr" &
emulator_pid=$!

url=""
for _ in $(seq 1 100); do
    line=$(head -n 1 "$work/stdout" 2>/dev/null || true)
    case "$line" in
        "emulator listening on "*) url=${line#emulator listening on }; break ;;
    esac
    if ! kill -0 "$emulator_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "the emulator did not start:" >&2
    cat "$work/stderr" >&2
    exit 1
fi

"$venv/bin/python" tests/google_client/check.py "$url" "$work/key.json"
