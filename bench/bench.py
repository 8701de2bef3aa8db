#!/usr/bin/env python3
"""The invitation-gateway benchmark: starts everything on 127.0.0.1, measures, prints one table.

Called by bench/run.sh after it built the release binaries and installed wrk; python3 stdlib only.
Every figure is measured in this one run on this one machine. See docs/testing.md "Benchmark" and
bench/RESULTS.md for what each figure means.
"""

import argparse
import base64
import concurrent.futures
import datetime
import http.client
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GATEWAY_BIN = os.path.join(ROOT, "target", "release", "invitation-gateway")
HELLO_BIN = os.path.join(ROOT, "target", "release", "examples", "hello")
WRK_DIR = os.path.join(ROOT, "bench", "wrk")
ADMIN = "admin@example.com"
UPSTREAM_SCOPE = "https://www.googleapis.com/auth/cloud-identity.userinvitations"

# Seeded accounts (emails are PREFIX + 7 digits + @example.com, as bench/wrk/distinct.lua builds them).
HOT = "hot@example.com"  # the one address of the cached check (1)
UNCACHED = ("u", 100_000)  # checked once each in (2)
FILL = ("c", 100_000)  # fill the eligibility cache in (4)
SEND = ("s", 100)  # NOT_YET_SENT accounts of the send batch (3)
LATENCY = {"SQLite": "ls", "PostgreSQL": "lp"}  # one-address sends of (6), per store
LATENCY_COUNT = 2_000  # seeded per store; (6) uses --latency-sends of them
REPLICA = ("r", 100_000)  # checked by the three replicas of (7)
# Figure (8) has an emulator of its own, seeded with only its campaign's people (a `states`
# campaign takes every NOT_YET_SENT account Google lists).
CAMPAIGN = ("m", None)  # the NOT_YET_SENT people of the campaign, --campaign-people of them
CHECK = ("q", None)  # checked during the campaign: never seeded, never cached before
ROSTER = ("x", None)  # the rows of the roster import
# Figure (9) has an emulator of its own too: --tracker-people INVITED people, a share of them
# accepting or declining each interval.
TRACKED = ("t", None)
# Figures (10) and (11): a roster of which LISTED are in Google's list, UNLISTED unknown to it.
LISTED = ("l", None)
UNLISTED = ("n", None)
# Figure (13): a backlog of dry runs of one caller (unknown to Google) and the second caller's
# campaign of NOT_YET_SENT people.
BACKLOG = ("b", None)
SECOND = ("f", None)
WINDOW_S = 62  # the budget's sliding window (src/store/google_budget.rs)
FLOOR_PERCENT = 2  # the callers' least reserve in a window (FLOOR_PERCENT of the budget)

TARGETS = {
    "ratio": 0.7,
    "added_p50_ms": 0.3,
    "batch_factor": 1.2,
    "rss_idle_mib": 20.0,
    "rss_loaded_mib": 64.0,
    "ready_ms": 200.0,
    "replica_served": 0.9,
    "pace_idle": 1.05,  # a campaign's wall time / N x calls-per-person / Q, nobody checking
    "pace_loaded": 1.10,  # the same under a light interactive load
    "calls_per_person": 1.01,
    "reconcile_calls": 50,  # (10), checkUnlisted off
    "roster_calls_per_mail": 1.05,  # (11)
    "check_p99_ms": 1000.0,
    "roster_rss_mib": 64.0,
}

CHILDREN = []
TEMP_DIRS = []


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def address(prefix, n):
    return f"{prefix}{n:07d}@example.com"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(args, env=None, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
    process = subprocess.Popen(args, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    CHILDREN.append(process)
    return process


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_all():
    for process in reversed(CHILDREN):
        if process.poll() is None:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------------- machine facts


def proc_status(pid, field):
    """VmRSS / VmHWM of a process in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def process_cpu_s(pid):
    """CPU seconds (user + system) a process used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_times():
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def process_ticks():
    """CPU ticks (user + system) and name of every process."""
    ticks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        ticks[pid] = (name, int(fields[11]) + int(fields[12]))
    return ticks


def busy_ticks():
    """(busy ticks of the whole machine, all ticks, CPU ticks of this script and its children)."""
    total, idle = cpu_times()
    times = os.times()
    hz = os.sysconf("SC_CLK_TCK")
    ours = (times.user + times.system + times.children_user + times.children_system) * hz
    return total - idle, total, ours


def background_busy(seconds=3.0):
    """Share of all cores busy while the benchmark itself runs nothing, and who was busy."""
    total0, idle0 = cpu_times()
    before = process_ticks()
    time.sleep(seconds)
    total1, idle1 = cpu_times()
    after = process_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    busiest = sorted(
        ((ticks - before.get(pid, ("", 0))[1], name) for pid, (name, ticks) in after.items()
         if ticks > before.get(pid, ("", 0))[1]),
        reverse=True)[:5]
    others = [f"{name} {100.0 * ticks / hz / seconds:.0f}%" for ticks, name in busiest]
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0), others


class Load:
    """How busy the machine was without the benchmark: measured before (3 s of nothing of
    ours), during (busy ticks less ours) and after (2 s) the figures between new and finish()."""

    def __init__(self):
        log("measuring background CPU load (3 s, nothing of ours running)")
        self.before, self.others_before = background_busy()
        self.start = busy_ticks()

    def finish(self):
        end = busy_ticks()
        self.during = max(0.0, (end[0] - self.start[0]) - (end[2] - self.start[2])) \
            / max(1, end[1] - self.start[1])
        self.after, self.others_after = background_busy(2.0)
        return self

    def busy(self):
        return max(self.before, self.during, self.after) > 0.10

    def raw(self):
        return {"busy_before": self.before, "busy_after": self.after,
                "others_during": self.during, "others_before": self.others_before,
                "others_after": self.others_after}


def print_rows(rows, load, note):
    """The table of ROWS, then who else was busy, and NOTE when the machine was not quiet."""
    print()
    print("| # | figure | measured | target | result |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("busiest other processes (% of one core): before: " + "; ".join(load.others_before)
          + " | after: " + "; ".join(load.others_after))
    if load.busy():
        print("NOTE: the machine was not quiet (more than 10% busy without us): " + note)


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/loadavg") as loadavg:
        load = " ".join(loadavg.read().split()[:3])
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True,
                           check=False).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "rustc": rustc,
        "load": load,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# ---------------------------------------------------------------------------- HTTP helpers


def http_json(method, url, body=None, token=None, timeout=120):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        text = answer.read()
        return answer.status, (json.loads(text) if text else None)


def wait_ready(port, deadline_s=20.0):
    """Polls /readyz every millisecond; returns the time it first answered 200."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"the server on port {port} was not ready within {deadline_s} s")


def wrk(script, url, connections, seconds, env_extra, threads=1, timeout_s=10):
    """Runs wrk with bench/wrk/report.lua + SCRIPT; returns the parsed BENCH_JSON line."""
    with open(os.path.join(WRK_DIR, "report.lua")) as report, \
            open(os.path.join(WRK_DIR, script)) as body:
        combined = body.read() + "\n" + report.read()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(combined)
        lua_path = lua.name
    env = dict(os.environ, BENCH_THREADS=str(threads), **env_extra)
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s",
             "-s", lua_path, url],
            env=env, capture_output=True, text=True, check=True,
        ).stdout
    finally:
        os.unlink(lua_path)
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            result = json.loads(line[len("BENCH_JSON "):])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            result["errors"] = sum(result[k] for k in ("connect", "read", "write", "timeout"))
            return result
    raise RuntimeError(f"wrk printed no BENCH_JSON line:\n{out}")


# ---------------------------------------------------------------------------- PostgreSQL


def pg_admin(base_url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", base_url, "-c", sql],
                   check=True, capture_output=True, text=True)


def pg_database(base_url, name):
    """A fresh database NAME on the server of BASE_URL (GATEWAY_TEST_DATABASE_URL); its URL."""
    pg_admin(base_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg_admin(base_url, f"CREATE DATABASE {name}")
    parts = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def scaled_poll(factor):
    """The campaign worker's poll (1 s) scaled by FACTOR, as gateway settings; {} for None."""
    if factor is None:
        return {}
    return {"GATEWAY_CAMPAIGN_POLL_MILLIS": str(max(1, round(1000 / factor)))}


def post_body(port, path, body, content_type, token, timeout=600):
    """POSTs BODY (bytes) to the gateway on PORT; (status, the JSON answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body,
                     {"Content-Type": content_type, "Authorization": f"Bearer {token}"})
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        conn.close()


def tracker_walks(port):
    """The tracker's finished walks, from the gateway's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
        for line in page.read().decode().splitlines():
            if line.startswith('gateway_tracker_walks_total{result="finished"}'):
                return float(line.split()[-1])
    return 0.0


def wait_walks(port, count, deadline_s):
    """Waits until the tracker of the gateway on PORT has finished COUNT walks."""
    deadline = time.monotonic() + deadline_s
    while tracker_walks(port) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"tracker: walk {count} did not finish in {deadline_s} s")
        time.sleep(0.05)


def percentile(values, q):
    """The Q-th percentile (0 < Q < 100), nearest rank on the sorted values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100.0 * len(ordered)) - 1))]


# ---------------------------------------------------------------------------- the processes


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="invitation-gateway-bench-")
        TEMP_DIRS.append(self.tmp)
        self.secret = secrets.token_urlsafe(32)
        self.workers = os.environ.get("GATEWAY_WORKERS", "0")

    def write_seed(self):
        accounts = [{"email": HOT}]
        groups = [UNCACHED, FILL, SEND, REPLICA] + [(p, LATENCY_COUNT) for p in LATENCY.values()]
        for prefix, count in groups:
            accounts += [{"email": address(prefix, n)} for n in range(count)]
        path = os.path.join(self.tmp, "seed.json")
        with open(path, "w") as seed:
            json.dump(accounts, seed)
        return path, len(accounts)

    def start_emulator(self, seed):
        # No project quota (the command's default is 60 calls a minute, like a small Google
        # project): the gateway is measured, not Google's quota.
        self.emulator, self.emulator_url, self.key = self.launch_emulator(seed, 0, "emulator")

    def launch_emulator(self, seed, quota, name):
        """A standalone emulator seeded from SEED enforcing QUOTA calls a minute (0: none);
        returns (process, its URL, its key file)."""
        key = os.path.join(self.tmp, f"{name}-key.json")
        out = os.path.join(self.tmp, f"{name}.out")
        # The emulator logs at warn so its own logging does not weigh on figure (2).
        env = dict(os.environ, RUST_LOG="warn")
        process = spawn(
            [GATEWAY_BIN, "emulator", "--listen", "127.0.0.1:0", "--seed", seed,
             "--write-key", key, "--quota-per-minute", str(quota)],
            env=env, stdout=open(out, "w"), stderr=open(os.path.join(self.tmp, f"{name}.err"), "w"),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(out) as lines:
                first = lines.readline()
            if first.startswith("emulator listening on ") and first.endswith("\n"):
                return process, first.strip().split(" ")[-1], key
            if process.poll() is not None:
                raise RuntimeError("the emulator exited; see " + out)
            time.sleep(0.02)
        raise RuntimeError("the emulator did not start")

    def gateway_env(self, port, database_url=None, per_minute=100_000_000, emulator=None,
                    extra=None):
        emulator_url, key = emulator or (self.emulator_url, self.key)
        env = dict(
            os.environ,
            RUST_LOG="info",
            GATEWAY_LOG_FORMAT="json",
            GATEWAY_LISTEN=f"127.0.0.1:{port}",
            GOOGLE_APPLICATION_CREDENTIALS=key,
            GATEWAY_DELEGATED_ADMIN=ADMIN,
            GATEWAY_GOOGLE_API_URL=emulator_url,
            GATEWAY_JWT_HS256_SECRET=self.secret,
            GATEWAY_WORKERS=self.workers,
            # One caller drives all the load: its per-caller limit is not what is measured.
            GATEWAY_RATE_LIMIT_PER_SECOND="1000000",
            GATEWAY_RATE_LIMIT_BURST="1000000",
            # The project's Google budget (default 60 a minute) would otherwise bound (2), (3)
            # and the fill.
            GATEWAY_GOOGLE_CALLS_PER_MINUTE=str(per_minute),
            # The bench sends more mails than a caller's default day (1,000).
            GATEWAY_DAILY_MAIL_LIMIT="100000000",
            # The tracker is not what any figure measures: its first walk of Google's list (the
            # 300,000 seeded accounts, 1,500 list pages stored in the store) would run during
            # (1) to (6) and hold SQLite's write lock against every Google slot taken.
            GATEWAY_TRACK_INTERVAL_SECS="0",
            # The store: one SQLite file per gateway in the bench's directory, unless given.
            GATEWAY_DATABASE_URL=database_url
            or f"sqlite://{os.path.join(self.tmp, f'gateway-{port}.db')}",
        )
        env.pop("GATEWAY_SANDBOX", None)
        env.update(extra or {})
        return env

    def start_gateway(self, database_url=None, per_minute=100_000_000, emulator=None,
                      extra=None):
        """Starts a gateway; returns (process, port, ms from spawn to /readyz 200)."""
        port = free_port()
        env = self.gateway_env(port, database_url, per_minute, emulator, extra)
        err = open(os.path.join(self.tmp, f"gateway-{port}.err"), "w")
        started = time.monotonic()
        # Logs (stdout) go to /dev/null, as the brief says: the cost of formatting them stays.
        process = spawn([GATEWAY_BIN, "serve"], env=env, stderr=err)
        ready = wait_ready(port)
        return process, port, (ready - started) * 1000.0

    def mint_token(self, sub="bench", scope="invitations.check invitations.read invitations.send"):
        env = dict(os.environ, GATEWAY_JWT_HS256_SECRET=self.secret)
        return subprocess.run(
            [GATEWAY_BIN, "token", "--sub", sub, "--scope", scope, "--ttl", "2h"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()

    def emulator_token(self):
        """A delegated access token from the emulator's token endpoint, signed with openssl."""
        with open(self.key) as key_file:
            key = json.load(key_file)
        pem = os.path.join(self.tmp, "private.pem")
        with open(os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(key["private_key"])

        def b64(data):
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        now = int(time.time())
        header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        claims = b64(json.dumps({
            "iss": key["client_email"], "sub": ADMIN, "scope": UPSTREAM_SCOPE,
            "aud": key["token_uri"], "iat": now, "exp": now + 3600,
        }).encode())
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", pem],
            input=f"{header}.{claims}".encode(), capture_output=True, check=True,
        ).stdout
        form = (f"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer"
                f"&assertion={header}.{claims}.{b64(signature)}").encode()
        request = urllib.request.Request(key["token_uri"], data=form, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())["access_token"]

    def start_hello(self):
        out = os.path.join(self.tmp, "hello.out")
        port = free_port()
        env = dict(os.environ, HELLO_LISTEN=f"127.0.0.1:{port}", GATEWAY_WORKERS=self.workers)
        process = spawn([HELLO_BIN], env=env, stdout=open(out, "w"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return process, port
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("the hello server did not start")

    # ------------------------------------------------------------------------ measurements

    def measure_startup(self, runs):
        times = []
        for _ in range(runs):
            process, _, ms = self.start_gateway()
            times.append(ms)
            stop(process)
        return times

    def measure_throughput(self, gw_pid, gw_port, hello_pid, hello_port, token):
        """(1): the cached check against hello, interleaved rounds; medians of the rounds."""
        body = json.dumps({"emails": [HOT]})
        status, answer = http_json("POST", f"http://127.0.0.1:{gw_port}/v1/eligibility/check",
                                   {"emails": [HOT]}, token)
        assert status == 200 and "eligible" in answer["results"][0], answer
        gw_env = {"BENCH_BODY": body, "BENCH_TOKEN": token}
        hello_env = {"BENCH_BODY": body, "BENCH_TOKEN": token}
        conns, secs = self.args.connections, self.args.seconds
        gw_url = f"http://127.0.0.1:{gw_port}/v1/eligibility/check"
        hello_url = f"http://127.0.0.1:{hello_port}/"
        # Warm up both (connections, allocator, caches), then alternate so drift hits both.
        wrk("static.lua", hello_url, conns, 2, hello_env)
        wrk("static.lua", gw_url, conns, 2, gw_env)
        hello_runs, gw_runs = [], []

        def measured(pid, url, env):
            # CPU per request is steadier than throughput when other processes take CPU.
            cpu = process_cpu_s(pid)
            result = wrk("static.lua", url, conns, secs, env)
            result["cpu_us_per_request"] = (process_cpu_s(pid) - cpu) * 1e6 / result["requests"]
            return result

        for _ in range(self.args.rounds):
            hello_runs.append(measured(hello_pid, hello_url, hello_env))
            gw_runs.append(measured(gw_pid, gw_url, gw_env))
        status, answer = http_json("POST", gw_url, {"emails": [HOT]}, token)
        assert answer["results"][0]["cached"] is True, answer
        return hello_runs, gw_runs

    def measure_connections(self, gw_pid, gw_port, token):
        """(4b): RSS while 256 connections hammer the cached check."""
        body = json.dumps({"emails": [HOT]})
        samples = []
        stop_sampling = threading.Event()

        def sample():
            while not stop_sampling.is_set():
                samples.append(proc_status(gw_pid, "VmRSS"))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = wrk("static.lua", f"http://127.0.0.1:{gw_port}/v1/eligibility/check", 256,
                          self.args.seconds, {"BENCH_BODY": body, "BENCH_TOKEN": token})
        finally:
            stop_sampling.set()
            sampler.join()
        return result, max(samples), proc_status(gw_pid, "VmHWM")

    def measure_uncached(self, gw_port, token):
        """(2): one connection, a different seeded address per request, direct vs gateway."""
        emulator_token = self.emulator_token()
        secs = self.args.uncached_seconds
        common = {"BENCH_PREFIX": UNCACHED[0], "BENCH_START": "0"}
        # Warm-up on addresses outside the measured range (they are not seeded: still uncached).
        warm = {"BENCH_PREFIX": "w", "BENCH_START": "0"}
        wrk("distinct.lua", self.emulator_url, 1, 1,
            dict(warm, BENCH_MODE="emulator", BENCH_TOKEN=emulator_token))
        wrk("distinct.lua", f"http://127.0.0.1:{gw_port}", 1, 1,
            dict(warm, BENCH_MODE="gateway", BENCH_TOKEN=token, BENCH_START="5000000"))
        direct = wrk("distinct.lua", self.emulator_url, 1, secs,
                     dict(common, BENCH_MODE="emulator", BENCH_TOKEN=emulator_token))
        gateway = wrk("distinct.lua", f"http://127.0.0.1:{gw_port}", 1, secs,
                      dict(common, BENCH_MODE="gateway", BENCH_TOKEN=token))
        # Proof that the measured run went through the gateway's cache: one of its addresses
        # is cached now (wrk numbers them from the second one on; the tenth is surely used).
        url = f"http://127.0.0.1:{gw_port}/v1/eligibility/check"
        _, tenth = http_json("POST", url, {"emails": [address(UNCACHED[0], 10)]}, token)
        assert tenth["results"][0].get("cached") is True, (tenth, direct, gateway)
        return direct, gateway

    def measure_send_batch(self, gw_port, token, trials):
        """(3): 100 NOT_YET_SENT addresses with every emulator call taking 100 ms."""
        emails = [address(SEND[0], n) for n in range(SEND[1])]
        url = f"http://127.0.0.1:{gw_port}/v1/invitations/send"
        runs = []
        for _ in range(trials):
            http_json("POST", f"{self.emulator_url}/emulator/v1/reset")
            http_json("POST", f"{self.emulator_url}/emulator/v1/latency", {"ms": 100})
            started = time.monotonic()
            status, answer = http_json("POST", url, {"emails": emails, "resend": False}, token)
            elapsed = time.monotonic() - started
            _, stats = http_json("GET", f"{self.emulator_url}/emulator/v1/stats")
            calls = {k: v for k, v in stats["calls"].items() if v}
            upstream = sum(calls.get(m, 0) for m in ("get", "send", "isInvitableUser"))
            assert status == 200 and answer["summary"].get("sent") == len(emails), answer["summary"]
            runs.append({"elapsed_s": elapsed, "calls": calls,
                         "calls_per_item": upstream / len(emails)})
        http_json("POST", f"{self.emulator_url}/emulator/v1/reset")
        return runs

    def measure_send_latency(self, gw_port, token, prefix, count):
        """(6): COUNT one-address sends of fresh NOT_YET_SENT addresses, one at a time, each
        right after a lookup of the same address; emulator latency 0, no quota."""
        conn = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=60)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

        def timed(path, body):
            started = time.perf_counter()
            conn.request("POST", path, json.dumps(body), headers)
            answer = conn.getresponse()
            data = json.loads(answer.read())
            return (time.perf_counter() - started) * 1e6, answer.status, data

        lookups, sends = [], []
        # Warm-up on addresses past the measured ones (the seed holds LATENCY_COUNT of each).
        for n in range(LATENCY_COUNT - 20, LATENCY_COUNT):
            timed("/v1/invitations/lookup", {"emails": [address(prefix, n)]})
            timed("/v1/invitations/send", {"emails": [address(prefix, n)], "resend": False})
        for n in range(count):
            email = address(prefix, n)
            us, status, data = timed("/v1/invitations/lookup", {"emails": [email]})
            assert status == 200 and "invitation" in data["results"][0], data
            lookups.append(us)
            us, status, data = timed("/v1/invitations/send", {"emails": [email], "resend": False})
            assert status == 200 and data["results"][0]["outcome"] == "sent", data
            sends.append(us)
        conn.close()
        return {"lookup_us": lookups, "send_us": sends}

    def measure_replicas(self, database_url, quota, seconds, threads):
        """(7): three gateways on one PostgreSQL database share a budget of QUOTA calls a
        minute; the emulator enforces QUOTA; THREADS clients per gateway check fresh addresses
        for SECONDS, far more than the quota."""
        http_json("POST", f"{self.emulator_url}/emulator/v1/reset")
        http_json("POST", f"{self.emulator_url}/emulator/v1/quota", {"perMinute": quota})
        gateways = [self.start_gateway(database_url, per_minute=quota) for _ in range(3)]
        token = self.mint_token()
        lock = threading.Lock()
        next_address = iter(range(REPLICA[1]))
        counts = [{"ok": 0, "quota_exhausted": 0, "other": {}} for _ in gateways]
        stop_at = time.monotonic() + seconds
        done = threading.Event()

        def drive(index, port):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            mine = counts[index]
            while time.monotonic() < stop_at:
                with lock:
                    email = address(REPLICA[0], next(next_address))
                conn.request("POST", "/v1/eligibility/check", json.dumps({"emails": [email]}),
                             headers)
                answer = conn.getresponse()
                data = json.loads(answer.read() or b"null")
                if answer.status == 200:
                    error = data["results"][0].get("error")
                    code = error["code"] if error else None
                else:
                    code = (data or {}).get("code", str(answer.status))
                with lock:
                    if code is None:
                        mine["ok"] += 1
                    elif code == "quota_exhausted":
                        mine["quota_exhausted"] += 1
                    else:
                        mine["other"][code] = mine["other"].get(code, 0) + 1
                if code == "quota_exhausted":
                    # A caller told to come back later: a short pause keeps 12 clients from
                    # spinning on two cores, and the demand still far exceeds the quota.
                    time.sleep(0.05)
            conn.close()

        workers = [threading.Thread(target=drive, args=(i, port))
                   for i, (_, port, _) in enumerate(gateways) for _ in range(threads)]
        for worker in workers:
            worker.start()
        time.sleep(max(0.0, stop_at - time.monotonic()))
        # The emulator's count at the end of the window (a client may still wait for a slot).
        _, at_end = http_json("GET", f"{self.emulator_url}/emulator/v1/stats")
        done.set()
        for worker in workers:
            worker.join()
        _, after = http_json("GET", f"{self.emulator_url}/emulator/v1/stats")
        for process, _, _ in gateways:
            stop(process)
        http_json("POST", f"{self.emulator_url}/emulator/v1/reset")
        http_json("POST", f"{self.emulator_url}/emulator/v1/quota", {"perMinute": None})
        return {"quota": quota, "seconds": seconds, "threads_per_replica": threads,
                "stats_at_end": at_end, "stats_after": after, "callers": counts}

    def measure_campaign(self, database_url, people, quota, check_interval, roster_rows,
                         factor=None):
        """(8) and (12): one `states` campaign of PEOPLE NOT_YET_SENT accounts run by three
        gateways on one PostgreSQL database (DATABASE_URL; None: one gateway on a SQLite file)
        against an emulator of its own enforcing QUOTA calls a minute (the gateways' budget is
        QUOTA too), with a light interactive load (one check of a fresh address every
        CHECK_INTERVAL s, round robin over the replicas; 0: none); then, unless ROSTER_ROWS is
        0, a roster of ROSTER_ROWS rows POSTed as text/csv with dryRun to one replica while its
        RSS is sampled. FACTOR (time scaled: QUOTA = 60 x FACTOR) also scales the campaign
        worker's poll (1 s / FACTOR); None keeps the default."""
        seed = os.path.join(self.tmp, "campaign-seed.json")
        with open(seed, "w") as out:
            json.dump([{"email": address(CAMPAIGN[0], n)} for n in range(people)], out)
        emulator, emulator_url, key = self.launch_emulator(seed, quota, "campaign-emulator")
        extra = scaled_poll(factor) | {
            # Off for every gateway of the bench (gateway_env), and here above all: the
            # tracker's walks of Google's list are background work of their own, so the calls
            # counted are the campaign's (its first walk would add people/200 calls).
            "GATEWAY_TRACK_INTERVAL_SECS": "0",
            # The roster upload must arrive within this (storing included); see the report.
            "GATEWAY_BODY_READ_TIMEOUT_SECS": str(self.args.roster_read_timeout),
        }
        gateways = [self.start_gateway(database_url, per_minute=quota,
                                       emulator=(emulator_url, key), extra=extra)
                    for _ in range(3 if database_url else 1)]
        token = self.mint_token()
        ports = [port for _, port, _ in gateways]
        _, before = http_json("GET", f"{emulator_url}/emulator/v1/stats")

        checks = []
        stop_checks = threading.Event()

        def check_load():
            n = 0
            while not stop_checks.is_set():
                port = ports[n % len(ports)]
                email = address(CHECK[0], n)
                started = time.perf_counter()
                try:
                    status, data = http_json(
                        "POST", f"http://127.0.0.1:{port}/v1/eligibility/check",
                        {"emails": [email]}, token, timeout=60)
                    result = data["results"][0]
                    code = result["error"]["code"] if "error" in result else None
                    cached = result.get("cached")
                except urllib.error.HTTPError as error:
                    status, code, cached = error.code, str(error.code), None
                except OSError as error:
                    status, code, cached = 0, type(error).__name__, None
                checks.append({"at_s": round(time.monotonic() - t0, 2),
                               "ms": (time.perf_counter() - started) * 1000.0,
                               "status": status, "error": code, "cached": cached})
                n += 1
                stop_checks.wait(check_interval)

        t0 = time.monotonic()
        checker = threading.Thread(target=check_load)
        if check_interval > 0:
            checker.start()
        try:
            status, created = http_json(
                "POST", f"http://127.0.0.1:{ports[0]}/v1/campaigns",
                {"name": "bench campaign", "source": {"states": ["NOT_YET_SENT"]}}, token)
            assert status == 201, created
            campaign_id = created["id"]
            ideal_s = people * 60.0 / quota
            deadline = t0 + max(600.0, 6 * ideal_s)
            progress = []
            polls = 0
            while True:
                view = http_json("GET", f"http://127.0.0.1:{ports[polls % len(ports)]}/v1/campaigns/"
                                 f"{campaign_id}", None, token)[1]
                polls += 1
                now = time.monotonic() - t0
                if not progress or now - progress[-1]["at_s"] >= 5 \
                        or view["state"] in ("completed", "cancelled"):
                    progress.append({"at_s": round(now, 1), "state": view["state"],
                                     "counts": view["counts"],
                                     "googleCalls": view["googleCalls"]})
                if view["state"] in ("completed", "cancelled"):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the campaign did not complete in time: {view}")
                time.sleep(0.25)
            wall_s = time.monotonic() - t0
        finally:
            stop_checks.set()
            if checker.is_alive():
                checker.join()
        _, after = http_json("GET", f"{emulator_url}/emulator/v1/stats")
        calls = {m: after["calls"][m] - before["calls"].get(m, 0) for m in after["calls"]}
        mails = after["mailsSent"]
        server_s = None
        if view.get("completedAt"):
            server_s = (datetime.datetime.fromisoformat(view["completedAt"])
                        - datetime.datetime.fromisoformat(view["createdAt"])).total_seconds()
        campaign = {
            "server_wall_s": server_s, "replicas": len(gateways), "factor": factor,
            "people": people, "quota": quota, "check_interval_s": check_interval,
            "id": campaign_id, "view": view, "wall_s": wall_s, "progress": progress,
            "calls": calls,
            "quota_rejections": after["quotaRejections"] - before["quotaRejections"],
            "people_mailed": len(mails), "most_mails": max(mails.values(), default=0),
            "checks": checks,
        }
        if not roster_rows:
            for process, _, _ in gateways:
                stop(process)
            stop(emulator)
            return campaign, None

        # The roster import, on a replica that has just run the campaign (a live process, not
        # a fresh one). VmHWM is reset first (clear_refs 5) so it is the import's own peak.
        process, port, _ = gateways[1]
        pid = process.pid
        rss_before = proc_status(pid, "VmRSS")
        hwm_reset = True
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as clear:
                clear.write("5")
        except OSError:
            hwm_reset = False
        lines = ["email,name"] + [f"{address(ROSTER[0], n)},Person {n}"
                                  for n in range(roster_rows)]
        body = ("\n".join(lines) + "\n").encode()
        samples = []
        stop_sampling = threading.Event()

        def sample():
            while not stop_sampling.is_set():
                samples.append(proc_status(pid, "VmRSS"))
                stop_sampling.wait(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            started = time.monotonic()
            conn.request("POST", "/v1/campaigns/roster?name=bench%20roster&dryRun=true", body,
                         {"Content-Type": "text/csv", "Authorization": f"Bearer {token}"})
            answer = conn.getresponse()
            roster_view = json.loads(answer.read() or b"null")
            import_s = time.monotonic() - started
            roster_status = answer.status
            conn.close()
            # A second more: what the process does right after the answer (the dry run starts).
            time.sleep(1.0)
        finally:
            stop_sampling.set()
            sampler.join()
        hwm = proc_status(pid, "VmHWM")
        rss_after = proc_status(pid, "VmRSS")
        if roster_status == 201:
            # The dry run would go on reading 100,000 people from Google at the budget's pace.
            http_json("POST", f"http://127.0.0.1:{port}/v1/campaigns/{roster_view['id']}/cancel",
                      None, token)
        roster = {"rows": roster_rows, "bytes": len(body), "status": roster_status,
                  "import_s": import_s, "answer": roster_view, "rss_before": rss_before,
                  "rss_peak": max(samples), "rss_after": rss_after, "hwm": hwm,
                  "hwm_reset": hwm_reset, "samples": len(samples)}
        for process, _, _ in gateways:
            stop(process)
        stop(emulator)
        return campaign, roster

    def measure_cache_fill(self, token):
        """(4c): a fresh gateway, 100,000 distinct addresses checked in batches of 100."""
        process, port, _ = self.start_gateway()
        idle = proc_status(process.pid, "VmRSS")
        prefix, count = FILL
        batches = [[address(prefix, n) for n in range(i, min(i + 100, count))]
                   for i in range(0, count, 100)]
        local = threading.local()

        def check(batch):
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            local.conn.request("POST", "/v1/eligibility/check",
                               json.dumps({"emails": batch}),
                               {"Content-Type": "application/json",
                                "Authorization": f"Bearer {token}"})
            answer = local.conn.getresponse()
            results = json.loads(answer.read())["results"]
            return answer.status, sum(1 for r in results if r.get("cached") is True), \
                sum(1 for r in results if "error" in r)

        def run_all():
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                return list(pool.map(check, batches))

        started = time.monotonic()
        first = run_all()
        fill_s = time.monotonic() - started
        time.sleep(1)
        rss = proc_status(process.pid, "VmRSS")
        hwm = proc_status(process.pid, "VmHWM")
        errors = sum(e for _, _, e in first) + sum(1 for s, _, _ in first if s != 200)
        # Second pass: how many of the 100,000 answers the cache still holds.
        second = run_all()
        held = sum(c for _, c, _ in second)
        stop(process)
        return {"idle": idle, "rss": rss, "hwm": hwm, "fill_s": fill_s, "errors": errors,
                "held": held}

    def measure_tracker(self, people, factor, intervals, daily_change):
        """(9): the tracker's calls at PEOPLE people of whom DAILY_CHANGE (a fraction) change a
        day, time scaled by FACTOR: the walk interval (900 s) and the emulator's quota and the
        gateway's budget (60 a minute) scaled by it. Measures the first (full) walk, then
        INTERVALS incremental walks with each interval's share of the day's changes made
        before it."""
        rng = random.Random(9)
        now = datetime.datetime.now(datetime.timezone.utc)
        accounts = []
        for n in range(people):
            age = datetime.timedelta(seconds=rng.uniform(86400, 30 * 86400))
            accounts.append({"email": address(TRACKED[0], n), "state": "INVITED",
                             "updateTime": (now - age).strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
        seed = os.path.join(self.tmp, "tracker-seed.json")
        with open(seed, "w") as out:
            json.dump(accounts, out)
        quota = 60 * factor
        interval = 900 / factor
        emulator, emulator_url, key = self.launch_emulator(seed, quota, "tracker-emulator")
        _, port, _ = self.start_gateway(
            per_minute=quota, emulator=(emulator_url, key),
            extra={"GATEWAY_TRACK_INTERVAL_SECS": str(max(1, round(interval)))})

        def lists():
            _, stats = http_json("GET", f"{emulator_url}/emulator/v1/stats")
            return stats["calls"]["list"]

        def walks():
            return tracker_walks(port)

        started = time.monotonic()
        wait_walks(port, 1, 1800)
        full_s = time.monotonic() - started
        full_calls = lists()
        per_interval = people * daily_change / (86400 / 900)
        pending = list(range(people))
        rng.shuffle(pending)
        owed = 0.0
        costs, changed = [], []
        first_walks, first_lists = walks(), lists()
        for walk in range(intervals):
            owed += per_interval
            made = 0
            while owed >= 1 and pending:
                n = pending.pop()
                path = "accept" if n % 2 else "decline"
                http_json("POST", f"{emulator_url}/emulator/v1/accounts/{path}",
                          {"email": address(TRACKED[0], n)})
                owed -= 1
                made += 1
            before = lists()
            wait_walks(port, first_walks + walk + 1, 60 + 4 * interval)
            costs.append(lists() - before)
            changed.append(made)
        # Per walk over the whole run: a walk may start while an interval's changes are made.
        mean = (lists() - first_lists) / max(1.0, walks() - first_walks)
        stop(emulator)
        day = (86400 / 900) * mean + full_calls
        return {"people": people, "factor": factor, "interval_s": interval, "quota": quota,
                "full_walk_calls": full_calls, "full_walk_s": full_s,
                "changes_per_interval": changed, "calls_per_interval": costs,
                "calls_per_interval_mean": mean, "calls_per_day": day,
                "share_of_daily_quota": day / 86400}

    # ------------------------------------------------------------------ issue 24's work figures

    def follow(self, port, token, campaign_id, t0, deadline_s, until=None):
        """Polls GET /v1/campaigns/ID every 0.25 s from T0 (monotonic) until it is completed or
        cancelled, UNTIL(view) is true or DEADLINE_S passed; returns (the last view, seconds
        from T0 to it, progress: the view's state, counts and calls every 5 s and at each
        change of state, and the first time anything left `pending`)."""
        progress, first_done = [], None
        while True:
            view = http_json("GET", f"http://127.0.0.1:{port}/v1/campaigns/{campaign_id}",
                             None, token)[1]
            now = time.monotonic() - t0
            done = sum(n for outcome, n in view["counts"].items() if outcome != "pending")
            if first_done is None and done:
                first_done = now
            if not progress or now - progress[-1]["at_s"] >= 5 \
                    or view["state"] != progress[-1]["state"]:
                progress.append({"at_s": round(now, 2), "state": view["state"],
                                 "waitingReason": view.get("waitingReason"),
                                 "counts": view["counts"], "googleCalls": view["googleCalls"],
                                 "eta": view.get("eta")})
            if view["state"] in ("completed", "cancelled") or (until and until(view)) \
                    or now > deadline_s:
                return view, now, progress, first_done
            time.sleep(0.25)

    def roster_emulator(self, name, accounts, quota):
        """An emulator of its own enforcing QUOTA, seeded with ACCOUNTS (NOT_YET_SENT, last
        updated 1 to 30 days ago, spread as in (9): with one time for all, every incremental
        walk would read them all); (process, URL, key, stats reader)."""
        rng = random.Random(name)
        now = datetime.datetime.now(datetime.timezone.utc)
        seed = os.path.join(self.tmp, f"{name}-seed.json")
        with open(seed, "w") as out:
            json.dump([{"email": email, "updateTime": (now - datetime.timedelta(
                seconds=rng.uniform(86400, 30 * 86400))).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
                for email in accounts], out)
        emulator, url, key = self.launch_emulator(seed, quota, name)
        return emulator, url, key, lambda: http_json("GET", f"{url}/emulator/v1/stats")[1]

    def measure_rosters(self, rows, listed, factor, on_seconds):
        """(10) and (11): a roster of ROWS people of whom LISTED are in Google's list (seeded
        NOT_YET_SENT) and the rest unknown to Google, on one gateway (SQLite) whose tracker has
        walked the list, time scaled by FACTOR (quota and budget 60 x FACTOR a minute, walk
        interval 900 s / FACTOR, worker poll 1 s / FACTOR). A dry run with checkUnlisted off
        (to the end), one with it on (ON_SECONDS, then cancelled; 0: to the end), then a real
        run with it off; the calls of each from the emulator's stats."""
        rng = random.Random(10)
        people = [address(LISTED[0], n) for n in range(listed)]
        roster = people + [address(UNLISTED[0], n) for n in range(rows - listed)]
        rng.shuffle(roster)
        body = ("email\n" + "\n".join(roster) + "\n").encode()
        quota = 60 * factor
        interval = max(1, round(900 / factor))
        emulator, url, key, stats = self.roster_emulator("roster-emulator", people, quota)
        _, port, _ = self.start_gateway(
            per_minute=quota, emulator=(url, key),
            extra={"GATEWAY_TRACK_INTERVAL_SECS": str(interval),
                   "GATEWAY_BODY_READ_TIMEOUT_SECS": "120"} | scaled_poll(factor))
        token = self.mint_token()
        started = time.monotonic()
        wait_walks(port, 1, 600)
        first_walk = {"s": time.monotonic() - started, "list_calls": stats()["calls"]["list"]}
        runs = {}
        plan = [("dry_off", True, False, 0), ("dry_on", True, True, on_seconds),
                ("real_off", False, False, 0)]
        for name, dry_run, check_unlisted, seconds in plan:
            log(f"(10)/(11) roster of {rows:,}: {name}")
            before = stats()
            walks_before = tracker_walks(port)
            query = urllib.parse.urlencode({"name": f"bench {name}",
                                            "dryRun": str(dry_run).lower(),
                                            "checkUnlisted": str(check_unlisted).lower()})
            t0 = time.monotonic()
            status, created = post_body(port, f"/v1/campaigns/roster?{query}", body,
                                        "text/csv", token)
            assert status == 201, created
            created_s = time.monotonic() - t0
            view, wall, progress, _ = self.follow(port, token, created["id"], t0,
                                                  seconds or 3600)
            if view["state"] not in ("completed", "cancelled"):
                http_json("POST", f"http://127.0.0.1:{port}/v1/campaigns/{created['id']}/cancel",
                          None, token)
            after = stats()
            calls = {m: n - before["calls"].get(m, 0) for m, n in after["calls"].items()}
            mailed = sum(after["mailsSent"].values()) - sum(before["mailsSent"].values())
            runs[name] = {"dry_run": dry_run, "check_unlisted": check_unlisted,
                          "created_s": created_s, "created_eta": created.get("eta"),
                          "created_at": created.get("createdAt"), "wall_s": wall,
                          "view": view, "progress": progress, "calls": calls,
                          "mailed": mailed,
                          "tracker_walks": tracker_walks(port) - walks_before,
                          "quota_rejections": after["quotaRejections"]
                          - before["quotaRejections"]}
        stop(emulator)
        return {"rows": rows, "listed": listed, "factor": factor, "quota": quota,
                "interval_s": interval, "first_walk": first_walk, "runs": runs}

    def measure_backlog(self, factor, campaigns, size, people):
        """(13): caller A creates CAMPAIGNS dry runs of SIZE addresses (rosters); once they
        have spent the budget's window, caller B creates a real campaign of PEOPLE NOT_YET_SENT
        addresses: how long until its first person is done, and until it completes. One
        gateway (SQLite, tracker off), time scaled by FACTOR (quota and budget 60 x FACTOR a
        minute, worker poll 1 s / FACTOR)."""
        quota = 60 * factor
        mine = [address(SECOND[0], n) for n in range(people)]
        emulator, url, key, stats = self.roster_emulator("backlog-emulator", mine, quota)
        _, port, _ = self.start_gateway(
            per_minute=quota, emulator=(url, key),
            extra={"GATEWAY_BODY_READ_TIMEOUT_SECS": "120"} | scaled_poll(factor))
        token_a = self.mint_token("bench-backlog", "invitations.check invitations.read")
        token_b = self.mint_token("bench-second")
        t0 = time.monotonic()
        backlog = []
        for c in range(campaigns):
            lines = [address(BACKLOG[0], c * size + n) for n in range(size)]
            status, created = post_body(
                port, f"/v1/campaigns/roster?name=backlog%20{c}&dryRun=true",
                ("email\n" + "\n".join(lines) + "\n").encode(), "text/csv", token_a)
            assert status == 201, created
            backlog.append(created["id"])
        created_s = time.monotonic() - t0
        # The worst moment for B: the backlog has had all the window grants background work.
        grant = quota * (1 - FLOOR_PERCENT / 100.0)
        while sum(stats()["calls"].values()) < grant and time.monotonic() - t0 < WINDOW_S:
            time.sleep(0.1)
        spent_s = time.monotonic() - t0
        before = stats()
        t1 = time.monotonic()
        status, created = http_json("POST", f"http://127.0.0.1:{port}/v1/campaigns",
                                    {"name": "second caller", "source": {"emails": mine}},
                                    token_b)
        assert status == 201, created
        view, wall, progress, first = self.follow(port, token_b, created["id"], t1, 600)
        after = stats()
        backlog_views = [http_json("GET", f"http://127.0.0.1:{port}/v1/campaigns/{i}", None,
                                   token_a)[1] for i in backlog]
        # The same caller with the scope a cancel needs (the backlog was made without it).
        token_cancel = self.mint_token("bench-backlog")
        for campaign_id in backlog:
            if http_json("GET", f"http://127.0.0.1:{port}/v1/campaigns/{campaign_id}", None,
                         token_a)[1]["state"] not in ("completed", "cancelled"):
                http_json("POST", f"http://127.0.0.1:{port}/v1/campaigns/{campaign_id}/cancel",
                          None, token_cancel)
        stop(emulator)
        return {"factor": factor, "quota": quota, "campaigns": campaigns, "size": size,
                "people": people, "backlog_created_s": created_s, "window_spent_s": spent_s,
                "calls_before_second": sum(before["calls"].values()),
                "calls": {m: n - before["calls"].get(m, 0) for m, n in after["calls"].items()},
                "start_s": first, "wall_s": wall, "view": view, "progress": progress,
                "backlog_done": sum(v["total"] - v["counts"].get("pending", 0)
                                    for v in backlog_views),
                "quota_rejections": after["quotaRejections"]}

    def soak(self, gw_pid, gw_port, token, max_rps, minutes):
        """Half the measured maximum for MINUTES, paced through wrk's delay() hook."""
        target = max_rps / 2.0
        # Plain wrk has no -R: each connection pauses between requests, about 20 ms, so the
        # rate is connections / (pause + latency). A 10 s calibration run measures the latency
        # part and the pause is shortened by it.
        connections = max(4, min(512, round(target * 0.020)))
        delay_ms = connections * 1000.0 / target
        url = f"http://127.0.0.1:{gw_port}/v1/eligibility/check"
        env = {"BENCH_BODY": json.dumps({"emails": [HOT]}), "BENCH_TOKEN": token}
        probe = wrk("static.lua", url, connections, 10, dict(env, BENCH_DELAY_MS=f"{delay_ms:.3f}"))
        overhead_ms = connections * 1000.0 / probe["rps"] - delay_ms
        delay_ms = max(0.0, delay_ms - overhead_ms)
        samples = []
        stop_sampling = threading.Event()

        def sample():
            while not stop_sampling.is_set():
                samples.append((time.monotonic(), proc_status(gw_pid, "VmRSS")))
                stop_sampling.wait(5)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = wrk("static.lua", url, connections, int(minutes * 60),
                         dict(env, BENCH_DELAY_MS=f"{delay_ms:.3f}"))
        finally:
            stop_sampling.set()
            sampler.join()
        rss = [r for _, r in samples]
        return {"target_rps": target, "connections": connections, "delay_ms": delay_ms,
                "wrk": result, "rss_start": rss[0], "rss_end": rss[-1], "rss_peak": max(rss),
                "hwm": proc_status(gw_pid, "VmHWM"),
                "rss_samples": [(round(t - samples[0][0], 1), r) for t, r in samples]}


# ---------------------------------------------------------------------------- the report


def verdict(ok):
    return "PASS" if ok else "MISS"


def ms(us):
    return us / 1000.0


def campaign_rows(campaign, roster, figure="8"):
    """The rows of figure (8) or (12) and the figures they come from."""
    people, quota = campaign["people"], campaign["quota"]
    calls = campaign["calls"]
    mine = sum(calls.get(m, 0) for m in ("list", "get", "send"))
    per_person = mine / people
    ideal_s = mine * 60.0 / quota  # the N x calls-per-person / Q
    checks = campaign["checks"]
    # The work-conserving budget grants background work all of a 62 s window but the callers'
    # reserve: a floor of 2 % of Q plus the window's interactive calls (docs/architecture.md).
    grant = quota * (1 - FLOOR_PERCENT / 100.0)
    windows = math.ceil(mine / grant)
    window_s = (windows - 1) * WINDOW_S
    steady = WINDOW_S / (60.0 * (1 - FLOOR_PERCENT / 100.0))
    target = TARGETS["pace_loaded"] if checks else TARGETS["pace_idle"]
    wall = campaign["wall_s"]
    server = "" if campaign.get("server_wall_s") is None else \
        f"createdAt to completedAt {campaign['server_wall_s']:.1f} s; "
    view = campaign["view"]
    check_ms = [c["ms"] for c in checks]
    check_errors = {}
    for c in checks:
        if c["error"] is not None:
            check_errors[c["error"]] = check_errors.get(c["error"], 0) + 1
    breakdown = ", ".join(f"{m} {n}" for m, n in sorted(calls.items()) if n)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(view["counts"].items()))
    replicas = campaign.get("replicas", 3)
    where = f"{replicas} replicas on one PostgreSQL" if replicas > 1 else "1 gateway, SQLite"
    load = (f"one interactive check every {campaign['check_interval_s']:g} s"
            if checks else "no interactive traffic")
    scale = "" if campaign.get("factor") is None else \
        f", time x{campaign['factor']} (Q = 60 x {campaign['factor']}, worker poll 1 s / {campaign['factor']})"
    figures = {"own_calls": mine, "calls_per_person": per_person, "ideal_s": ideal_s,
               "window_bound_s": window_s, "ratio": wall / ideal_s, "steady_ratio": steady}
    rows = [
        (figure, f"`states` campaign of N={people:,} NOT_YET_SENT people, {where}, emulator and budget Q={quota}/min{scale}, {load}",
         f"{wall:.1f} s from the create to `completed` seen by the client ({server}{campaign['view']['state']}: {counts}; {campaign['people_mailed']:,} people mailed, at most {campaign['most_mails']} mail each)", "report", ""),
        # The budget is work-conserving: with nobody checking, a campaign may use all of Q
        # but the 2 % floor, so its ideal is the N x calls-per-person / Q.
        (figure, f"wall time / N x calls-per-person / Q ({load})",
         f"{wall:.1f} s / {ideal_s:.1f} s = {wall / ideal_s:.2f}x (a 62 s window grants background work {grant:.0f} calls less the window's interactive calls, so {mine:,} calls need {windows} window(s), the last opening at least {window_s:.0f} s after the first; over many windows the pace tends to 62 / (60 x {1 - FLOOR_PERCENT / 100:g}) = {steady:.3f}x)",
         f"<= {target:g}x", verdict(wall <= target * ideal_s)),
        (figure, "calls per person (emulator list + get + send / N)",
         f"{per_person:.3f} ({mine:,} calls; all methods: {breakdown}; campaign's googleCalls {view['googleCalls']:,})",
         "<= 1.01", verdict(per_person <= TARGETS["calls_per_person"])),
        (figure, "429s from the emulator (quotaRejections)", f"{campaign['quota_rejections']}", "0",
         verdict(campaign["quota_rejections"] == 0)),
    ]
    if checks:
        p99 = percentile(check_ms, 99)
        figures.update(check_p50_ms=percentile(check_ms, 50), check_p99_ms=p99,
                       check_max_ms=max(check_ms), check_errors=check_errors)
        rows.append((figure, f"interactive check during the campaign (1 fresh address every {campaign['check_interval_s']:g} s, round robin)",
                     f"p50 {percentile(check_ms, 50):.1f} ms, p99 {p99:.1f} ms, max {max(check_ms):.1f} ms ({len(checks)} checks; errors: {', '.join(f'{k} {v}' for k, v in sorted(check_errors.items())) or 'none'})",
                     "p99 < 1 s", verdict(p99 < TARGETS["check_p99_ms"] and not check_errors)))
    if roster is None:
        return rows, figures
    peak = max(roster["rss_peak"], roster["hwm"]) if roster["hwm_reset"] else roster["rss_peak"]
    hwm_note = f"VmHWM {roster['hwm']:.1f} MiB" + ("" if roster["hwm_reset"] else " since start (reset refused)")
    rows.append((figure, f"RSS of a replica while a {roster['rows']:,}-row roster ({roster['bytes'] / 1e6:.1f} MB) is imported (text/csv, dryRun)",
                 f"peak {peak:.1f} MiB (VmRSS sampled every 20 ms: before {roster['rss_before']:.1f}, peak {roster['rss_peak']:.1f}, 1 s after the answer {roster['rss_after']:.1f}; {hwm_note}); answer {roster['status']} after {roster['import_s']:.1f} s",
                 "<= 64 MiB", verdict(roster["status"] == 201 and peak <= TARGETS["roster_rss_mib"])))
    figures["roster_peak_mib"] = peak
    return rows, figures


def measure_campaign_figure(bench, args, pg_url):
    """(8) on a fresh database of PG_URL's server; (campaign, roster)."""
    log(f"(8) campaign of {args.campaign_people:,} people, 3 replicas on one PostgreSQL, "
        f"quota {args.campaign_quota}/min (ideal N x calls-per-person / Q about "
        f"{args.campaign_people * 60 / args.campaign_quota:.0f} s plus the list), then a "
        f"{args.roster_rows:,}-row roster import")
    result = bench.measure_campaign(pg_database(pg_url, "bench_campaigns"), args.campaign_people,
                                    args.campaign_quota, args.campaign_check_interval,
                                    args.roster_rows)
    pg_admin(pg_url, "DROP DATABASE IF EXISTS bench_campaigns WITH (FORCE)")
    return result


def run_campaigns_only(args):
    """Figure (8) alone (--campaigns-only): the gateway binary and PostgreSQL, nothing else."""
    if not os.access(GATEWAY_BIN, os.X_OK):
        sys.exit(f"missing {GATEWAY_BIN}: run bench/run.sh, which builds it")
    pg_url = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if not pg_url:
        sys.exit("(8) needs PostgreSQL: source .ci/postgres.sh (GATEWAY_TEST_DATABASE_URL)")
    bench = Bench(args)
    facts = machine()
    load = Load()
    campaign, roster = measure_campaign_figure(bench, args, pg_url)
    stop_all()
    load.finish()
    rows, figures = campaign_rows(campaign, roster)
    print()
    print(f"invitation-gateway benchmark, figure (8) only, {facts['date']}: {facts['nproc']} cores "
          f"({facts['cpu']}), kernel {facts['kernel']}, {facts['rustc']}, load average at start "
          f"{facts['load']}")
    print(f"other load: {load.before:.0%} of all cores busy before the run, {load.during:.0%} "
          f"used by other processes during it (PostgreSQL's server processes count as other), "
          f"{load.after:.0%} after; GATEWAY_WORKERS={bench.workers} (0 = one per core)")
    print_rows(rows, load, "latencies are disturbed; rerun on a quiet machine.")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": facts, "campaign": campaign, "roster": roster,
                       "campaign_figures": figures} | load.raw(), out, indent=2)


def run_tracker_only(args):
    """Figure (9) alone (--tracker-only): the tracker's calls per interval and per day."""
    if not os.access(GATEWAY_BIN, os.X_OK):
        sys.exit(f"missing {GATEWAY_BIN}: run bench/run.sh, which builds it")
    bench = Bench(args)
    facts = machine()
    log(f"(9) tracker at {args.tracker_people:,} people, {args.tracker_daily_change:.0%} changing "
        f"a day, time scaled x{args.tracker_factor}")
    t = bench.measure_tracker(args.tracker_people, args.tracker_factor, args.tracker_intervals,
                              args.tracker_daily_change)
    stop_all()
    print()
    print(f"invitation-gateway benchmark, figure (9) only, {facts['date']}: {facts['nproc']} cores "
          f"({facts['cpu']}), load average at start {facts['load']}")
    print(f"time scaled x{t['factor']}: walk interval {t['interval_s']:g} s (900 s / {t['factor']}), "
          f"emulator quota and gateway budget {t['quota']} calls a minute (60 x {t['factor']}); "
          f"full walks every 24 h (not scaled: none falls in the run)")
    print()
    print("| # | figure | measured | target | result |")
    print("|---|---|---|---|---|")
    rows = [
        ("9", f"first (full) walk of {t['people']:,} people",
         f"{t['full_walk_calls']} list calls in {t['full_walk_s']:.1f} s", "people / 200", ""),
        ("9", "calls per interval after it (changes made before each)",
         f"{t['calls_per_interval']} for {t['changes_per_interval']} changes; "
         f"{t['calls_per_interval_mean']:.2f} per walk", "", ""),
        ("9", "calls per day (96 intervals x mean + one full walk)",
         f"{t['calls_per_day']:.0f} = {t['share_of_daily_quota']:.2%} of 86,400",
         "<= 1 %", verdict(t["share_of_daily_quota"] <= 0.01)),
    ]
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": facts, "tracker": t}, out, indent=2)


def since(start, at):
    """Seconds from the RFC 3339 time START to AT (None when either is None)."""
    if not start or not at:
        return None
    return (datetime.datetime.fromisoformat(at)
            - datetime.datetime.fromisoformat(start)).total_seconds()


def roster_rows(r):
    """The rows of figures (10) and (11)."""
    rows = []
    for name, label in (("dry_off", "checkUnlisted off"), ("dry_on", "checkUnlisted on")):
        run = r["runs"][name]
        calls = run["calls"]
        own = sum(calls.get(m, 0) for m in ("get", "isInvitableUser", "send"))
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(run["view"]["counts"].items()))
        done = run["view"]["total"] - run["view"]["counts"].get("pending", 0)
        eta = since(run["created_at"], run["created_eta"])
        eta_text = "none" if eta is None else f"{eta / 60:,.1f} min after the create"
        measured = (f"{own:,} calls of its own (get {calls.get('get', 0):,}, isInvitableUser "
                    f"{calls.get('isInvitableUser', 0):,}, send {calls.get('send', 0)}; campaign's "
                    f"googleCalls {run['view']['googleCalls']:,}) for {done:,} people done in "
                    f"{run['wall_s']:.1f} s ({run['view']['state']}: {counts}); besides, the "
                    f"tracker's {run['tracker_walks']:.0f} walks listed {calls.get('list', 0)} "
                    f"pages; ETA shown at the create: {eta_text}")
        if name == "dry_off":
            rows.append(("10", f"reconciliation (dry run) of a {r['rows']:,}-row roster, {r['listed']:,} of them listed by the tracker's snapshot, {label}",
                         measured, "<= 50 calls", verdict(own <= TARGETS["reconcile_calls"])))
        else:
            whole = own / max(1, done) * r["rows"]
            rows.append(("10", f"the same, {label}" + ("" if run["view"]["state"] == "completed" else " (stopped, then cancelled)"),
                         measured + f"; {own / max(1, done):.3f} calls per person done, {whole:,.0f} for the whole roster",
                         "report", ""))
    run = r["runs"]["real_off"]
    calls = run["calls"]
    own = sum(calls.get(m, 0) for m in ("get", "isInvitableUser", "send"))
    per = own / max(1, run["mailed"])
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(run["view"]["counts"].items()))
    rows.append(("11", f"real run of the same roster, checkUnlisted off",
                 f"{per:.3f} calls per mailed person ({own:,} calls: get {calls.get('get', 0):,}, isInvitableUser {calls.get('isInvitableUser', 0):,}, send {calls.get('send', 0):,}; {run['mailed']:,} people mailed; {run['wall_s']:.1f} s, {run['view']['state']}: {counts}; 429s {run['quota_rejections']})",
                 "<= 1.05", verdict(run["mailed"] > 0 and per <= TARGETS["roster_calls_per_mail"])))
    return rows


def backlog_rows(b):
    """The rows of figure (13)."""
    seen = []
    for p in b["progress"]:
        state = p["state"] + (f" ({p['waitingReason']})" if p.get("waitingReason") else "")
        if not seen or seen[-1][1] != state:
            seen.append((p["at_s"], state))
    states = ", ".join(f"{state} at {at:.1f} s" for at, state in seen)
    calls = ", ".join(f"{m} {n}" for m, n in sorted(b["calls"].items()) if n)
    start = b["start_s"]
    return [
        ("13", f"a second caller's real {b['people']}-person campaign behind another caller's {b['campaigns']} dry runs of {b['size']:,} ({b['campaigns'] * b['size']:,} items, created in {b['backlog_created_s']:.1f} s), created once the backlog had spent the window ({b['calls_before_second']:,} calls, {b['window_spent_s']:.1f} s after the backlog's first create)",
         f"first person done {start:.1f} s after its create, {b['view']['state']} after {b['wall_s']:.1f} s ({', '.join(f'{k} {v}' for k, v in sorted(b['view']['counts'].items()))}; states seen: {states}); Google calls meanwhile: {calls}; backlog items done by then: {b['backlog_done']:,}",
         f"start <= {WINDOW_S} s (one window)",
         verdict(start is not None and start <= WINDOW_S and b["view"]["state"] == "completed")),
    ]


def run_work_only(args):
    """Issue 24's work figures (--work-only): (10) and (11) rosters from the tracker's snapshot,
    (12) a campaign's pace against Q, (13) a second caller behind a backlog."""
    if not os.access(GATEWAY_BIN, os.X_OK):
        sys.exit(f"missing {GATEWAY_BIN}: run bench/run.sh, which builds it")
    figures = {f.strip() for f in args.work_figures.split(",")}
    pg_url = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    bench = Bench(args)
    facts = machine()
    load = Load()
    raw, rows, scales = {}, [], []
    if figures & {"10", "11"}:
        f = args.work_factor
        log(f"(10)/(11) rosters of {args.reconcile_rows:,}, {args.reconcile_listed:,} listed, time x{f}")
        raw["rosters"] = r = bench.measure_rosters(args.reconcile_rows, args.reconcile_listed, f,
                                                   args.reconcile_on_seconds)
        stop_all()
        rows += roster_rows(r)
        scales.append(f"(10)/(11) time x{f}: quota and budget {r['quota']}/min (60 x {f}), walk "
                      f"interval {r['interval_s']} s (900 s / {f}, rounded), worker poll "
                      f"{1000 / f:.0f} ms (1 s / {f}); the tracker's first full walk: "
                      f"{r['first_walk']['list_calls']} list calls in {r['first_walk']['s']:.1f} s")
    if "12" in figures:
        f = args.pace_factor
        database = None
        for label, interval in (("idle", 0), ("loaded", args.campaign_check_interval)):
            if pg_url:
                database = pg_database(pg_url, "bench_pace")
            log(f"(12) campaign of {args.pace_people:,} people, Q {60 * f}/min, "
                f"{'no interactive traffic' if not interval else f'a check every {interval:g} s'}")
            campaign, _ = bench.measure_campaign(database, args.pace_people, 60 * f, interval,
                                                 0, factor=f)
            stop_all()
            if pg_url:
                pg_admin(pg_url, "DROP DATABASE IF EXISTS bench_pace WITH (FORCE)")
            raw[f"pace_{label}"] = campaign
            campaign_rows_, figs = campaign_rows(campaign, None, "12")
            campaign["figures"] = figs
            rows += campaign_rows_
        scales.append(f"(12) time x{f}: quota and budget {60 * f}/min (60 x {f}), worker poll "
                      f"{1000 / f:.0f} ms; the budget's 62 s window is not scaled")
    if "13" in figures:
        f = args.backlog_factor
        log(f"(13) a second caller behind {args.backlog_campaigns} dry runs of "
            f"{args.backlog_size:,}, time x{f}")
        raw["backlog"] = b = bench.measure_backlog(f, args.backlog_campaigns, args.backlog_size,
                                                   args.backlog_people)
        stop_all()
        rows += backlog_rows(b)
        scales.append(f"(13) time x{f}: quota and budget {b['quota']}/min (60 x {f}), worker poll "
                      f"{1000 / f:.0f} ms, the tracker off; the budget's 62 s window is not scaled")
    load.finish()
    with open("/proc/loadavg") as loadavg:
        load_end = " ".join(loadavg.read().split()[:3])
    print()
    print(f"invitation-gateway benchmark, issue 24's work figures ({', '.join(sorted(figures))}), "
          f"{facts['date']}: {facts['nproc']} cores ({facts['cpu']}), load average at start "
          f"{facts['load']}, at the end {load_end}")
    print(f"other load: {load.before:.0%} of all cores busy before the run, {load.during:.0%} "
          f"used by other processes during it, {load.after:.0%} after")
    for line in scales:
        print(line)
    print_rows(rows, load, "counts of calls do not depend on it; wall times and latencies do.")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": facts, "load_end": load_end, "scales": scales, "rows": rows}
                      | load.raw() | raw, out, indent=2)


def run(args):
    if args.campaigns_only:
        return run_campaigns_only(args)
    if args.tracker_only:
        return run_tracker_only(args)
    if args.work_only:
        return run_work_only(args)
    for binary in (GATEWAY_BIN, HELLO_BIN):
        if not os.access(binary, os.X_OK):
            sys.exit(f"missing {binary}: run bench/run.sh, which builds it")
    bench = Bench(args)
    facts = machine()
    load = Load()
    seed, accounts = bench.write_seed()
    log(f"seed file with {accounts} accounts; starting the emulator")
    bench.start_emulator(seed)
    token = bench.mint_token()

    log(f"(5) start to /readyz 200, {args.startup_runs} fresh processes")
    startup = bench.measure_startup(args.startup_runs)

    gateway, gw_port, _ = bench.start_gateway()
    time.sleep(1.0)
    rss_idle = proc_status(gateway.pid, "VmRSS")
    hello, hello_port = bench.start_hello()

    log(f"(1) cached check vs hello: {args.rounds} rounds x {args.seconds} s each, "
        f"{args.connections} connections")
    hello_runs, gw_runs = bench.measure_throughput(gateway.pid, gw_port, hello.pid, hello_port,
                                                   token)
    stop(hello)

    log("(4) RSS under 256 connections")
    conn_run, rss_256, hwm_256 = bench.measure_connections(gateway.pid, gw_port, token)

    log(f"(2) uncached check vs the emulator directly, 1 connection, {args.uncached_seconds} s each")
    direct, uncached = bench.measure_uncached(gw_port, token)

    log(f"(3) send batch of 100 at 100 ms upstream latency, {args.send_trials} trials")
    sends = bench.measure_send_batch(gw_port, token, args.send_trials)

    pg_url = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    latency = {}
    log(f"(6) one-address send latency, {args.latency_sends} sends per store")
    latency["SQLite"] = bench.measure_send_latency(gw_port, token, LATENCY["SQLite"],
                                                   args.latency_sends)
    if pg_url:
        latency_gw, latency_port, _ = bench.start_gateway(pg_database(pg_url, "bench_latency"))
        latency["PostgreSQL"] = bench.measure_send_latency(latency_port, token,
                                                           LATENCY["PostgreSQL"],
                                                           args.latency_sends)
        stop(latency_gw)
        pg_admin(pg_url, "DROP DATABASE IF EXISTS bench_latency WITH (FORCE)")
    else:
        log("(6) GATEWAY_TEST_DATABASE_URL is unset: PostgreSQL skipped "
            "(source .ci/postgres.sh to get one)")

    replicas = None
    if pg_url:
        log(f"(7) 3 replicas on one PostgreSQL, quota {args.replica_quota}/min, "
            f"{args.replica_seconds} s, {args.replica_threads} clients each")
        replicas = bench.measure_replicas(pg_database(pg_url, "bench_replicas"),
                                          args.replica_quota, args.replica_seconds,
                                          args.replica_threads)
        pg_admin(pg_url, "DROP DATABASE IF EXISTS bench_replicas WITH (FORCE)")
    else:
        log("(7) GATEWAY_TEST_DATABASE_URL is unset: the 3-replica figure is skipped "
            "(source .ci/postgres.sh to get one)")

    campaign = roster = None
    if args.campaigns and pg_url:
        campaign, roster = measure_campaign_figure(bench, args, pg_url)
    elif args.campaigns:
        log("(8) GATEWAY_TEST_DATABASE_URL is unset: the campaign figure is skipped "
            "(source .ci/postgres.sh to get one)")

    soak = None
    if args.soak:
        max_rps = statistics.median(r["rps"] for r in gw_runs)
        log(f"soak: {args.soak_minutes} min at half of {max_rps:.0f} req/s")
        soak = bench.soak(gateway.pid, gw_port, token, max_rps, args.soak_minutes)
    stop(gateway)

    log("(4) RSS with 100,000 cached eligibility answers (fresh gateway)")
    fill = bench.measure_cache_fill(token)

    stop_all()
    # Everything busy on the machine during the measurements that was not this script or
    # the processes it started (all waited for, so their CPU time is in os.times()).
    load.finish()

    # ---- figures
    hello_rps = statistics.median(r["rps"] for r in hello_runs)
    gw_rps = statistics.median(r["rps"] for r in gw_runs)
    ratios = [g["rps"] / h["rps"] for g, h in zip(gw_runs, hello_runs)]
    ratio = gw_rps / hello_rps
    p = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
    added_p50 = ms(uncached["p50_us"] - direct["p50_us"])
    # Addresses past the seeded range are unknown to the emulator: the same lookup, a "no" answer.
    past = max(0, direct["requests"] + 1 - UNCACHED[1])
    beyond = f"; the last {past:,} past the seeded range, answered as unknown" if past else ""
    conc = int(os.environ.get("GATEWAY_BATCH_CONCURRENCY", "10"))
    calls_per_item = statistics.median(s["calls_per_item"] for s in sends)
    ideal = math.ceil(100 / conc) * calls_per_item * 0.100
    elapsed = statistics.median(s["elapsed_s"] for s in sends)
    ready = statistics.median(startup)
    errors_1 = sum(r["errors"] + r["status"] for r in gw_runs + hello_runs)

    rows = [
        ("1", "hello (bare actix-web) POST /", f"{hello_rps:,.0f} req/s, p50 {ms(p(hello_runs, 'p50_us')):.2f} ms, p99 {ms(p(hello_runs, 'p99_us')):.2f} ms", "baseline", ""),
        ("1", "gateway cached check (1 email, HS256, RUST_LOG=info, store: SQLite file)", f"{gw_rps:,.0f} req/s, p50 {ms(p(gw_runs, 'p50_us')):.2f} ms, p99 {ms(p(gw_runs, 'p99_us')):.2f} ms", "", ""),
        ("1", "server CPU per request, gateway / hello", f"{p(gw_runs, 'cpu_us_per_request'):.0f} us / {p(hello_runs, 'cpu_us_per_request'):.0f} us (steadier than throughput on a busy machine)", "", ""),
        ("1", "throughput gateway / hello", f"{ratio:.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})", ">= 0.7", verdict(ratio >= TARGETS["ratio"])),
        ("2", "emulator isInvitableUser directly, 1 conn", f"p50 {ms(direct['p50_us']):.3f} ms, p99 {ms(direct['p99_us']):.3f} ms ({direct['requests']:,} calls{beyond})", "baseline", ""),
        ("2", "gateway uncached check, 1 conn", f"p50 {ms(uncached['p50_us']):.3f} ms, p99 {ms(uncached['p99_us']):.3f} ms ({uncached['requests']:,} distinct addresses)", "", ""),
        ("2", "latency added by the gateway (p50 difference)", f"{added_p50:.3f} ms", "<= 0.3 ms", verdict(added_p50 <= TARGETS["added_p50_ms"])),
        ("3", f"send batch of 100 at 100 ms/call (median of {len(sends)})", f"{elapsed:.2f} s vs ideal {ideal:.2f} s = ceil(100/{conc}) x {calls_per_item:g} calls x 100 ms: {elapsed / ideal:.2f}x", "<= 1.2x ideal", verdict(elapsed <= TARGETS["batch_factor"] * ideal)),
        ("4", "RSS idle (VmRSS after /readyz 200)", f"{rss_idle:.1f} MiB", "<= 20 MiB", verdict(rss_idle <= TARGETS["rss_idle_mib"])),
        ("4", "RSS under 256 connections (peak VmRSS sampled)", f"{rss_256:.1f} MiB (VmHWM {hwm_256:.1f} MiB; {conn_run['rps']:,.0f} req/s, p99 {ms(conn_run['p99_us']):.1f} ms)", "<= 64 MiB", verdict(rss_256 <= TARGETS["rss_loaded_mib"])),
        ("4", "RSS with 100,000 cached answers (fresh process)", f"{fill['rss']:.1f} MiB (VmHWM {fill['hwm']:.1f} MiB; filled in {fill['fill_s']:.1f} s; {fill['held']:,} held)", "<= 64 MiB", verdict(fill["rss"] <= TARGETS["rss_loaded_mib"])),
        ("5", f"process start to /readyz 200 (median of {len(startup)})", f"{ready:.0f} ms (min {min(startup):.0f}, max {max(startup):.0f})", "<= 200 ms", verdict(ready <= TARGETS["ready_ms"])),
    ]
    for store, runs in latency.items():
        lookup, send = runs["lookup_us"], runs["send_us"]
        share50 = ms(percentile(send, 50) - percentile(lookup, 50))
        share99 = ms(percentile(send, 99) - percentile(lookup, 99))
        rows.append(("6", f"one-address send, store {store} ({len(send)} sequential sends)",
                     f"p50 {ms(percentile(send, 50)):.2f} ms, p99 {ms(percentile(send, 99)):.2f} ms", "report", ""))
        rows.append(("6", f"one-address lookup, store {store} (same addresses)",
                     f"p50 {ms(percentile(lookup, 50)):.2f} ms, p99 {ms(percentile(lookup, 99)):.2f} ms", "baseline", ""))
        rows.append(("6", f"store's share of a send, {store} (send - lookup)",
                     f"p50 {share50:+.2f} ms, p99 {share99:+.2f} ms", "report", ""))
    if "PostgreSQL" not in latency:
        rows.append(("6", "one-address send, store PostgreSQL", "skipped: GATEWAY_TEST_DATABASE_URL unset", "report", "SKIP"))
    if replicas:
        quota = replicas["quota"]
        # The budget grants at most Q calls per 62 s sliding window, so the most the run can
        # be served is Q per window it spans (90 s: 2 windows, the second opening at 62 s).
        windows = math.ceil(replicas["seconds"] / WINDOW_S)
        end = replicas["stats_at_end"]
        rejected = end["quotaRejections"]
        served = end["calls"]["isInvitableUser"] - rejected
        share = served / (quota * windows)
        callers = replicas["callers"]
        ok = sum(c["ok"] for c in callers)
        exhausted = sum(c["quota_exhausted"] for c in callers)
        other = {}
        for c in callers:
            for code, n in c["other"].items():
                other[code] = other.get(code, 0) + n
        others = ", ".join(f"{code} {n}" for code, n in sorted(other.items())) or "none"
        late = replicas["stats_after"]["quotaRejections"] - rejected
        rows.append(("7", f"3 replicas, one PostgreSQL, emulator quota Q={quota}/min, {replicas['seconds']} s of {3 * replicas['threads_per_replica']} clients",
                     f"{served} calls served by the emulator / (Q x {windows} windows of {WINDOW_S} s the run spans) = {share:.2f}; callers: {ok} answered, {exhausted} quota_exhausted, other errors: {others}",
                     ">= 0.9", verdict(share >= TARGETS["replica_served"])))
        rows.append(("7", "429s from the emulator (quotaRejections)",
                     f"{rejected} during the window" + (f", {late} more after it" if late else ""),
                     "0", verdict(rejected == 0 and late == 0)))
    else:
        rows.append(("7", "3 replicas sharing a quota", "skipped: GATEWAY_TEST_DATABASE_URL unset", ">= 0.9, 0 429s", "SKIP"))
    campaign_figures = None
    if campaign:
        campaign_rowlist, campaign_figures = campaign_rows(campaign, roster)
        rows += campaign_rowlist
    elif args.campaigns:
        rows.append(("8", "campaign of 3 replicas, roster import RSS", "skipped: GATEWAY_TEST_DATABASE_URL unset", "<= 1.10x, <= 1.01, 0, < 1 s, <= 64 MiB", "SKIP"))
    if soak:
        w = soak["wrk"]
        achieved = w["rps"]
        rows.append(("soak", f"{args.soak_minutes:g} min at half of max ({soak['target_rps']:,.0f} req/s target, {soak['connections']} conns x {soak['delay_ms']:.1f} ms pause)",
                     f"{achieved:,.0f} req/s achieved; RSS start {soak['rss_start']:.1f}, end {soak['rss_end']:.1f}, peak {soak['rss_peak']:.1f} MiB (growth {soak['rss_end'] - soak['rss_start']:+.1f} MiB); errors {w['errors']}, non-2xx {w['status']}; p99 {ms(w['p99_us']):.2f} ms",
                     "growth <= 4 MiB, 0 errors", verdict(w["errors"] == 0 and w["status"] == 0 and soak["rss_end"] - soak["rss_start"] <= 4.0)))

    print()
    print(f"invitation-gateway benchmark, {facts['date']}: {facts['nproc']} cores ({facts['cpu']}), "
          f"kernel {facts['kernel']}, {facts['rustc']}, load average at start {facts['load']}")
    print(f"other load: {load.before:.0%} of all cores busy before the run, {load.during:.0%} "
          f"used by other processes during it, {load.after:.0%} after; "
          f"GATEWAY_WORKERS={bench.workers} (0 = one per core), GATEWAY_BATCH_CONCURRENCY={conc}, "
          f"wrk -t1 -c{args.connections} x {args.seconds} s; errors in (1): {errors_1}; "
          f"fill errors: {fill['errors']}")
    print_rows(rows, load, "the throughput and latency figures are disturbed; rerun on a quiet "
               "machine.")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(load.raw() | {"machine": facts,
                       "hello": hello_runs, "gateway": gw_runs, "direct": direct,
                       "uncached": uncached, "connections": conn_run, "rss_idle": rss_idle,
                       "rss_256": rss_256, "hwm_256": hwm_256, "sends": sends, "fill": fill,
                       "startup_ms": startup, "send_latency_us": latency,
                       "replicas": replicas, "campaign": campaign, "roster": roster,
                       "campaign_figures": campaign_figures, "soak": soak}, out, indent=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--soak", action="store_true", help="also run the soak (10 minutes)")
    parser.add_argument("--soak-minutes", type=float, default=10.0)
    parser.add_argument("--seconds", type=int, default=10, help="length of each load run")
    parser.add_argument("--rounds", type=int, default=2, help="hello/gateway rounds in (1)")
    parser.add_argument("--connections", type=int, default=64, help="connections in (1)")
    parser.add_argument("--uncached-seconds", type=int, default=5)
    parser.add_argument("--send-trials", type=int, default=3)
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--latency-sends", type=int, default=500,
                        help="one-address sends per store in (6)")
    parser.add_argument("--replica-quota", type=int, default=120,
                        help="the quota (calls a minute) the emulator enforces in (7)")
    parser.add_argument("--replica-seconds", type=int, default=90, help="length of (7)")
    parser.add_argument("--replica-threads", type=int, default=4,
                        help="clients per replica in (7)")
    parser.add_argument("--campaigns", action="store_true",
                        help="also measure (8): a campaign on 3 replicas and a roster import "
                             "(about 3 minutes; bench/run.sh passes it)")
    parser.add_argument("--campaigns-only", action="store_true",
                        help="measure (8) alone (needs only the gateway binary and PostgreSQL)")
    parser.add_argument("--campaign-people", type=int, default=1000,
                        help="N, the NOT_YET_SENT people of the campaign in (8)")
    parser.add_argument("--campaign-quota", type=int, default=600,
                        help="Q, calls a minute the emulator enforces and the gateways budget in (8)")
    parser.add_argument("--campaign-check-interval", type=float, default=2.0,
                        help="seconds between two interactive checks during the campaign of (8)")
    parser.add_argument("--roster-rows", type=int, default=100_000,
                        help="rows of the roster imported in (8)")
    parser.add_argument("--roster-read-timeout", type=int, default=120,
                        help="GATEWAY_BODY_READ_TIMEOUT_SECS of the gateways in (8)")
    parser.add_argument("--tracker-only", action="store_true",
                        help="measure (9) alone: the tracker's calls per interval and per day")
    parser.add_argument("--tracker-people", type=int, default=100_000)
    parser.add_argument("--tracker-factor", type=int, default=60,
                        help="time scale of (9): interval 900 s and quota 60/min scaled by it")
    parser.add_argument("--tracker-intervals", type=int, default=8,
                        help="incremental walks measured in (9)")
    parser.add_argument("--tracker-daily-change", type=float, default=0.01,
                        help="share of the people changing a day in (9)")
    parser.add_argument("--work-only", action="store_true",
                        help="measure issue 24's work figures alone: (10) a roster's "
                             "reconciliation, (11) its real run, (12) a campaign's pace, (13) a "
                             "second caller behind a backlog (--work-figures chooses)")
    parser.add_argument("--work-figures", default="10,11,12,13",
                        help="which of 10,11,12,13 --work-only measures (10 and 11 run together)")
    parser.add_argument("--work-factor", type=int, default=60,
                        help="time scale of (10) and (11): quota 60/min, walk interval 900 s "
                             "and worker poll 1 s scaled by it")
    parser.add_argument("--reconcile-rows", type=int, default=100_000)
    parser.add_argument("--reconcile-listed", type=int, default=5_000,
                        help="people of the roster in Google's list in (10), (11)")
    parser.add_argument("--reconcile-on-seconds", type=int, default=120,
                        help="how long (10)'s dry run with checkUnlisted on runs before it is "
                             "cancelled (0: to the end)")
    parser.add_argument("--pace-factor", type=int, default=10,
                        help="time scale of (12): Q = 60 x it a minute, worker poll 1 s / it")
    parser.add_argument("--pace-people", type=int, default=3000,
                        help="N, the NOT_YET_SENT people of (12)'s campaigns")
    parser.add_argument("--backlog-factor", type=int, default=10,
                        help="time scale of (13): quota 60/min and worker poll 1 s scaled by it "
                             "(small enough that the backlog spends the window, as at Google's "
                             "60 a minute)")
    parser.add_argument("--backlog-campaigns", type=int, default=20)
    parser.add_argument("--backlog-size", type=int, default=10_000)
    parser.add_argument("--backlog-people", type=int, default=10,
                        help="people of the second caller's campaign in (13)")
    parser.add_argument("--gateway-bin",
                        help="the gateway binary to run instead of target/release's (counts of "
                             "calls, as in (9) to (11), do not depend on the build; wall times do)")
    parser.add_argument("--json", help="also write every raw figure to this file")
    args = parser.parse_args()
    if args.gateway_bin:
        global GATEWAY_BIN
        GATEWAY_BIN = os.path.abspath(args.gateway_bin)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run(args)
    finally:
        stop_all()
        for tmp in TEMP_DIRS:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
