# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for one vLLM serving replica in the monitoring scenario (the serving role comes later).

OpenAI-compatible POST /v1/chat/completions (answers from a fixed table, after a short random delay),
GET /health, and GET /metrics with vLLM's metric names: the vllm:e2e_request_latency_seconds
histogram (vLLM's buckets), vllm:num_requests_running and vllm:num_requests_waiting.
Usage: standin_vllm.py PORT
"""

import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = 'deepseek'
BUCKETS = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0]
ANSWERS = {'2 + 2': '4', 'capital of france': 'Paris', 'colour is the sky': 'blue', 'days are in a week': '7'}
LOCK = threading.Lock()
STATE = {'counts': [0] * (len(BUCKETS) + 1), 'sum': 0.0, 'running': 0}


def observe(seconds):
    with LOCK:
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                STATE['counts'][i] += 1
        STATE['counts'][-1] += 1
        STATE['sum'] += seconds


def metrics():
    label = 'model_name="%s"' % MODEL
    with LOCK:
        lines = ['# HELP vllm:e2e_request_latency_seconds Histogram of end to end request latency in seconds.',
                 '# TYPE vllm:e2e_request_latency_seconds histogram']
        for bound, count in zip(BUCKETS, STATE['counts']):
            lines.append('vllm:e2e_request_latency_seconds_bucket{%s,le="%s"} %d' % (label, bound, count))
        lines.append('vllm:e2e_request_latency_seconds_bucket{%s,le="+Inf"} %d' % (label, STATE['counts'][-1]))
        lines.append('vllm:e2e_request_latency_seconds_sum{%s} %f' % (label, STATE['sum']))
        lines.append('vllm:e2e_request_latency_seconds_count{%s} %d' % (label, STATE['counts'][-1]))
        lines += ['# TYPE vllm:num_requests_running gauge', 'vllm:num_requests_running{%s} %d' % (label, STATE['running']),
                  '# TYPE vllm:num_requests_waiting gauge', 'vllm:num_requests_waiting{%s} 0' % label]
    return '\n'.join(lines) + '\n'


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body, ctype='application/json'):
        data = body.encode()
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == '/metrics':
            self._send(200, metrics(), 'text/plain; version=0.0.4')
        elif self.path == '/health':
            self._send(200, '')
        else:
            self._send(404, '{"error": "not found"}')

    def do_POST(self):
        if self.path != '/v1/chat/completions':
            self._send(404, '{"error": "not found"}')
            return
        start = time.monotonic()
        with LOCK:
            STATE['running'] += 1
        try:
            request = json.loads(self.rfile.read(int(self.headers.get('Content-Length', 0))) or b'{}')
            prompt = request['messages'][-1]['content'].lower()
            answer = next((a for q, a in ANSWERS.items() if q in prompt), 'I do not know.')
            time.sleep(random.uniform(0.01, 0.2))
            self._send(200, json.dumps({'object': 'chat.completion', 'model': request.get('model', MODEL),
                                        'choices': [{'index': 0, 'finish_reason': 'stop',
                                                     'message': {'role': 'assistant', 'content': answer}}]}))
        except (ValueError, KeyError, IndexError):
            self._send(400, '{"error": "bad request"}')
        finally:
            with LOCK:
                STATE['running'] -= 1
            observe(time.monotonic() - start)

    def log_message(self, *args):
        pass


if __name__ == '__main__':
    ThreadingHTTPServer(('0.0.0.0', int(sys.argv[1])), Handler).serve_forever()
