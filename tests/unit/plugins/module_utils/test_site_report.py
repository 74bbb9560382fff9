# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The site report's model, its JSON schema and its page: statuses and reasons, the schema (which must also refuse a
broken report), and a page with one row per host, escaped text and nothing that reaches outside it."""

from __future__ import annotations

import copy
import datetime
import html.parser
import json

import jsonschema
import pytest

from ansible_collections.onprem.deepseek.plugins.module_utils import _site_report as sr

NOW = datetime.datetime(2026, 12, 7, 12, 0, 0, tzinfo=datetime.timezone.utc)

A30 = {'driver_present': True, 'reason': None, 'driver_version': '570.133.20', 'cuda_driver_version': '12.8',
       'gpu_count': 2,
       'gpus': [{'name': 'NVIDIA A30', 'memory_total_mib': 24576, 'ecc_mode_current': True, 'mig_mode_current': False,
                 'temperature_c': 41}, {'name': 'NVIDIA A30', 'memory_total_mib': 24576, 'ecc_mode_current': True,
                                        'mig_mode_current': False, 'temperature_c': 44}]}


def _serving(revision='0123abcd', ok=True):
    return {'unit': 'model-serving.service', 'engine': 'vllm', 'engine_version': '0.11.0', 'model': 'deepseek-r1-14b',
            'revision': revision, 'manifest': True, 'manifest_files': 12, 'signature': True, 'port': 8000,
            'health': {'ok': ok, 'status': 200 if ok else None, 'error': None if ok else 'Connection refused'},
            'parallel': {'tensor': 2, 'pipeline': 1, 'data': None}, 'max_model_len': 61312}


def _ports(tls=('TLSv1.3',)):
    return [{'port': 443, 'proto': 'tcp', 'registered': True, 'listening': True, 'layer': 'gateway',
             'comment': 'Gateway', 'sources': ['10.0.0.0/8'], 'tls': list(tls)},
            {'port': 9100, 'proto': 'tcp', 'registered': True, 'listening': True, 'layer': 'monitoring',
             'comment': 'Node exporter', 'sources': ['10.0.1.5/32'], 'tls': []}]


def hosts():
    return {
        'infer-l-01': {'groups': ['inference_light', 'glusterfs_clients'], 'addresses': ['10.0.2.11'],
                       'gpu_expected': True, 'gpu': A30,
                       'report': {'os': 'Debian GNU/Linux 12 (bookworm)', 'kernel': '6.1.0',
                                  'packages': {'glusterfs-client': '10.3-5'}, 'python': {'vllm': '0.11.0'},
                                  'serving': [_serving()], 'ports': _ports(), 'firewall_managed': True,
                                  'unregistered_listeners': ['10.0.2.11:43811/tcp'],
                                  'certificates': [{'source': 'port 443', 'subject': 'CN=gw',
                                                    'not_after': '2027-12-07T12:00:00Z'}],
                                  'luks': [{'name': 'models', 'device': '/dev/nvme1n1', 'luks': True, 'version': 2,
                                            'keyslots': [0], 'open': True, 'error': None}],
                                  'lynis': {'hardening_index': 86, 'date': '2026-12-07 10:00:00'}, 'backups': []}},
        'infer-l-02': {'groups': ['inference_light'], 'addresses': ['10.0.2.12'], 'gpu_expected': True, 'gpu': A30,
                       'report': {'serving': [_serving(ok=False)], 'ports': _ports(), 'firewall_managed': True,
                                  'certificates': [],
                                  'luks': [], 'backups': []}},
        'gw-01': {'groups': ['gateway', 'platform_services'], 'addresses': ['10.0.1.2'], 'gpu_expected': False,
                  'report': {'ports': _ports(tls=('TLSv1.3', 'TLSv1.2', 'TLSv1.1')),
                             'unregistered_listeners': ['0.0.0.0:8080/tcp'],
                             'certificates': [{'source': '/etc/nginx/gateway/tls/gateway.crt', 'subject': 'CN=gw',
                                               'not_after': '2026-12-12T12:00:00Z'}]}},
        'train-d-02': {'groups': ['training_distributed'], 'unreachable': True, 'gpu_expected': True,
                       'error': 'container onprem-sandbox-train-d-02 is not running'},
        'backup-01': {'groups': ['backup_servers', 'platform_services'], 'addresses': ['10.0.1.9'],
                      'report': {'firewall_managed': True,
                                 'backups': [{'repository': 'infer-l-01', 'snapshots': 3,
                                              'last_snapshot': '2026-12-07T11:00:00Z', 'age_s': 3600.0}]}},
        'mon-01': {'groups': ['monitoring'], 'error': 'Read versions: permission denied', 'report': {}},
    }


OPERATIONS = {
    'alerts': [{'name': 'TargetDown', 'instance': '10.0.2.12:8000', 'severity': 'critical',
                'since': '2026-12-07T11:58:00Z', 'summary': 'Target 10.0.2.12:8000 of job serving is down'}],
    'series': {'latency_p99': {'title': 'P99 request latency', 'unit': 's', 'query': 'histogram_quantile(...)',
                               'points': [[1.0, 0.2], [61.0, 0.3], [121.0, float('nan')], [181.0, 0.25]]},
               'gpu_utilisation': {'title': 'GPU utilisation', 'unit': '%', 'query': 'avg(x)', 'points': [],
                                   'error': None}},
    'errors': [],
}


@pytest.fixture(name='report')
def report_fixture():
    return sr.build_report(hosts(), OPERATIONS, site_name='prod', tiers=['inference_light', 'training_distributed'],
                           now=NOW)


def by_name(report):
    return dict((h['name'], h) for h in report['hosts'])


def test_statuses_and_reasons(report):
    rows = by_name(report)
    assert rows['infer-l-01']['status'] == 'ok', rows['infer-l-01']['reasons']
    assert rows['infer-l-01']['tier'] == 'inference_light'
    assert rows['infer-l-01']['versions']['nvidia-driver'] == '570.133.20'
    assert rows['infer-l-01']['gpu']['count'] == 2 and rows['infer-l-01']['gpu']['models'] == ['NVIDIA A30']
    # A stopped replica: its health fails and the TargetDown alert of its address lands on its row.
    assert rows['infer-l-02']['status'] == 'fail'
    assert any('not healthy' in r for r in rows['infer-l-02']['reasons'])
    assert any('TargetDown' in r for r in rows['infer-l-02']['reasons'])
    assert report['operations']['alerts'][0]['host'] == 'infer-l-02'
    # Weak TLS fails, an unregistered listener and a certificate within 7 days warn.
    gw = rows['gw-01']
    assert gw['status'] == 'fail' and gw['tier'] == 'gateway'
    assert any('offers TLSv1.1' in r for r in gw['reasons'])
    assert any('offers TLSv1.2 (the site asks for TLSv1.3)' in r for r in gw['reasons'])
    assert any('0.0.0.0:8080/tcp' in r and 'no managed firewall' in r for r in gw['reasons'])
    assert any('firewall is not managed' in r for r in gw['reasons'])
    # Behind base_os' firewall an unregistered listener (an engine's internal port) is shown, not a warning.
    assert rows['infer-l-01']['security']['unregistered_listeners'] == ['10.0.2.11:43811/tcp']
    assert any('expires in 5 days' in r for r in gw['reasons'])
    assert rows['train-d-02']['status'] == 'unreachable'
    assert 'is not running' in rows['train-d-02']['reasons'][0]
    assert rows['mon-01']['status'] == 'fail' and 'permission denied' in rows['mon-01']['reasons'][0]
    assert rows['backup-01']['backups'][0]['age_s'] == 3600.0
    assert report['summary'] == {'hosts': 6, 'ok': 2, 'warn': 0, 'fail': 3, 'unreachable': 1, 'alerts_firing': 1}
    # Non-finite points are dropped (Prometheus' NaN of an empty rate).
    assert [p[1] for p in report['operations']['series']['latency_p99']['points']] == [0.2, 0.3, 0.25]


def test_expired_certificate_and_missing_luks_fail():
    data = hosts()
    data['infer-l-01']['report']['certificates'][0]['not_after'] = '2026-12-01T00:00:00Z'
    data['infer-l-01']['report']['luks'][0].update(luks=False, keyslots=[], error='Device is not a valid LUKS device')
    row = by_name(sr.build_report(data, now=NOW))['infer-l-01']
    assert row['status'] == 'fail'
    assert any('expired' in r for r in row['reasons'])
    assert any('not LUKS' in r for r in row['reasons'])


def test_json_follows_the_schema(report):
    jsonschema.Draft202012Validator.check_schema(sr.SCHEMA)
    document = json.loads(sr.render_json(report))
    jsonschema.Draft202012Validator(sr.SCHEMA).validate(document)
    # An empty site is a valid report too.
    jsonschema.Draft202012Validator(sr.SCHEMA).validate(json.loads(sr.render_json(sr.build_report({}, now=NOW))))


@pytest.mark.parametrize('breakage', [
    lambda d: d['hosts'][0].update(status='green'),
    lambda d: d['hosts'][0].pop('serving'),
    lambda d: d['summary'].update(hosts=-1),
    lambda d: d['operations']['series']['latency_p99']['points'].append([1.0]),
    lambda d: d.update(schema='other/v0'),
    lambda d: [h for h in d['hosts'] if h['name'] == 'infer-l-01'][0]['security']['ports'][0].update(proto='sctp'),
])
def test_schema_refuses_a_broken_report(report, breakage):
    document = copy.deepcopy(json.loads(sr.render_json(report)))
    breakage(document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(sr.SCHEMA).validate(document)


class Page(html.parser.HTMLParser):
    """Rows, classes and every attribute or text that could make the browser fetch something."""

    def __init__(self):
        super().__init__()
        self.rows = []
        self.tags = []
        self.urls = []
        self.style = ''
        self._in_style = False
        self.text = ''

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == 'tr' and 'host' in (attrs.get('class') or '').split():
            self.rows.append(attrs)
        for name in ('src', 'href', 'action', 'srcset', 'poster', 'data', 'xlink:href', 'background'):
            if name in attrs:
                self.urls.append(attrs[name])
        self._in_style = tag == 'style'

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data
        self.text += data


def test_page_has_one_row_per_host_and_reaches_nothing(report):
    page = Page()
    page.feed(sr.render_html(report))
    # Problems first: unreachable, failing, amber, then healthy hosts, each by name.
    assert [r['data-host'] for r in page.rows] == ['train-d-02', 'gw-01', 'infer-l-02', 'mon-01', 'backup-01',
                                                   'infer-l-01']
    statuses = dict((r['data-host'], r['data-status']) for r in page.rows)
    assert statuses['train-d-02'] == 'unreachable'
    assert [r['class'] for r in page.rows if r['data-host'] == 'train-d-02'] == ['host status-unreachable']
    assert statuses == dict((h['name'], h['status']) for h in report['hosts'])
    assert 'script' not in page.tags and 'link' not in page.tags and 'iframe' not in page.tags
    assert page.urls == []
    assert 'url(' not in page.style and '@import' not in page.style
    assert 'polyline' in page.tags  # the latency chart is drawn inline
    assert 'no data in the last hour' in page.text  # and the empty one says so
    assert '0123abcd' in page.text


def test_page_escapes_what_hosts_return():
    data = hosts()
    data['infer-l-01']['report']['serving'][0]['revision'] = '<script>alert(1)</script>'
    data['gw-01']['report']['unregistered_listeners'] = ['"><img src=x onerror=alert(1)>']
    page = Page()
    page.feed(sr.render_html(sr.build_report(data, now=NOW)))
    assert 'script' not in page.tags and 'img' not in page.tags
    assert '<script>alert(1)</script>' in page.text


def test_monitoring_answers_become_alerts_and_series():
    alert = sr.alert_from_alertmanager({'labels': {'alertname': 'TargetDown', 'instance': '10.0.2.12:8000',
                                                   'severity': 'critical', 'job': 'serving'},
                                        'annotations': {'summary': 'down'}, 'startsAt': '2026-12-07T11:58:00Z'})
    assert alert == {'name': 'TargetDown', 'instance': '10.0.2.12:8000', 'severity': 'critical',
                     'since': '2026-12-07T11:58:00Z', 'summary': 'down'}
    item = {'key': 'latency_p99', 'title': 'P99', 'unit': 's', 'query': 'q'}
    answered = sr.series_from_result({'item': item, 'status': 200, 'json': {'status': 'success', 'data': {
        'resultType': 'matrix', 'result': [{'metric': {}, 'values': [[1, '0.5'], [61, 'NaN'], [121, '+Inf'],
                                                                     [181, '0.7']]}]}}})
    assert answered == {'title': 'P99', 'unit': 's', 'query': 'q', 'points': [[1.0, 0.5], [181.0, 0.7]],
                        'error': None}
    refused = sr.series_from_result({'item': item, 'status': 401, 'msg': 'Status code was 401'})
    assert refused['points'] == [] and '401' in refused['error']
    report = sr.build_report({}, {'series': {'latency_p99': refused}}, now=NOW)
    assert report['operations']['errors'] == ['latency_p99: ' + refused['error']]


def test_a_certificate_before_its_renewal_point_is_not_a_warning():
    data = hosts()
    data['infer-l-01']['report']['certificates'][0]['not_after'] = '2026-12-27T12:00:00Z'  # 20 days left
    assert by_name(sr.build_report(data, now=NOW))['infer-l-01']['status'] == 'ok'
    data['infer-l-01']['report']['certificates'][0]['not_after'] = '2026-12-13T12:00:00Z'  # 6 days left
    row = by_name(sr.build_report(data, now=NOW))['infer-l-01']
    assert row['status'] == 'warn' and row['reasons'] == ['certificate port 443 expires in 6 days']


def test_a_gpu_host_without_nvml_fails_and_a_service_host_does_not():
    data = hosts()
    no_nvml = {'driver_present': False, 'reason': 'nvmlInit failed: NVML Shared Library Not Found', 'gpus': []}
    data['infer-l-01']['gpu'] = no_nvml
    data['backup-01']['gpu'] = no_nvml
    rows = by_name(sr.build_report(data, now=NOW))
    assert rows['infer-l-01']['status'] == 'fail'
    assert 'GPU probe: nvmlInit failed: NVML Shared Library Not Found' in rows['infer-l-01']['reasons']
    assert rows['backup-01']['status'] == 'ok' and rows['backup-01']['gpu']['count'] == 0
