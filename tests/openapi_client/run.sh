#!/usr/bin/env bash
# Generates a Python client from the committed openapi/openapi.json with openapi-python-client
# (from PyPI) and runs the README's worked example with it against `serve --sandbox`: if the
# generated client cannot do it, the document is wrong.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

# Pinned: a new generator release may generate other code; adopt it on purpose.
generator_version=0.29.1

venv=target/openapi-client-venv
if [ ! -x "$venv/bin/openapi-python-client" ] ||
    [ "$("$venv/bin/pip" show openapi-python-client 2>/dev/null | sed -n 's/^Version: //p')" != "$generator_version" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "openapi-python-client==$generator_version"
fi

cargo build --locked --bin invitation-gateway

generated=target/openapi-client
rm -rf "$generated"
mkdir -p "$generated"
"$venv/bin/openapi-python-client" generate --path openapi/openapi.json --meta none \
    --config tests/openapi_client/generator.yaml --output-path "$generated/gateway_client" \
    >"$generated/generate.log" 2>&1 || { cat "$generated/generate.log" >&2; exit 1; }
# A warning means an operation or a model was left out: the document must be fixed.
if grep -q "^WARNING" "$generated/generate.log"; then
    cat "$generated/generate.log" >&2
    exit 1
fi

work=$(mktemp -d)
sandbox_pid=""
cleanup() {
    if [ -n "$sandbox_pid" ]; then
        kill "$sandbox_pid" 2>/dev/null || true
        wait "$sandbox_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

RUST_LOG=warn target/debug/invitation-gateway serve --sandbox --listen 127.0.0.1:0 \
    >"$work/stdout" 2>"$work/stderr" &
sandbox_pid=$!

# The banner names the API URL and ends with the token on the line after "Bearer token".
gateway=""
token=""
for _ in $(seq 1 300); do
    api=$(sed -n 's#^ *API: *\(http://127\.0\.0\.1:[0-9]*\)/v1$#\1#p' "$work/stdout" | head -n 1)
    bearer=$(sed -n '/Bearer token/{n;p;}' "$work/stdout" | head -n 1)
    if [ -n "$api" ] && [ -n "$bearer" ]; then
        gateway=$api
        token=$bearer
        break
    fi
    if ! kill -0 "$sandbox_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ -z "$gateway" ] || [ -z "$token" ]; then
    echo "the sandbox did not start:" >&2
    cat "$work/stdout" "$work/stderr" >&2
    exit 1
fi

PYTHONPATH="$generated" "$venv/bin/python" tests/openapi_client/example.py "$gateway" "$token" examples/roster.csv
