# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Send chat completions through the gateway without pause until a stop file appears; print one JSON document.

Usage: gateway_load.py --gateway URL --key-file FILE [--ca FILE] --stop-file FILE [--clients N] [--max-seconds S]
                       [--rate R]
URL is https (the gateway), or http for a replica reached directly (molecule/serving).
Each client keeps one HTTPS (or HTTP) keep-alive connection (a new one after an error) and sends 8-token completions (greedy)
one after another, without pause or, with --rate, paced so that all clients together send at most R a second (under
the gateway's per-key rate limit, which answers 429 beyond it); a request fails on a status other than 200 (a 429
too), a transport error or an empty answer. The JSON
holds, for every request, its start and end (Unix time, seconds), the HTTP status (0 for a transport error) and the
error text, so that a caller can count the requests answered inside a time window (for example while one replica
was down).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse


def client(args, ctx, key, deadline, records, lock):
    url = urllib.parse.urlsplit(args.gateway)
    # Greedy decoding: the answer to this prompt is the same non-empty text on every replica, so an empty one is a
    # fault (sampling may pick the end-of-sequence token first and give an empty answer by chance).
    body = json.dumps({'model': args.model, 'max_tokens': 8, 'temperature': 0,
                       'messages': [{'role': 'user', 'content': 'Say hello.'}]})
    headers = {'Content-Type': 'application/json', 'Authorization': 'Bearer ' + key}
    conn = None
    interval = args.clients / args.rate if args.rate > 0 else 0.0
    next_send = time.time()
    while time.time() < deadline and not os.path.exists(args.stop_file):
        if interval:
            time.sleep(max(0.0, next_send - time.time()))
            next_send = max(next_send + interval, time.time() - interval)
        if conn is None and url.scheme == 'http':
            conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=120)
        elif conn is None:
            conn = http.client.HTTPSConnection(url.hostname, url.port or 443, context=ctx, timeout=120)
        start = time.time()
        status, error = 0, ''
        try:
            conn.request('POST', '/v1/chat/completions', body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            if status == 200 and not json.loads(data)['choices'][0]['message']['content']:
                error = 'empty answer'
            elif status != 200:
                error = 'HTTP %d: %s' % (status, data[:200].decode('utf-8', 'replace'))
        except (OSError, http.client.HTTPException, ValueError, KeyError, IndexError) as exc:
            error = '%s: %s' % (type(exc).__name__, exc)
            conn.close()
            conn = None
        with lock:
            records.append({'start': round(start, 3), 'end': round(time.time(), 3), 'status': status, 'error': error})
    if conn is not None:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--gateway', required=True, help='base URL of the gateway')
    parser.add_argument('--key-file', required=True, help='file holding one API key')
    parser.add_argument('--ca', help='CA file that verifies the gateway')
    parser.add_argument('--model', default='deepseek-v3-tiny')
    parser.add_argument('--stop-file', required=True, help='the load stops once this file exists')
    parser.add_argument('--clients', type=int, default=2)
    parser.add_argument('--max-seconds', type=float, default=600.0, help='stop after this long in any case')
    parser.add_argument('--rate', type=float, default=0.0,
                        help='requests a second of all clients together (0: no pause between requests)')
    args = parser.parse_args()
    ctx = ssl.create_default_context(cafile=args.ca)
    with open(args.key_file, encoding='utf-8') as handle:
        key = handle.read().strip()
    records, lock, threads = [], threading.Lock(), []
    deadline = time.time() + args.max_seconds
    for dummy in range(args.clients):
        thread = threading.Thread(target=client, args=(args, ctx, key, deadline, records, lock))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    failed = [record for record in records if record['status'] != 200 or record['error']]
    json.dump({'requests': len(records), 'failed': len(failed), 'records': records}, sys.stdout)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
