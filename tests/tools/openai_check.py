# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check an OpenAI-compatible server with the official openai client; print one JSON line of results.

Usage: openai_check.py BASE_URL MODEL [--latency-runs N] [--api-key-file FILE] [--ca FILE] [--gateway]
BASE_URL is a replica (http://host:8000/v1) or the gateway (https://127.0.0.1:8443/v1, with the gateway's API key,
the CA that verifies its certificate, and --gateway).
Fails (exit 1) unless a chat completion has non-empty content and a streamed completion yields chunks with text.
The latency runs ask a replica for exactly 16 tokens (vLLM's min_tokens and ignore_eos); through the gateway, which
refuses the engine's own fields, they ask for at most 16 and the report lists how many came.
"""

from __future__ import annotations

import argparse
import json
import ssl
import statistics
import sys
import time

from openai import DefaultHttpxClient, OpenAI


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('base_url')
    parser.add_argument('model')
    parser.add_argument('--latency-runs', type=int, default=5)
    parser.add_argument('--api-key-file', help='file holding the API key (the gateway asks for one)')
    parser.add_argument('--ca', help='CA file that verifies an HTTPS server')
    parser.add_argument('--gateway', action='store_true',
                        help='through the gateway: no engine-only fields (min_tokens, ignore_eos) in the latency runs')
    args = parser.parse_args()
    api_key = 'unused'
    if args.api_key_file:
        with open(args.api_key_file, encoding='utf-8') as handle:
            api_key = handle.read().strip()
    http_client = DefaultHttpxClient(verify=ssl.create_default_context(cafile=args.ca)) if args.ca else None
    client = OpenAI(base_url=args.base_url, api_key=api_key, timeout=60, max_retries=0, http_client=http_client)
    messages = [{'role': 'user', 'content': 'Hello, what is the model?'}]

    chat = client.chat.completions.create(model=args.model, messages=messages, max_tokens=16, temperature=0)
    content = chat.choices[0].message.content or ''

    chunks = 0
    streamed = ''
    stream = client.chat.completions.create(model=args.model, messages=messages, max_tokens=16, temperature=0,
                                            stream=True)
    for chunk in stream:
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            streamed += chunk.choices[0].delta.content

    latencies = []
    tokens = []
    for dummy in range(args.latency_runs):
        start = time.perf_counter()
        result = client.chat.completions.create(model=args.model, messages=messages, max_tokens=16, temperature=0,
                                                extra_body=None if args.gateway else {'min_tokens': 16,
                                                                                      'ignore_eos': True})
        latencies.append((time.perf_counter() - start) * 1000.0)
        tokens.append(result.usage.completion_tokens)

    report = {
        'content': content,
        'completion_tokens': chat.usage.completion_tokens,
        'stream_chunks': chunks,
        'streamed': streamed,
        'latency_ms_median': round(statistics.median(latencies), 1),
        'latency_ms': [round(value, 1) for value in latencies],
        'latency_tokens': tokens,
    }
    print(json.dumps(report))
    lengths_ok = all(0 < count <= 16 for count in tokens) if args.gateway else all(count == 16 for count in tokens)
    ok = content.strip() and chunks > 1 and streamed.strip() and lengths_ok
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
