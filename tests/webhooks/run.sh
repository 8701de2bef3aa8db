#!/usr/bin/env bash
# Webhooks end to end: the sandbox delivers to a Python receiver that verifies every delivery
# with the Standard Webhooks reference library (standardwebhooks' Webhook.verify); a person
# accepts in the emulator (control API) after the tracker's first walk, and exactly one verified
# invitation.accepted must arrive (later walks announce nothing again).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

cargo build --locked --bin invitation-gateway

venv=target/webhooks-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import standardwebhooks" 2>/dev/null; then
    python3 -m venv "$venv"
    # Pinned: the check must not change under us.
    "$venv/bin/pip" install --quiet --disable-pip-version-check standardwebhooks==1.1.0
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

secret="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"

"$venv/bin/python" tests/webhooks/receiver.py "$secret" "$work/port" >"$work/received" 2>"$work/receiver.err" &
pids+=($!)
for _ in $(seq 1 100); do
    [ -s "$work/port" ] && break
    sleep 0.1
done
if [ ! -s "$work/port" ]; then
    echo "the receiver did not start:" >&2
    cat "$work/receiver.err" >&2
    exit 1
fi
port=$(cat "$work/port")

# A walk every second, so that the accept is seen at once.
GATEWAY_TRACK_INTERVAL_SECS=1 \
GATEWAY_WEBHOOK_URLS="http://127.0.0.1:${port}/hooks" \
GATEWAY_WEBHOOK_SECRET="$secret" \
GATEWAY_SANDBOX_QUOTA_PER_MINUTE=0 GATEWAY_GOOGLE_CALLS_PER_MINUTE=100000 \
RUST_LOG=warn target/debug/invitation-gateway serve --sandbox --listen 127.0.0.1:0 \
    >"$work/stdout" 2>"$work/stderr" &
pids+=($!)
sandbox_pid=$!

emulator=""
for _ in $(seq 1 100); do
    emulator=$(sed -n 's/^ *Emulator: *\(http[^ ]*\).*/\1/p' "$work/stdout" | head -n 1)
    if [ -n "$emulator" ]; then break; fi
    if ! kill -0 "$sandbox_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
if [ -z "$emulator" ]; then
    echo "the sandbox did not start:" >&2
    cat "$work/stderr" >&2
    exit 1
fi

api=$(sed -n 's/^ *API: *\(http[^ ]*\)\/v1.*/\1/p' "$work/stdout" | head -n 1)

# Walks the tracker finished so far (the gateway's metrics).
walks() {
    curl -fsS "$api/metrics" | sed -n 's/^gateway_tracker_walks_total{result="finished"} \([0-9]*\).*/\1/p' | head -n 1
}
# Waits (at most 30 s) until the tracker has finished more than $1 walks.
walks_after() {
    for _ in $(seq 1 300); do
        if [ "$(walks || true)" -gt "$1" ] 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "webhooks: the tracker finished no walk after $1" >&2
    cat "$work/stderr" >&2
    exit 1
}

# The first walk sees ada invited; then ada accepts.
walks_after 0
curl -fsS -X POST "$emulator/emulator/v1/accounts/accept" -d '{"email": "ada@example.com"}' >/dev/null

for _ in $(seq 1 300); do
    if grep -q '^verified dev.invitation-gateway.invitation.accepted ada@example.com ' "$work/received"; then
        # Two more walks: they must announce nothing again.
        seen=$(walks)
        walks_after "$((seen + 1))"
        # One more delivery round (every second) for anything they did announce.
        sleep 1.5
        cat "$work/received"
        if grep -q '^rejected' "$work/received"; then
            echo "webhooks: a delivery did not verify" >&2
            exit 1
        fi
        ids=$(grep '^verified dev.invitation-gateway.invitation.accepted ada@example.com ' "$work/received" | awk '{print $4}' | sort -u | wc -l)
        if [ "$ids" -ne 1 ]; then
            echo "webhooks: ada's accept was announced as $ids events, not one" >&2
            exit 1
        fi
        echo "webhooks: exactly one verified invitation.accepted arrived"
        exit 0
    fi
    if ! kill -0 "$sandbox_pid" 2>/dev/null; then break; fi
    sleep 0.1
done
echo "webhooks: no verified invitation.accepted arrived; the receiver saw:" >&2
cat "$work/received" >&2
cat "$work/stderr" >&2
exit 1
