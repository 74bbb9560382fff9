# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""site_report's reading of testssl.sh results (report_testssl_dir): both JSON formats of testssl.sh, the files of
one host gathered by name, a host without files left out, and a file that is not JSON refused."""

from __future__ import annotations

import json

import pytest

from ansible_collections.onprem.deepseek.plugins.modules import site_report

FLAT = [
    {'id': 'TLS1_2', 'ip': '127.0.0.1/127.0.0.1', 'port': '443', 'severity': 'OK', 'finding': 'not offered'},
    {'id': 'TLS1_3', 'ip': '127.0.0.1/127.0.0.1', 'port': '443', 'severity': 'OK', 'finding': 'offered with final'},
    {'id': 'scanTime', 'severity': 'INFO', 'finding': '12'},
]
PRETTY = {'scanResult': [{'protocols': [
    {'id': 'TLS1', 'severity': 'LOW', 'finding': 'offered (deprecated)'},
    {'id': 'TLS1_3', 'severity': 'OK', 'finding': 'offered with final'}],
    'vulnerabilities': [{'id': 'heartbleed', 'severity': 'OK', 'finding': 'not vulnerable'}],
    'targetHost': 'gw-01'}]}


def test_findings_per_host_from_both_formats(tmp_path):
    (tmp_path / 'gw-01.example.internal_443.json').write_text(json.dumps(FLAT))
    (tmp_path / 'gw-01.example.internal_9113.json').write_text(json.dumps(PRETTY))
    (tmp_path / 'vault-01.example.internal_8200.json').write_text(json.dumps(FLAT[:2]))
    found = site_report.testssl_summary(str(tmp_path), ['gw-01.example.internal', 'vault-01.example.internal',
                                                        'mon-01.example.internal'])
    assert found == {'gw-01.example.internal': {'OK': 4, 'INFO': 1, 'LOW': 1},
                     'vault-01.example.internal': {'OK': 2}}


def test_no_folder_gives_nothing(tmp_path):
    assert site_report.testssl_summary('', ['a']) == {}
    assert site_report.testssl_summary(str(tmp_path / 'absent'), ['a']) == {}


def test_a_file_that_is_not_json_is_refused(tmp_path):
    (tmp_path / 'a_1.json').write_text('{not json')
    with pytest.raises(ValueError):
        site_report.testssl_summary(str(tmp_path), ['a'])
