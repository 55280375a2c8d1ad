#!/usr/bin/env python3
"""What one proxy-wasm host call costs in real Envoy (V8): a filter written in WebAssembly text
that makes the same call 50 times per request, against one that makes none.

For each call it builds a module (binaryen's `wasm-as`), runs Envoy with one worker and a
`direct_response` route, sends wrk load on loopback for --seconds (after a 1 s warm-up), and
reads Envoy's CPU time from /proc: (CPU µs per request - that of the empty module) / 50 is the
cost of one call, host work included. The `body` row exports `proxy_on_response_body` (which
does nothing): the cost of one more callback into the VM per request. Each variant runs
--rounds times, interleaved. Requires `wrk` and `wasm-as` (Debian: wrk, binaryen).

    python3 benches/envoy_hostcalls.py --seconds 4 --rounds 2
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import envoy_load as load  # noqa: E402

N = 50
CALLS = {
    "none": "",
    "header_map_pairs": "(drop (call $pairs (i32.const 0) (i32.const 64) (i32.const 68)))",
    "header_map_value": "(drop (call $getval (i32.const 0) (i32.const 200) (i32.const 7) (i32.const 64) (i32.const 68)))",
    "current_time": "(drop (call $time (i32.const 64)))",
    "increment_metric": "(drop (call $incr (global.get $mid) (i64.const 1)))",
    "log_level": "(drop (call $loglevel (i32.const 64)))",
    "set_property": "(drop (call $setprop (i32.const 300) (i32.const 18) (i32.const 320) (i32.const 5)))",
    "remove_header": "(drop (call $remove (i32.const 0) (i32.const 340) (i32.const 13)))",
    "add_header": "(drop (call $add (i32.const 0) (i32.const 340) (i32.const 13) (i32.const 320) (i32.const 5)))",
    "replace_header": "(drop (call $replace (i32.const 0) (i32.const 340) (i32.const 13) (i32.const 320) (i32.const 5)))",
    # The whole request header map in one call: what an allowed request's rewrite would send
    # (the four pseudo-headers, two of the client's, eight identity headers, the decision).
    "set_header_map_pairs": "(drop (call $setpairs (i32.const 0) (i32.const 1024) (i32.const %d)))",
    "body": "",
}

MODULE = """(module
  (import "env" "proxy_get_header_map_pairs" (func $pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $getval (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $time (param i32) (result i32)))
  (import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $incr (param i32 i64) (result i32)))
  (import "env" "proxy_get_log_level" (func $loglevel (param i32) (result i32)))
  (import "env" "proxy_set_property" (func $setprop (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $remove (param i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_header_map_pairs" (func $setpairs (param i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 200) "x-nope!")
  (data (i32.const 300) "meshguard_decision")
  (data (i32.const 320) "allow")
  (data (i32.const 340) "x-remote-user")
  (data (i32.const 400) "meshguard.m")
  (data (i32.const 1024) "%s")
  (global $heap (mut i32) (i32.const 4096))
  (global $mid (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "_initialize"))
  ;; A bump allocator that starts over when the second page fills: requests never overlap.
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $ptr i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $size)) (i32.const 130000))
      (then (global.set $heap (i32.const 4096))))
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $ptr))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $define (i32.const 0) (i32.const 400) (i32.const 11) (i32.const 64)))
    (global.set $mid (i32.load (i32.const 64)))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    %s
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  %s
  (func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))
  (func (export "proxy_on_delete") (param i32))
)"""

REWRITTEN = [
    (":method", "GET"), (":path", "/orders/42"), (":authority", "127.0.0.1"), (":scheme", "http"),
    ("user-agent", "wrk"), ("accept", "*/*"),
    ("x-remote-user", "system:serviceaccount:frontend:web"),
    ("x-remote-group", "system:serviceaccounts"), ("x-remote-group", "system:serviceaccounts:frontend"),
    ("x-remote-group", "system:authenticated"),
    ("x-remote-extra-authentication.kubernetes.io%2fcredential-id", "JTI=e2e-web"),
    ("x-remote-extra-authentication.kubernetes.io%2fpod-name", "web-5c8d"),
    ("x-remote-extra-authentication.kubernetes.io%2fpod-uid", "pod-web"),
    ("x-meshguard-decision", "allow"),
]


def serialized_pairs(pairs):
    """The proxy-wasm header map serialisation: count, the (name, value) lengths, then each
    name and value followed by a NUL."""
    out = len(pairs).to_bytes(4, "little")
    for name, value in pairs:
        out += len(name).to_bytes(4, "little") + len(value).to_bytes(4, "little")
    for name, value in pairs:
        out += name.encode() + b"\0" + value.encode() + b"\0"
    return out


def wat_bytes(data):
    return "".join(f"\\{b:02x}" for b in data)


BODY_EXPORT = '(func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const 0))'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="length of each run (1..60)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per variant (1..5)")
    parser.add_argument("--calls", default=",".join(CALLS),
                        help="which calls to measure, comma-separated ('none' always runs)")
    args = parser.parse_args()
    chosen = {"none"} | set(args.calls.split(","))
    unknown = chosen - set(CALLS)
    if unknown:
        raise SystemExit(f"--calls: unknown {', '.join(sorted(unknown))}")
    pairs = serialized_pairs(REWRITTEN)
    calls = {name: call % len(pairs) if "%d" in call else call
             for name, call in CALLS.items() if name in chosen}
    if not (1 <= args.seconds <= 60 and 1 <= args.rounds <= 5):
        raise SystemExit("--seconds must be 1..60 and --rounds 1..5")
    for tool in ("wrk", "wasm-as"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install wrk binaryen)")
    envoy = load.prerequisites()
    cpu = {name: [] for name in calls}
    with tempfile.TemporaryDirectory(prefix="meshguard-hostcalls-") as tmp:
        work = Path(tmp)
        tokens = work / "tokens.txt"
        tokens.write_text("none\n")
        for _ in range(args.rounds):
            for name, call in calls.items():
                text = MODULE % (wat_bytes(pairs), "\n    ".join([call] * N),
                                 BODY_EXPORT if name == "body" else "")
                (work / f"{name}.wat").write_text(text)
                wasm = work / f"{name}.wasm"
                subprocess.run(["wasm-as", str(work / f"{name}.wat"), "-o", str(wasm)], check=True)
                proxy = load.Envoy(envoy, work, [load.meshguard_filter(wasm, "")])
                try:
                    load.wrk(proxy.port, tokens, 1, 1, work)
                    before = proxy.cpu_seconds()
                    figures = load.wrk(proxy.port, tokens, 1, args.seconds, work)
                    cpu[name].append((proxy.cpu_seconds() - before) * 1e6 / max(figures["requests"], 1))
                finally:
                    proxy.stop()
    base = sum(cpu["none"]) / len(cpu["none"])
    print("| variant | Envoy CPU µs/request (runs) | cost of one call, µs |")
    print("|---|---|---|")
    for name, runs in cpu.items():
        mean = sum(runs) / len(runs)
        per = "—" if name == "none" else f"{(mean - base) / (1 if name == 'body' else N):.2f}"
        print(f"| {name} | {' / '.join(f'{r:.1f}' for r in runs)} | {per} |")


if __name__ == "__main__":
    main()
