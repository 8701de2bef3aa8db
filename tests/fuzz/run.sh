#!/usr/bin/env bash
# API fuzzing: Schemathesis generates requests from the served OpenAPI document, valid and
# invalid, sends them to `serve --sandbox` on loopback, and checks every answer against the
# document (status codes, content types, headers, schemas, no 5xx, invalid data refused, valid
# data accepted, undocumented methods refused with 405 and Allow, auth not ignored). Any failure
# fails the script: fix the code or the spec, never the checks.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

# Pinned: a new Schemathesis release brings new checks and generators; adopt them on purpose.
schemathesis_version=4.32.5
# Examples per operation and phase, and the seed: the same run every time, a few minutes at most.
max_examples=${FUZZ_MAX_EXAMPLES:-50}
seed=${FUZZ_SEED:-20261122}

venv=target/fuzz-venv
if [ ! -x "$venv/bin/schemathesis" ] ||
    [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $schemathesis_version" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==$schemathesis_version"
fi

cargo build --locked --bin invitation-gateway

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

# The per-caller rate limit, the Google budget and the sandbox emulator's quota are raised for
# this run only: every generated request comes from the one sandbox caller, as fast as
# Schemathesis can send them, and a 429 would hide the answer under test. The limits themselves
# are tested in tests/api and src/auth.
RUST_LOG=warn \
    GATEWAY_RATE_LIMIT_PER_SECOND=100000 \
    GATEWAY_RATE_LIMIT_BURST=100000 \
    GATEWAY_GOOGLE_CALLS_PER_MINUTE=1000000 \
    GATEWAY_SANDBOX_QUOTA_PER_MINUTE=0 \
    target/debug/invitation-gateway serve --sandbox --listen 127.0.0.1:0 \
    >"$work/stdout" 2>"$work/stderr" &
sandbox_pid=$!

# The banner names the API URL (`  API:         http://127.0.0.1:PORT/v1`) and ends with the
# token on the line after "Bearer token". Log lines may share stdout, so match, never count.
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

ready=""
for _ in $(seq 1 100); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$gateway/readyz")" = 200 ]; then
        ready=yes
        break
    fi
    sleep 0.2
done
if [ -z "$ready" ]; then
    echo "the sandbox at $gateway never became ready:" >&2
    curl -s --max-time 2 "$gateway/readyz" >&2 || true
    cat "$work/stderr" >&2
    exit 1
fi

echo "== schemathesis $schemathesis_version against $gateway (seed $seed, $max_examples examples per operation)"
# Phases: the spec's examples, boundary values (coverage), then random valid and invalid data.
# The stateful phase is off: the only output one request takes from another is list's page
# token, which hooks.py supplies; everything else would only repeat the fuzzing phase.
status=0
# tests/fuzz/hooks.py gives valid list requests real page tokens (see there). Hypothesis keeps
# its own caches under target/, like everything else the run writes.
FUZZ_GATEWAY=$gateway FUZZ_TOKEN=$token SCHEMATHESIS_HOOKS=hooks PYTHONPATH=tests/fuzz \
    HYPOTHESIS_STORAGE_DIRECTORY=target/fuzz-hypothesis \
    "$venv/bin/schemathesis" --config-file tests/fuzz/schemathesis.toml run "$gateway/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --mode all \
    --phases examples,coverage,fuzzing \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --generation-database none \
    --request-timeout 30 \
    --no-color || status=$?

if ! kill -0 "$sandbox_pid" 2>/dev/null; then
    echo "the sandbox died during the run:" >&2
    cat "$work/stderr" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    # The gateway's own account of the failures (warnings and errors; never emails or tokens).
    echo "== sandbox log (RUST_LOG=warn)" >&2
    cat "$work/stdout" "$work/stderr" |
        grep -v -e '^ ' -e '^invitation-gateway sandbox:' -e '^eyJ' | tail -n 50 >&2 || true
fi
exit "$status"
