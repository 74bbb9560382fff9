# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Logstash pipeline's PII masking, tested with sample log lines.

The patterns are read back from the pipeline as the role renders it (roles/logging/templates/
deepseek.conf.j2 with the defaults of roles/logging/defaults/main.yml) and applied in order, as
Logstash's mutate/gsub does. They are written in the subset of Oniguruma that Python's re reads the
same way (no possessive quantifiers, no \\h, no named-group syntax differences).
"""

from __future__ import annotations

import os
import re

import jinja2
import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ROLE = os.path.join(ROOT, 'roles', 'logging')


def _defaults():
    with open(os.path.join(ROLE, 'defaults', 'main.yml')) as f:
        values = yaml.safe_load(f)
    values.update({'inventory_hostname': 'logs1', 'ansible_managed': 'test', '__logging_certs': 'certs'})
    values['logging_elasticsearch_nodes'] = ['logs1']
    return values


def render(name, **overrides):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROLE, 'templates')),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters['comment'] = lambda text: '\n'.join('# ' + line for line in text.splitlines())
    env.filters['to_json'] = lambda value: __import__('json').dumps(value)
    env.filters['regex_replace'] = lambda value, pattern, repl: re.sub(pattern, repl.replace('\\\\', '\\'), value)
    values = _defaults()
    values.update(overrides)
    return env.get_template(name).render(**values)


def pipeline_gsubs():
    """The (field, pattern, replacement) triples of the rendered pipeline's gsub, in order."""
    text = render('deepseek.conf.j2')
    block = re.search(r'gsub => \[(.*?)\n    \]', text, re.S).group(1)
    triples = re.findall(r'^\s*"([^"]+)", "([^"]*)", "([^"]*)",?$', block, re.M)
    return triples


def mask(message, field='message'):
    for name, pattern, replacement in pipeline_gsubs():
        if name == field:
            message = re.sub(pattern, replacement, message)
    return message


def test_pipeline_carries_every_pattern_for_every_field():
    values = _defaults()
    triples = pipeline_gsubs()
    fields = ['message'] + values['logging_pii_fields']
    assert len(triples) == len(fields) * len(values['logging_pii_patterns'])
    assert [t[1] for t in triples if t[0] == 'message'] == [p['pattern'] for p in values['logging_pii_patterns']]


def test_patterns_fit_in_a_logstash_string():
    for pattern in _defaults()['logging_pii_patterns']:
        assert '"' not in pattern['pattern'] and '"' not in pattern['replacement'], pattern['name']
        re.compile(pattern['pattern'])


@pytest.mark.parametrize('line, expected', [
    ('login ok for jane.doe+ml@example.co.uk from web',
     'login ok for <email> from web'),
    ('client 192.168.10.23 asked twice, then 10.0.0.1',
     'client <ip> asked twice, then <ip>'),
    ('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc',
     'Authorization: Bearer <token>'),
    ('key sk-proj_ABCDEFGHIJKLMNOP1234 rejected',
     'key <api-key> rejected'),
    ('paid with 4111 1111 1111 1111 yesterday',
     'paid with <card> yesterday'),
    ('card 5500-0000-0000-0004 declined',
     'card <card> declined'),
    ('call me at +49 30 1234567 please',
     'call me at <phone> please'),
    ('refund to DE89 3704 0044 0532 0130 00 today',
     'refund to <iban> today'),
    ('refund to GB82WEST12345698765432 today',
     'refund to <iban> today'),
])
def test_personal_data_is_masked(line, expected):
    assert mask(line) == expected


@pytest.mark.parametrize('line', [
    'GET /v1/chat/completions 200 latency_ms=523 tokens=128',
    'model deepseek-v3 loaded in 12.5 s on 8 GPUs, version 0.6.3',
    'request_id=7f3c2a1e-9b7d-4c11-8e2f-1a2b3c4d5e6f status=ok',
    'disk /dev/nvme0n1p1 at 81% (1024 of 1263 GiB)',
])
def test_ordinary_log_lines_are_left_alone(line):
    assert mask(line) == line


def test_masked_fields_besides_message():
    assert mask('203.0.113.9', field='client_ip') == '<ip>'
    assert mask('bob@example.org', field='user') == '<email>'


def test_prompt_and_response_bodies_are_dropped():
    text = render('deepseek.conf.j2')
    removed = re.search(r'remove_field => (\[.*\])', text).group(1)
    for field in ('prompt', 'response', 'messages', 'choices'):
        assert '"%s"' % field in removed
