# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Latency of sequential small completions through several endpoints, side by side in one run.

One client, one keep-alive connection per endpoint, one request at a time: each round sends one request to
every endpoint, in an order that rotates from round to round, so that every endpoint sees the same machine
load. Meant to compare two gateway configurations (e.g. before and after a change, each in front of its own
replicas) and the replicas themselves. Prints, per endpoint, the median, P90 and P99 latency in milliseconds,
and the difference of the medians of each pair given with --pair (the cost of a gateway over its replicas).
Standard library only. Example (inside the gateway host of the molecule scenario):
    gateway_compare.py --ca /etc/nginx/gateway/tls/ca.crt --requests 400 \\
        --endpoint after https://localhost:443 KEY_FILE --endpoint after-direct http://127.0.0.1:8001 REPLICA_KEY_FILE \\
        --endpoint before https://localhost:8443 KEY_FILE --endpoint before-direct http://127.0.0.1:8011 - \\
        --pair after after-direct --pair before before-direct
"""
import argparse
import http.client
import json
import ssl
import statistics
import time
import urllib.parse


def percentile(values, pct):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(pct / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


class Endpoint(object):
    def __init__(self, name, url, key_file, ctx):
        self.name = name
        self.url = urllib.parse.urlsplit(url)
        self.key = ""
        if key_file != "-":
            with open(key_file) as f:
                self.key = f.read().strip()
        self.ctx = ctx
        self.conn = None
        self.times = []
        self.errors = []

    def connect(self):
        if self.url.scheme == "https":
            self.conn = http.client.HTTPSConnection(self.url.hostname, self.url.port or 443, context=self.ctx,
                                                    timeout=60)
        else:
            self.conn = http.client.HTTPConnection(self.url.hostname, self.url.port or 80, timeout=60)

    def request(self, body, record=True):
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = "Bearer " + self.key
        if self.conn is None:
            self.connect()
        start = time.perf_counter()
        try:
            self.conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
            resp = self.conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = None
            self.errors.append(type(exc).__name__)
            return
        elapsed = time.perf_counter() - start
        if resp.status != 200:
            self.errors.append(resp.status)
        elif record:
            self.times.append(elapsed)
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", nargs=3, action="append", required=True, metavar=("NAME", "URL", "KEY_FILE"),
                   help="an endpoint and the file holding its key ('-': none)")
    p.add_argument("--pair", nargs=2, action="append", default=[], metavar=("GATEWAY", "DIRECT"),
                   help="report the difference of the medians of two endpoints")
    p.add_argument("--ca", help="CA file that verifies the HTTPS endpoints")
    p.add_argument("--model", default="deepseek-tiny")
    p.add_argument("--requests", type=int, default=300, help="requests per endpoint")
    p.add_argument("--warmup", type=int, default=20, help="requests per endpoint not recorded")
    a = p.parse_args()
    ctx = ssl.create_default_context(cafile=a.ca)
    endpoints = [Endpoint(name, url, key_file, ctx) for name, url, key_file in a.endpoint]
    body = json.dumps({"model": a.model, "max_tokens": 8,
                       "messages": [{"role": "user", "content": "Say hello in five words."}]})
    for _i in range(a.warmup):
        for ep in endpoints:
            ep.request(body, record=False)
    for i in range(a.requests):
        shift = i % len(endpoints)
        for ep in endpoints[shift:] + endpoints[:shift]:
            ep.request(body)
    medians = {}
    for ep in endpoints:
        if not ep.times:
            print("%-16s no answer; errors %s" % (ep.name, sorted(set(map(str, ep.errors)))))
            continue
        ms = [t * 1000 for t in ep.times]
        medians[ep.name] = statistics.median(ms)
        print("%-16s n=%d errors=%d median_ms=%.3f p90_ms=%.3f p99_ms=%.3f"
              % (ep.name, len(ms), len(ep.errors), medians[ep.name], percentile(ms, 90), percentile(ms, 99)))
    for gateway, direct in a.pair:
        if gateway in medians and direct in medians:
            print("%s over %s: median +%.3f ms" % (gateway, direct, medians[gateway] - medians[direct]))


if __name__ == "__main__":
    main()
