# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the monitoring role's evaluation job (roles/monitoring/files/deepseek_eval.py).

The endpoint is a real HTTP server on 127.0.0.1 speaking the OpenAI chat completions format.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SPEC = importlib.util.spec_from_file_location(
    'deepseek_eval', os.path.join(ROOT, 'roles', 'monitoring', 'files', 'deepseek_eval.py'))
deepseek_eval = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(deepseek_eval)

CASES = [{'prompt': 'What is 2 + 2?', 'expected': '4'},
         {'prompt': 'Capital of France?', 'expected': 'Paris'},
         {'prompt': 'Sky colour?', 'expected': 'blue'},
         {'prompt': 'Days in a week?', 'expected': '7'}]


def _server(answers):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
            prompt = body['messages'][-1]['content']
            data = json.dumps({'choices': [{'message': {'role': 'assistant',
                                                        'content': answers.get(prompt, 'no idea')}}]}).encode()
            self.send_response(200)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def config(tmp_path):
    def make(answers, baseline=None):
        server = _server(answers)
        cfg = {'endpoint': 'http://127.0.0.1:%d' % server.server_port, 'model': 'deepseek', 'cases': CASES,
               'baseline': baseline, 'timeout_s': 5, 'textfile': str(tmp_path / 'deepseek_eval.prom'),
               'state_dir': str(tmp_path)}
        path = tmp_path / 'eval.json'
        path.write_text(json.dumps(cfg))
        make.servers.append(server)
        return str(path), cfg
    make.servers = []
    yield make
    for server in make.servers:
        server.shutdown()


def _metrics(path):
    values = {}
    with open(path) as f:
        for line in f:
            if line.startswith('#') or not line.strip():
                continue
            name, value = line.rsplit(' ', 1)
            values[name.split('{')[0]] = float(value)
    return values


@pytest.mark.parametrize('answers, accuracy', [
    ({'What is 2 + 2?': 'The answer is 4.', 'Capital of France?': 'paris', 'Sky colour?': 'Blue',
      'Days in a week?': '7 days'}, 1.0),
    ({'What is 2 + 2?': '4', 'Capital of France?': 'Paris'}, 0.5),
    ({}, 0.0),
])
def test_accuracy_is_the_share_of_expected_answers(config, answers, accuracy):
    path, cfg = config(answers)
    assert deepseek_eval.main(['deepseek_eval.py', path], now=lambda: 1700000000) == 0
    metrics = _metrics(cfg['textfile'])
    assert metrics['deepseek_eval_accuracy_ratio'] == accuracy
    assert metrics['deepseek_eval_success'] == 1
    assert metrics['deepseek_eval_cases'] == 4
    assert metrics['deepseek_eval_last_run_timestamp_seconds'] == 1700000000


def test_first_run_records_the_baseline_and_later_runs_keep_it(config, tmp_path):
    good = {c['prompt']: c['expected'] for c in CASES}
    path, cfg = config(good)
    assert deepseek_eval.main(['deepseek_eval.py', path]) == 0
    assert json.loads((tmp_path / 'baseline.json').read_text())['accuracy'] == 1.0
    worse = dict(good)
    del worse['Sky colour?']
    path, cfg = config(worse)
    assert deepseek_eval.main(['deepseek_eval.py', path]) == 0
    metrics = _metrics(cfg['textfile'])
    assert metrics['deepseek_eval_accuracy_ratio'] == 0.75
    assert metrics['deepseek_eval_baseline_accuracy_ratio'] == 1.0


def test_configured_baseline_wins(config, tmp_path):
    path, cfg = config({}, baseline=0.9)
    assert deepseek_eval.main(['deepseek_eval.py', path]) == 0
    assert _metrics(cfg['textfile'])['deepseek_eval_baseline_accuracy_ratio'] == 0.9
    assert not (tmp_path / 'baseline.json').exists()


def test_unreachable_endpoint_reports_failure_without_accuracy(tmp_path):
    cfg = {'endpoint': 'http://127.0.0.1:9', 'model': 'deepseek', 'cases': CASES, 'baseline': None,
           'timeout_s': 2, 'textfile': str(tmp_path / 'deepseek_eval.prom'), 'state_dir': str(tmp_path)}
    path = tmp_path / 'eval.json'
    path.write_text(json.dumps(cfg))
    assert deepseek_eval.main(['deepseek_eval.py', str(path)]) == 1
    metrics = _metrics(cfg['textfile'])
    assert metrics['deepseek_eval_success'] == 0
    assert 'deepseek_eval_accuracy_ratio' not in metrics
    assert not (tmp_path / 'baseline.json').exists()


def test_bad_configuration_exits_2(tmp_path):
    path = tmp_path / 'eval.json'
    path.write_text('{"endpoint": "x"}')
    assert deepseek_eval.main(['deepseek_eval.py', str(path)]) == 2
    assert deepseek_eval.main(['deepseek_eval.py']) == 2
