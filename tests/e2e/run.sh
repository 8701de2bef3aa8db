#!/usr/bin/env bash
# Swagger UI in a real (headless) Chromium against the sandbox: Authorize with the printed token,
# then "Try it out" and "Execute" on every /v1 operation; each must answer 200 (201 for a create)
# and send the token. Then the console (/console/) against a sandbox of its own (quota lifted, so
# campaigns run fast; a known signing secret, so a token without the read scope can be minted for
# the 403 check); screenshots go to target/console-screenshots/.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

if ! command -v chromium >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
node_dir=target/e2e-node
if [ ! -d "$node_dir/node_modules/playwright-core" ]; then
    mkdir -p "$node_dir"
    (cd "$node_dir" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund playwright-core@1.65.1 >/dev/null)
fi
cp tests/e2e/swagger.mjs tests/e2e/console.mjs "$node_dir/"

cargo build --locked --bin invitation-gateway

work=$(mktemp -d)
sandbox_pids=()
cleanup() {
    for pid in "${sandbox_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# start_sandbox NAME [ENV=VALUE...]: starts a sandbox on a free port and sets url, token and
# emulator from what it prints.
start_sandbox() {
    local name=$1
    shift
    # Created here, not by the child's redirection: the loop below may read them first.
    : >"$work/$name.stdout"
    : >"$work/$name.stderr"
    env RUST_LOG=warn "$@" target/debug/invitation-gateway serve --sandbox --listen 127.0.0.1:0 \
        >"$work/$name.stdout" 2>"$work/$name.stderr" &
    local pid=$!
    sandbox_pids+=("$pid")
    url=""
    token=""
    emulator=""
    for _ in $(seq 1 100); do
        url=$(sed -n 's/^ *Swagger UI: *\(http[^ ]*\).*/\1/p' "$work/$name.stdout" | head -n 1)
        emulator=$(sed -n 's/^ *Emulator: *\(http[^ ]*\).*/\1/p' "$work/$name.stdout" | head -n 1)
        token=$(grep -E '^eyJ' "$work/$name.stdout" | head -n 1 | tr -d ' ' || true)
        if [ -n "$url" ] && [ -n "$token" ]; then break; fi
        if ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    if [ -z "$url" ] || [ -z "$token" ]; then
        echo "the $name sandbox did not start:" >&2
        cat "$work/$name.stderr" >&2
        exit 1
    fi
}

start_sandbox swagger
(cd "$node_dir" && node swagger.mjs "$url" "$token")

secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# The tracker walks every 2 s (where tracking exists), so an accept reaches the funnel quickly.
start_sandbox console GATEWAY_JWT_HS256_SECRET="$secret" \
    GATEWAY_SANDBOX_QUOTA_PER_MINUTE=0 GATEWAY_GOOGLE_CALLS_PER_MINUTE=100000 \
    GATEWAY_TRACK_INTERVAL_SECS=2
check_only=$(GATEWAY_JWT_HS256_SECRET="$secret" target/debug/invitation-gateway token \
    --sub console-e2e --scope invitations.check --ttl 30m)
gateway=${url%/swagger-ui/}
(cd "$node_dir" && node console.mjs "$gateway" "$token" "$check_only" "$emulator" "$root/target/console-screenshots")
