# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Latency of a small completion through the gateway and directly at the replicas, side by side.

N concurrent clients (default 8), each on its own keep-alive connection, send small chat completions
(max_tokens 8, not streamed); rounds alternate between the gateway and the replicas so both see the
same machine load. Prints median and P99 latency of each path and, as its last line:
    gateway p99_ratio=X median_ratio=Y
Standard library only. Examples:
    # inside the gateway host of the molecule scenario (stand-in replicas)
    gateway_latency.py --gateway https://localhost --ca /etc/nginx/gateway/tls/ca.crt \
        --keys k1,k2,... --direct http://127.0.0.1:8001,http://127.0.0.1:8002
    # the sandbox (vLLM replicas on port 8000 of the inference hosts; the model name is read from /v1/models)
    python3 bench/gateway_latency.py --gateway https://127.0.0.1:8443 --ca .sandbox/ca.pem \
        --key-file .sandbox/api-key --direct http://INFER1:8000,http://INFER2:8000
"""
import argparse
import http.client
import json
import ssl
import statistics
import threading
import time
import urllib.parse
import urllib.request


def percentile(values, pct):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(pct / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def client(url, ctx, key, count, out, errors, model):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=60)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
    body = json.dumps({"model": model, "max_tokens": 8,
                       "messages": [{"role": "user", "content": "Say hello in five words."}]})
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    for _request in range(count):
        start = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        elapsed = time.perf_counter() - start
        if resp.status == 200:
            out.append(elapsed)
        else:
            errors.append(resp.status)
    conn.close()


def run_round(urls, keys, ctx, concurrency, count, model):
    out, errors, threads = [], [], []
    for i in range(concurrency):
        t = threading.Thread(target=client, args=(urls[i % len(urls)], ctx, keys[i % len(keys)] if keys else "",
                                                  count, out, errors, model))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return out, errors


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gateway", required=True, help="base URL of the gateway")
    p.add_argument("--direct", required=True, help="comma-separated base URLs of the replicas")
    p.add_argument("--ca", help="CA file that verifies the gateway")
    p.add_argument("--keys", help="comma-separated API keys (one per client, reused round-robin)")
    p.add_argument("--key-file", help="file holding one API key (e.g. .sandbox/api-key)")
    p.add_argument("--direct-key-file", help="file holding the replicas' own key (vLLM's --api-key), for the direct leg")
    p.add_argument("--model", help="model name; default: the first model that the first --direct URL lists")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--requests", type=int, default=40, help="requests per client per round")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    ctx = ssl.create_default_context(cafile=a.ca)
    if a.key_file:
        with open(a.key_file) as f:
            keys = [f.read().strip()]
    elif a.keys:
        keys = a.keys.split(",")
    else:
        p.error("give --keys or --key-file")
    direct = a.direct.split(",")
    direct_keys = []
    if a.direct_key_file:
        with open(a.direct_key_file) as f:
            direct_keys = [f.read().strip()]
    model = a.model
    if not model:
        req = urllib.request.Request(direct[0] + "/v1/models",
                                     headers={"Authorization": "Bearer " + direct_keys[0]} if direct_keys else {})
        with urllib.request.urlopen(req, timeout=30) as r:
            model = json.load(r)["data"][0]["id"]
    # Warm-up: TLS sessions, keep-alive connections, interpreter.
    run_round([a.gateway], keys, ctx, a.concurrency, 3, model)
    run_round(direct, direct_keys, ctx, a.concurrency, 3, model)
    gw, dr, gw_err, dr_err = [], [], [], []
    for _round in range(a.rounds):
        out, err = run_round(direct, direct_keys, ctx, a.concurrency, a.requests, model)
        dr += out
        dr_err += err
        out, err = run_round([a.gateway], keys, ctx, a.concurrency, a.requests, model)
        gw += out
        gw_err += err
    rows = []
    for name, vals, err in (("direct", dr, dr_err), ("gateway", gw, gw_err)):
        rows.append((name, len(vals), len(err), statistics.median(vals) * 1000, percentile(vals, 99) * 1000))
        print("%-8s n=%d errors=%d median_ms=%.2f p99_ms=%.2f" % rows[-1])
    if gw_err or dr_err:
        print("non-200 answers: gateway %s, direct %s" % (sorted(set(gw_err)), sorted(set(dr_err))))
    print("gateway p99_ratio=%.3f median_ratio=%.3f" % (rows[1][4] / rows[0][4], rows[1][3] / rows[0][3]))


if __name__ == "__main__":
    main()
