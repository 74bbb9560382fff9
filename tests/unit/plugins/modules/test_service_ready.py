# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""service_ready against a real HTTP server on loopback; systemd's answers are scripted per poll."""

from __future__ import annotations

import http.server
import threading

import pytest

from ansible.module_utils import basic

from ansible_collections.onprem.deepseek.plugins.modules import service_ready


class Health(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first ``not_ready`` requests, then 200."""

    not_ready = 0
    seen = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        cls = type(self)
        cls.seen += 1
        code = 503 if cls.seen <= cls.not_ready else 200
        self.send_response(code)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def server():
    handler = type('H', (Health,), {'not_ready': 0, 'seen': 0})
    httpd = http.server.HTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def systemd(monkeypatch):
    """Scripted ``systemctl show`` answers (one per poll, the last one repeats) and a journal."""
    script = {'states': [], 'journal': 'line 1\nValueError: cannot load config.json\n', 'calls': []}

    def run_command(self, args, **kwargs):  # pylint: disable=unused-argument
        script['calls'].append(args)
        if args[1] == 'show':
            state = script['states'].pop(0) if len(script['states']) > 1 else script['states'][0]
            return 0, ''.join('%s=%s\n' % kv for kv in state.items()), ''
        return 0, script['journal'], ''

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda self, name, required=False, opt_dirs=None: '/usr/bin/' + name)
    return script


def running(restarts=0):
    return {'LoadState': 'loaded', 'ActiveState': 'active', 'SubState': 'running', 'Result': 'success',
            'NRestarts': str(restarts)}


def looping(restarts):
    return {'LoadState': 'loaded', 'ActiveState': 'activating', 'SubState': 'auto-restart', 'Result': 'exit-code',
            'NRestarts': str(restarts)}


@pytest.fixture
def run(call_main):
    def _run(**args):
        args.setdefault('interval', 0.01)
        return call_main(service_ready.main, args)
    return _run


@pytest.mark.parametrize('state, baseline, expected', [
    (running(0), 0, None),
    (looping(2), 0, None),
    (looping(3), 0, 'restarted the unit 3 times'),
    (looping(7), 5, None),
    (looping(8), 5, 'restarted the unit 3 times'),
    ({'ActiveState': 'failed', 'SubState': 'failed', 'Result': 'start-limit-hit'}, 0, 'has failed (Result=start-limit-hit)'),
    ({'ActiveState': 'inactive', 'SubState': 'dead', 'Result': 'success'}, 0, 'is stopped'),
    ({'LoadState': 'not-found', 'ActiveState': 'inactive', 'SubState': 'dead'}, 0, 'does not exist'),
    ({'ActiveState': 'activating', 'SubState': 'start', 'NRestarts': ''}, 0, None),
])
def test_verdict(state, baseline, expected):
    reason = service_ready.verdict(state, baseline, 2)
    if expected is None:
        assert reason is None
    else:
        assert expected in reason


def test_parse_show():
    assert service_ready.parse_show('ActiveState=active\nNRestarts=3\nbad line\nResult=\n') == {
        'ActiveState': 'active', 'NRestarts': '3', 'Result': ''}


def test_ready_after_some_polls(run, server):
    httpd, handler = server
    handler.not_ready = 3
    result = run(url='http://127.0.0.1:%d/health' % httpd.server_port, timeout=30)
    assert result.get('failed') is None
    assert result['status'] == 200
    assert handler.seen == 4
    assert result['changed'] is False


def test_no_server_times_out(run, server):
    httpd, dummy = server
    port = httpd.server_port
    httpd.shutdown()
    httpd.server_close()
    result = run(url='http://127.0.0.1:%d/health' % port, timeout=1, request_timeout=1)
    assert result['failed'] is True
    assert 'did not answer' in result['msg']
    assert result['status'] == -1


def test_crash_loop_fails_early_with_the_journal(run, server, systemd):
    httpd, handler = server
    handler.not_ready = 10 ** 6
    systemd['states'] = [looping(4), looping(5), looping(6), looping(7), looping(8)]
    result = run(url='http://127.0.0.1:%d/health' % httpd.server_port, unit='serving.service', timeout=600)
    assert result['failed'] is True
    assert 'crash-loops' in result['msg']
    assert 'cannot load config.json' in result['msg']
    assert result['restarts'] == 3
    assert result['elapsed'] < 60
    assert result['journal'][-1] == 'ValueError: cannot load config.json'
    journal_call = [call for call in systemd['calls'] if call[0].endswith('journalctl')][0]
    assert '_SYSTEMD_UNIT=serving.service' in journal_call


def test_unit_up_after_restarts_within_the_limit(run, server, systemd):
    httpd, handler = server
    handler.not_ready = 2
    systemd['states'] = [looping(0), looping(1), running(2)]
    result = run(url='http://127.0.0.1:%d/health' % httpd.server_port, unit='serving.service', timeout=30)
    assert result.get('failed') is None
    assert result['restarts'] == 2
    assert result['unit_state']['ActiveState'] == 'active'


def test_failed_unit_stops_the_wait_before_any_request(run, server, systemd):
    httpd, handler = server
    systemd['states'] = [{'LoadState': 'loaded', 'ActiveState': 'failed', 'SubState': 'failed', 'Result': 'exit-code',
                          'NRestarts': '5'}]
    result = run(url='http://127.0.0.1:%d/health' % httpd.server_port, unit='serving.service')
    assert result['failed'] is True
    assert 'has failed' in result['msg']
    assert handler.seen == 0
