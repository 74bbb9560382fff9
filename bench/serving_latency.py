# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Latency of a 16-token chat completion through the gateway with N concurrent clients (default 8).

Each client keeps one HTTPS keep-alive connection and sends non-streamed chat completions with
max_tokens 16 (ignore_eos, so every answer is 16 tokens long); after a warm-up, every latency of the
measured requests counts. Prints the tokens per answer, the error count and, as its last line:
    serving p50_ms=X p99_ms=Y
Standard library only. The sandbox:
    python3 bench/serving_latency.py --gateway https://127.0.0.1:8443 --ca .sandbox/ca.pem \
        --key-file .sandbox/api-key
"""
import argparse
import http.client
import json
import ssl
import statistics
import threading
import time
import urllib.parse


def percentile(values, pct):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(pct / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def client(base, ctx, key, model, tokens, count, out, errors, token_counts):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=120)
    body = json.dumps({"model": model, "max_tokens": tokens, "ignore_eos": True,
                       "messages": [{"role": "user", "content": "Tell me about the sea."}]})
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
    for _request in range(count):
        start = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - start
        if resp.status == 200:
            out.append(elapsed)
            token_counts.append(json.loads(data)["usage"]["completion_tokens"])
        else:
            errors.append(resp.status)
    conn.close()


def run(base, ctx, key, model, tokens, concurrency, count):
    out, errors, token_counts, threads = [], [], [], []
    for _i in range(concurrency):
        t = threading.Thread(target=client, args=(base, ctx, key, model, tokens, count, out, errors, token_counts))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    return out, errors, token_counts


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gateway", required=True, help="base URL of the gateway")
    p.add_argument("--ca", help="CA file that verifies the gateway")
    p.add_argument("--key-file", required=True, help="file holding one API key (e.g. .sandbox/api-key)")
    p.add_argument("--model", default="deepseek-v3-tiny")
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--requests", type=int, default=25, help="measured requests per client")
    a = p.parse_args()
    ctx = ssl.create_default_context(cafile=a.ca)
    with open(a.key_file) as f:
        key = f.read().strip()
    run(a.gateway, ctx, key, a.model, a.tokens, a.concurrency, 2)  # warm-up
    out, errors, token_counts = run(a.gateway, ctx, key, a.model, a.tokens, a.concurrency, a.requests)
    print("requests=%d errors=%d tokens_per_answer=%s" % (len(out), len(errors), sorted(set(token_counts))))
    if errors:
        print("non-200 answers: %s" % sorted(set(errors)))
    print("serving p50_ms=%.1f p99_ms=%.1f" % (statistics.median(out) * 1000, percentile(out, 99) * 1000))


if __name__ == "__main__":
    main()
