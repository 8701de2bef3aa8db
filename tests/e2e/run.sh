#!/usr/bin/env bash
# Swagger UI in a real (headless) Chromium against the sandbox: Authorize with the printed token,
# then "Try it out" and "Execute" on every /v1 operation; each must answer 200 (201 for a create)
# and send the token.
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
cp tests/e2e/swagger.mjs "$node_dir/swagger.mjs"

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

RUST_LOG=warn target/debug/invitation-gateway serve --sandbox --listen 127.0.0.1:0 >"$work/stdout" 2>"$work/stderr" &
sandbox_pid=$!

url=""
token=""
for _ in $(seq 1 100); do
    url=$(sed -n 's/^ *Swagger UI: *\(http[^ ]*\).*/\1/p' "$work/stdout" | head -n 1)
    token=$(grep -E '^eyJ' "$work/stdout" | head -n 1 | tr -d ' ' || true)
    if [ -n "$url" ] && [ -n "$token" ]; then break; fi
    if ! kill -0 "$sandbox_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ -z "$url" ] || [ -z "$token" ]; then
    echo "the sandbox did not start:" >&2
    cat "$work/stderr" >&2
    exit 1
fi

(cd "$node_dir" && node swagger.mjs "$url" "$token")
