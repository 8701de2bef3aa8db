#!/usr/bin/env python3
"""Figure (14), the hot path: instructions per cached check and RSS idle, load-independent.

    python3 bench/hotpath.py [--gateway-bin BIN] [--hello-bin BIN] [--requests N] [--perf DIR]

Starts the emulator and a gateway with bench.py's settings (RUST_LOG=info, JSON logs to
/dev/null, HS256 caller token, SQLite store), then:
- RSS idle: VmRSS of a fresh gateway 1 s after /readyz 200 (as bench.py's figure (4)), with its
  thread count and the anonymous / file-backed split of /proc/PID/smaps_rollup;
- instructions per request: the gateway under `valgrind --tool=callgrind`, warmed up, its
  counters zeroed, N cached checks sent one after another on one keep-alive connection, the
  counters dumped; Ir / N. The same for the bare actix-web hello (bench.py's baseline), so the
  two compare on one scale whatever else runs on the machine. A callgrind file per server is
  kept in --out for callgrind_annotate;
- with --ratio: bench.py's figure (1) itself (Bench.measure_throughput: hello and the gateway,
  interleaved wrk rounds of 64 connections, not under valgrind), so the throughput ratio comes
  from the same run as the RSS;
- with --perf: `perf record` (cpu-clock, DWARF call graphs) of the gateway, not under
  valgrind, serving 64 connections of wrk, folded into DIR/gateway.folded for a flame graph
  (inferno-flamegraph).
python3 stdlib, valgrind, and for --perf perf and wrk.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the same processes and settings as the benchmark)


def send_checks(port, token, count):
    """COUNT cached checks of bench.HOT on one keep-alive connection; all must be 200."""
    body = json.dumps({"emails": [bench.HOT]})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(count):
        conn.request("POST", "/v1/eligibility/check", body, headers)
        answer = conn.getresponse()
        data = answer.read()
        assert answer.status == 200, (answer.status, data)
    conn.close()


def send_hello(port, token, count):
    body = json.dumps({"emails": [bench.HOT]})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(count):
        conn.request("POST", "/", body, headers)
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200
    conn.close()


def wait_port(port, deadline_s):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/readyz")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answered on {port} within {deadline_s} s")


def total_ir(path):
    """The `totals:` (or `summary:`) line of a callgrind dump: instructions executed."""
    with open(path) as dump:
        for line in dump:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def callgrind(command, env, port, send, token, requests, out_dir, name):
    """Instructions per request of COMMAND (listening on PORT) over REQUESTS requests."""
    prefix = os.path.join(out_dir, f"callgrind.{name}")
    for stale in [f for f in os.listdir(out_dir) if f.startswith(f"callgrind.{name}")]:
        os.remove(os.path.join(out_dir, stale))
    process = bench.spawn(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}.%p"] + command,
        env=env, stderr=open(prefix + ".log", "w"))
    try:
        wait_port(port, 300)
        send(port, token, 200)  # warm-up: connections, caches, the allocator
        subprocess.run(["callgrind_control", "--zero", str(process.pid)], check=True,
                       capture_output=True)
        started = time.monotonic()
        send(port, token, requests)
        seconds = time.monotonic() - started
        subprocess.run(["callgrind_control", f"--dump=measured", str(process.pid)], check=True,
                       capture_output=True)
        time.sleep(0.5)
    finally:
        bench.stop(process)
    dumps = sorted(f for f in os.listdir(out_dir)
                   if f.startswith(f"callgrind.{name}.") and not f.endswith(".log"))
    # The dump callgrind_control asked for is numbered .1 (the final dump at exit has none).
    measured = [f for f in dumps if f.endswith(".1")]
    path = os.path.join(out_dir, measured[0])
    return {"ir_per_request": total_ir(path) / requests, "requests": requests,
            "seconds_under_valgrind": seconds, "dump": path}


def rss_idle(b):
    process, port, _ = b.start_gateway()
    time.sleep(1.0)
    pid = process.pid
    facts = {"vmrss_mib": bench.proc_status(pid, "VmRSS"),
             "threads": len(os.listdir(f"/proc/{pid}/task"))}
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            parts = line.split()
            if parts[0] in ("Rss:", "Anonymous:", "Private_Clean:", "Shared_Clean:"):
                facts[parts[0].rstrip(":").lower() + "_mib"] = int(parts[1]) / 1024
    facts["threads_names"] = sorted(
        open(f"/proc/{pid}/task/{t}/comm").read().strip() for t in os.listdir(f"/proc/{pid}/task"))
    bench.stop(process)
    return facts


def perf_profile(b, token, out_dir, seconds):
    process, port, _ = b.start_gateway()
    body = json.dumps({"emails": [bench.HOT]})
    send_checks(port, token, 10)
    data = os.path.join(out_dir, "perf.data")
    recorder = subprocess.Popen(
        ["perf", "record", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,16384",
         "-o", data, "-p", str(process.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    run = bench.wrk("static.lua", f"http://127.0.0.1:{port}/v1/eligibility/check", 64, seconds,
                    {"BENCH_BODY": body, "BENCH_TOKEN": token})
    recorder.send_signal(2)
    recorder.wait()
    bench.stop(process)
    script = subprocess.run(["perf", "script", "-i", data], capture_output=True, text=True)
    with open(os.path.join(out_dir, "perf.script"), "w") as out:
        out.write(script.stdout)
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateway-bin", default=bench.GATEWAY_BIN)
    parser.add_argument("--hello-bin", default=bench.HELLO_BIN)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--out", default="/tmp/hotpath", help="where the callgrind files go")
    parser.add_argument("--no-hello", action="store_true")
    parser.add_argument("--perf", action="store_true", help="also perf record under wrk")
    parser.add_argument("--perf-seconds", type=int, default=10)
    parser.add_argument("--skip-callgrind", action="store_true")
    parser.add_argument("--ratio", action="store_true", help="also bench.py's figure (1)")
    parser.add_argument("--seconds", type=int, default=5, help="each wrk round of --ratio")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --ratio")
    args = parser.parse_args()
    bench.GATEWAY_BIN = os.path.abspath(args.gateway_bin)
    os.makedirs(args.out, exist_ok=True)
    b = bench.Bench(argparse.Namespace(connections=64, seconds=args.seconds, rounds=args.rounds))
    results = {"load": os.getloadavg()}
    try:
        seed, _ = b.write_seed()
        b.start_emulator(seed)
        token = b.mint_token()
        results["rss_idle"] = rss_idle(b)
        print(json.dumps(results, indent=1), flush=True)
        if not args.skip_callgrind:
            port = bench.free_port()
            env = b.gateway_env(port)
            results["gateway"] = callgrind([bench.GATEWAY_BIN, "serve"], env, port, send_checks,
                                           token, args.requests, args.out, "gateway")
            print(json.dumps(results["gateway"]), flush=True)
            if not args.no_hello:
                port = bench.free_port()
                env = dict(os.environ, HELLO_LISTEN=f"127.0.0.1:{port}", GATEWAY_WORKERS="0")
                results["hello"] = callgrind([os.path.abspath(args.hello_bin)], env, port,
                                             send_hello, token, args.requests, args.out, "hello")
                results["ir_ratio_hello_over_gateway"] = (
                    results["hello"]["ir_per_request"] / results["gateway"]["ir_per_request"])
        if args.ratio:
            bench.HELLO_BIN = os.path.abspath(args.hello_bin)
            gateway, gw_port, _ = b.start_gateway()
            hello, hello_port = b.start_hello()
            hello_runs, gw_runs = b.measure_throughput(gateway.pid, gw_port, hello.pid,
                                                       hello_port, token)
            bench.stop(hello)
            bench.stop(gateway)
            rounds = [g["rps"] / h["rps"] for h, g in zip(hello_runs, gw_runs)]
            results["ratio"] = {
                "rounds": rounds, "median": sorted(rounds)[len(rounds) // 2],
                "hello_rps": [h["rps"] for h in hello_runs],
                "gateway_rps": [g["rps"] for g in gw_runs],
                "cpu_us_per_request": {"hello": [h["cpu_us_per_request"] for h in hello_runs],
                                       "gateway": [g["cpu_us_per_request"] for g in gw_runs]}}
            print(json.dumps(results["ratio"]), flush=True)
        if args.perf:
            results["perf_wrk"] = perf_profile(b, token, args.out, args.perf_seconds)
    finally:
        bench.stop_all()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
