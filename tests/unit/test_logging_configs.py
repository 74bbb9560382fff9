# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rendered Elastic configurations parse, the ElastAlert2 rule passes ElastAlert2's own schema,
and the shipped dashboards / saved objects are valid JSON.

ElastAlert2's schema (elastalert/schema.yaml) is read from the installed ``elastalert2`` package, or
else from its wheel fetched with ``pip download elastalert2 --no-deps`` (pip's configured index) into
.testbed/cache; the schema test skips, saying why, only when neither works.
"""

from __future__ import annotations

import copy
import glob
import importlib.util
import json
import os
import subprocess
import sys
import zipfile

import pytest
import yaml

from test_logging_pii import ROOT, render

ELASTALERT_VERSION = '2.19.0'


def _schema_text():
    spec = importlib.util.find_spec('elastalert')
    if spec and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], 'schema.yaml')
        if os.path.exists(path):
            with open(path) as f:
                return f.read(), path
    cache = os.path.join(ROOT, '.testbed', 'cache', 'elastalert2')
    wheels = glob.glob(os.path.join(cache, 'elastalert2-%s-*.whl' % ELASTALERT_VERSION))
    if not wheels:
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps', '--quiet', '-d', cache,
                        'elastalert2==%s' % ELASTALERT_VERSION], check=False, capture_output=True)
        wheels = glob.glob(os.path.join(cache, 'elastalert2-%s-*.whl' % ELASTALERT_VERSION))
    if wheels:
        with zipfile.ZipFile(wheels[0]) as whl:
            return whl.read('elastalert/schema.yaml').decode(), wheels[0]
    return None, None


@pytest.fixture(scope='module')
def validator():
    jsonschema = pytest.importorskip('jsonschema')
    text, origin = _schema_text()
    if text is None:
        pytest.skip('ElastAlert2 is not installed and its wheel cannot be downloaded with pip')
    schema = yaml.safe_load(text)
    return jsonschema.Draft7Validator(schema), origin


def rule(**overrides):
    values = {'logging_alert_slack_webhook_url': 'https://hooks.slack.invalid/services/T/B/X'}
    values.update(overrides)
    return yaml.safe_load(render('deepseek_latency_errors.yaml.j2', **values))


def test_anomaly_rule_passes_elastalert_schema(validator):
    checker, origin = validator
    errors = sorted(checker.iter_errors(rule()), key=str)
    assert not errors, '%s: %s' % (origin, [e.message for e in errors])


@pytest.mark.parametrize('breakage', ['no_alert', 'bad_alerter', 'no_index'])
def test_schema_rejects_broken_rules(validator, breakage):
    checker = validator[0]
    broken = copy.deepcopy(rule())
    if breakage == 'no_alert':
        del broken['alert']
    elif breakage == 'bad_alerter':
        broken['realert'] = 'five minutes'
    else:
        del broken['index']
    assert list(checker.iter_errors(broken)), 'schema accepted a rule with %s' % breakage


def test_anomaly_rule_matches_the_seed():
    data = rule()
    must = data['filter'][0]['query']['bool']['must']
    assert must[0] == {'range': {'latency_ms': {'gt': 1000}}}
    should = must[1]['bool']['should']
    assert {'term': {'status': 'error'}} in should
    assert data['alert'] == ['slack']
    assert data['slack_webhook_url'].startswith('https://')


def test_filebeat_configuration_parses():
    data = yaml.safe_load(render('filebeat.yml.j2', logging_logstash_hosts=['logs1:5044']))
    ids = [i['id'] for i in data['filebeat.inputs']]
    assert ids == ['system', 'gateway-access', 'vault-audit', 'services']
    assert data['filebeat.inputs'][1]['paths'] == ['/var/log/nginx/gateway_access.json']
    assert data['filebeat.inputs'][3]['include_matches.match'][0] == '_SYSTEMD_UNIT=model-serving.service'
    assert data['filebeat.inputs'][1]['parsers'][0]['ndjson']['target'] == ''
    assert data['output.logstash']['ssl.enabled'] is True
    assert data['output.logstash']['hosts'] == ['logs1:5044']


@pytest.mark.parametrize('nodes, single', [(['logs1'], True), (['es1', 'es2', 'es3'], False)])
def test_elasticsearch_configuration_parses(nodes, single):
    data = yaml.safe_load(render('elasticsearch.yml.j2', logging_elasticsearch_nodes=nodes))
    assert data['xpack.security.enabled'] is True
    assert data['xpack.security.http.ssl']['enabled'] is True
    assert (data.get('discovery.type') == 'single-node') is single
    if not single:
        assert data['discovery.seed_hosts'] == nodes


def test_kibana_configuration_parses():
    data = yaml.safe_load(render('kibana.yml.j2'))
    assert data['server.ssl.enabled'] is True
    assert data['elasticsearch.hosts'] == ['https://logs1:9200']
    assert 'elasticsearch.password' not in data  # kept in Kibana's keystore


def test_kibana_saved_objects_are_ndjson():
    path = os.path.join(ROOT, 'roles', 'logging', 'files', 'kibana', 'deepseek_saved_objects.ndjson')
    with open(path) as f:
        objects = [json.loads(line) for line in f if line.strip()]
    ids = {o['id'] for o in objects}
    assert {'deepseek-logs', 'deepseek-gateway-access', 'deepseek-serving-logs'} <= ids
    for obj in objects:
        for ref in obj.get('references', []):
            assert ref['id'] in ids
        source = obj['attributes'].get('kibanaSavedObjectMeta', {}).get('searchSourceJSON')
        if source:
            json.loads(source)
