# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The site report: one data model built from what every host and the monitoring server returned, its JSON schema,
and one self-contained HTML page (inline CSS and SVG, no script, no external request). Pure functions."""

from __future__ import annotations

import datetime
import html
import json
import math

SCHEMA_ID = 'onprem.deepseek/site-report/v1'
STATUSES = ('ok', 'warn', 'fail', 'unreachable')
_WEAK_TLS = ('SSLv3', 'TLSv1', 'TLSv1.1')
TLS_ORDER = ('SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3')

_NULLABLE_STR = {'type': ['string', 'null']}
_NULLABLE_NUM = {'type': ['number', 'null']}
_SERIES = {
    'type': 'object',
    'required': ['title', 'unit', 'query', 'points'],
    'properties': {
        'title': {'type': 'string'},
        'unit': {'type': 'string'},
        'query': {'type': 'string'},
        'points': {'type': 'array', 'items': {'type': 'array', 'minItems': 2, 'maxItems': 2,
                                              'items': {'type': 'number'}}},
        'error': _NULLABLE_STR,
    },
    'additionalProperties': False,
}

SCHEMA = {
    '$schema': 'https://json-schema.org/draft/2020-12/schema',
    '$id': SCHEMA_ID,
    'title': 'onprem.deepseek site report',
    'type': 'object',
    'required': ['schema', 'generated_at', 'site', 'summary', 'hosts', 'operations'],
    'additionalProperties': False,
    'properties': {
        'schema': {'const': SCHEMA_ID},
        'generated_at': {'type': 'string', 'format': 'date-time'},
        'site': {'type': 'object', 'required': ['name'], 'properties': {'name': {'type': 'string'}}},
        'summary': {
            'type': 'object',
            'required': ['hosts', 'ok', 'warn', 'fail', 'unreachable', 'alerts_firing'],
            'properties': dict((k, {'type': 'integer', 'minimum': 0})
                               for k in ('hosts', 'ok', 'warn', 'fail', 'unreachable', 'alerts_firing')),
            'additionalProperties': False,
        },
        'hosts': {
            'type': 'array',
            'items': {
                'type': 'object',
                'required': ['name', 'tier', 'groups', 'status', 'reasons', 'gpu', 'versions', 'serving', 'security',
                             'backups'],
                'additionalProperties': False,
                'properties': {
                    'name': {'type': 'string'},
                    'tier': {'type': 'string'},
                    'groups': {'type': 'array', 'items': {'type': 'string'}},
                    'status': {'enum': list(STATUSES)},
                    'reasons': {'type': 'array', 'items': {'type': 'string'}},
                    'os': _NULLABLE_STR,
                    'kernel': _NULLABLE_STR,
                    'gpu': {
                        'type': ['object', 'null'],
                        'required': ['count', 'models', 'memory_mib', 'driver', 'cuda', 'ecc', 'mig', 'temperature_c'],
                        'properties': {
                            'count': {'type': 'integer', 'minimum': 0},
                            'models': {'type': 'array', 'items': {'type': 'string'}},
                            'memory_mib': {'type': 'array', 'items': {'type': 'integer'}},
                            'driver': _NULLABLE_STR,
                            'cuda': _NULLABLE_STR,
                            'ecc': {'type': 'array', 'items': _NULLABLE_STR},
                            'mig': {'type': 'array', 'items': _NULLABLE_STR},
                            'temperature_c': {'type': 'array', 'items': _NULLABLE_NUM},
                            'error': _NULLABLE_STR,
                        },
                    },
                    'versions': {'type': 'object', 'additionalProperties': {'type': 'string'}},
                    'serving': {
                        'type': 'array',
                        'items': {
                            'type': 'object',
                            'required': ['unit', 'engine', 'model', 'revision', 'manifest', 'signature', 'health'],
                            'properties': {
                                'unit': {'type': 'string'},
                                'engine': {'type': 'string'},
                                'engine_version': _NULLABLE_STR,
                                'model': _NULLABLE_STR,
                                'revision': _NULLABLE_STR,
                                'manifest': {'type': 'boolean'},
                                'manifest_files': {'type': ['integer', 'null']},
                                'signature': {'type': 'boolean'},
                                'port': {'type': ['integer', 'null']},
                                'health': {'type': 'object', 'required': ['ok'],
                                           'properties': {'ok': {'type': 'boolean'}, 'status': {'type': ['integer', 'null']},
                                                          'error': _NULLABLE_STR}},
                                'parallel': {'type': 'object', 'additionalProperties': {'type': ['integer', 'null']}},
                                'max_model_len': {'type': ['integer', 'null']},
                            },
                        },
                    },
                    'security': {
                        'type': 'object',
                        'required': ['ports', 'unregistered_listeners', 'certificates', 'luks'],
                        'properties': {
                            'ports': {'type': 'array', 'items': {
                                'type': 'object', 'required': ['port', 'proto', 'registered', 'listening'],
                                'properties': {
                                    'port': {'type': 'integer'}, 'port_end': {'type': 'integer'},
                                    'proto': {'enum': ['tcp', 'udp']},
                                    'registered': {'type': 'boolean'}, 'listening': {'type': 'boolean'},
                                    'layer': _NULLABLE_STR, 'comment': _NULLABLE_STR,
                                    'sources': {'type': 'array', 'items': {'type': 'string'}},
                                    'tls': {'type': 'array', 'items': {'type': 'string'}},
                                }}},
                            'unregistered_listeners': {'type': 'array', 'items': {'type': 'string'}},
                            'firewall_managed': {'type': ['boolean', 'null']},
                            'certificates': {'type': 'array', 'items': {
                                'type': 'object', 'required': ['source', 'not_after', 'days_left'],
                                'properties': {'source': {'type': 'string'}, 'subject': _NULLABLE_STR,
                                               'not_after': _NULLABLE_STR, 'days_left': _NULLABLE_NUM}}},
                            'luks': {'type': 'array', 'items': {
                                'type': 'object', 'required': ['name', 'device', 'luks', 'keyslots', 'open'],
                                'properties': {'name': {'type': 'string'}, 'device': {'type': 'string'},
                                               'luks': {'type': 'boolean'}, 'version': {'type': ['integer', 'null']},
                                               'keyslots': {'type': 'array', 'items': {'type': 'integer'}},
                                               'open': {'type': 'boolean'}, 'error': _NULLABLE_STR}}},
                            'lynis': {'type': ['object', 'null']},
                            'testssl': {'type': ['object', 'null']},
                        },
                    },
                    'backups': {'type': 'array', 'items': {
                        'type': 'object', 'required': ['repository', 'last_snapshot', 'age_s', 'snapshots'],
                        'properties': {'repository': {'type': 'string'}, 'last_snapshot': _NULLABLE_STR,
                                       'age_s': _NULLABLE_NUM, 'snapshots': {'type': 'integer', 'minimum': 0}}}},
                },
            },
        },
        'operations': {
            'type': 'object',
            'required': ['alerts', 'series', 'errors'],
            'additionalProperties': False,
            'properties': {
                'alerts': {'type': 'array', 'items': {
                    'type': 'object', 'required': ['name', 'instance', 'severity', 'since'],
                    'properties': {'name': {'type': 'string'}, 'instance': _NULLABLE_STR, 'host': _NULLABLE_STR,
                                   'severity': _NULLABLE_STR, 'since': _NULLABLE_STR, 'summary': _NULLABLE_STR}}},
                'series': {'type': 'object', 'additionalProperties': _SERIES},
                'errors': {'type': 'array', 'items': {'type': 'string'}},
            },
        },
    },
}


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _gpu_summary(gpu_info):
    """The probe's result (onprem.deepseek.nvml_info, or preflight's fact) as one row's GPU cell."""
    if not gpu_info:
        return None
    gpus = gpu_info.get('gpus') or []
    error = None if gpus else (gpu_info.get('reason') or gpu_info.get('error') or gpu_info.get('msg'))
    if not gpus:
        return {'count': 0, 'models': [], 'memory_mib': [], 'driver': None, 'cuda': None, 'ecc': [], 'mig': [],
                'temperature_c': [], 'error': str(error) if error else None}
    cuda = gpu_info.get('cuda_driver_version')
    if isinstance(cuda, dict):
        cuda = cuda.get('string') or '%s.%s' % (cuda.get('major'), cuda.get('minor'))
    elif isinstance(cuda, int):
        cuda = '%d.%d' % (cuda // 1000, (cuda % 1000) // 10)
    return {
        'count': len(gpus),
        'models': sorted(set(str(g.get('name', '?')) for g in gpus)),
        'memory_mib': [int(g.get('memory_total_mib') or 0) for g in gpus],
        'driver': str(gpu_info['driver_version']) if gpu_info.get('driver_version') else None,
        'cuda': str(cuda) if cuda else None,
        'ecc': [None if g.get('ecc_mode_current') is None else str(g.get('ecc_mode_current')) for g in gpus],
        'mig': [None if g.get('mig_mode_current') is None else str(g.get('mig_mode_current')) for g in gpus],
        'temperature_c': [_float_or_none(g.get('temperature_c')) for g in gpus],
        'error': None,
    }


def _tier(groups, tiers):
    for tier in tiers:
        if tier in groups:
            return tier
    service = [g for g in groups if g not in ('all', 'ungrouped')]
    return service[0] if service else 'ungrouped'


def _alert_host(alert, addresses):
    """The inventory host an alert's instance label names (host:port, an address or the host name)."""
    instance = alert.get('instance') or ''
    name = instance.rsplit(':', 1)[0] if instance.count(':') == 1 or instance.startswith('[') else instance
    name = name.strip('[]')
    return addresses.get(name)


def _host_entry(host, collected, tier, now, cert_warn_days, alerts, testssl, tls_minimum='TLSv1.3'):
    """One host's row: what it returned, and the status and reasons an operator reads first."""
    groups = sorted(collected.get('groups') or [])
    reasons = []
    status = 'ok'

    def worse(level, reason):
        nonlocal status
        order = {'ok': 0, 'warn': 1, 'fail': 2, 'unreachable': 3}
        if order[level] > order[status]:
            status = level
        reasons.append(reason)

    entry = {'name': host, 'tier': tier, 'groups': groups, 'status': 'ok', 'reasons': reasons, 'os': None,
             'kernel': None, 'gpu': _gpu_summary(collected.get('gpu')), 'versions': {}, 'serving': [],
             'security': {'ports': [], 'unregistered_listeners': [], 'firewall_managed': None, 'certificates': [],
                          'luks': [], 'lynis': None,
                          'testssl': testssl},
             'backups': []}
    if collected.get('unreachable'):
        worse('unreachable', 'unreachable: %s' % (collected.get('error') or 'no answer'))
    elif collected.get('error'):
        worse('fail', 'collection failed: %s' % collected['error'])
    facts = collected.get('report') or {}
    entry['os'] = facts.get('os')
    entry['kernel'] = facts.get('kernel')
    versions = dict((k, str(v)) for k, v in (facts.get('packages') or {}).items() if v)
    versions.update(dict((k, str(v)) for k, v in (facts.get('python') or {}).items() if v))
    gpu = entry['gpu']
    if gpu and gpu.get('driver'):
        versions['nvidia-driver'] = gpu['driver']
    if gpu and gpu.get('cuda'):
        versions['cuda (driver API)'] = gpu['cuda']
    entry['versions'] = dict(sorted(versions.items()))
    if gpu and gpu.get('error') and collected.get('gpu_expected'):
        worse('fail', 'GPU probe: %s' % gpu['error'])
    if gpu and gpu['temperature_c'] and max(t or 0 for t in gpu['temperature_c']) >= 85:
        worse('warn', 'GPU temperature %.0f C' % max(t or 0 for t in gpu['temperature_c']))

    for unit in facts.get('serving') or []:
        entry['serving'].append(unit)
        health = unit.get('health') or {}
        if not health.get('ok'):
            worse('fail', '%s not healthy: %s' % (unit.get('unit'), health.get('error') or health.get('status')))
        if not unit.get('manifest'):
            worse('warn', '%s: revision %s has no manifest' % (unit.get('unit'), unit.get('revision')))

    security = entry['security']
    security['ports'] = facts.get('ports') or []
    security['unregistered_listeners'] = facts.get('unregistered_listeners') or []
    security['firewall_managed'] = bool(facts.get('firewall_managed')) if facts else None
    if security['unregistered_listeners'] and not security['firewall_managed']:
        worse('warn', 'listening outside the port registry with no managed firewall: %s'
              % ', '.join(security['unregistered_listeners']))
    if security['firewall_managed'] is False:
        worse('warn', 'the firewall is not managed by base_os (no port registry)')
    for port in security['ports']:
        weak = [v for v in port.get('tls') or [] if v in _WEAK_TLS]
        below = [v for v in port.get('tls') or [] if v not in _WEAK_TLS and v in TLS_ORDER
                 and TLS_ORDER.index(v) < TLS_ORDER.index(tls_minimum)]
        if weak:
            worse('fail', 'port %s offers %s' % (port['port'], ', '.join(weak)))
        if below:
            worse('warn', 'port %s offers %s (the site asks for %s)' % (port['port'], ', '.join(below), tls_minimum))
    for cert in facts.get('certificates') or []:
        item = dict(cert)
        not_after = cert.get('not_after')
        days = None
        if not_after:
            try:
                expiry = datetime.datetime.strptime(not_after, '%Y-%m-%dT%H:%M:%SZ').replace(
                    tzinfo=datetime.timezone.utc)
                days = round((expiry - now).total_seconds() / 86400.0, 1)
            except ValueError:
                days = None
        item['days_left'] = days
        security['certificates'].append(item)
        if days is not None and days < 0:
            worse('fail', 'certificate %s expired' % cert.get('source'))
        elif days is not None and days < cert_warn_days:
            worse('warn', 'certificate %s expires in %.0f days' % (cert.get('source'), days))
    for volume in facts.get('luks') or []:
        security['luks'].append(volume)
        if not volume.get('luks'):
            worse('fail', 'volume %s (%s) is not LUKS: %s' % (volume.get('name'), volume.get('device'),
                                                              volume.get('error') or 'no header'))
    security['lynis'] = facts.get('lynis')
    for backup in facts.get('backups') or []:
        entry['backups'].append(backup)
    for alert in alerts:
        worse('warn', 'alert %s firing%s' % (alert['name'], ' (%s)' % alert['instance'] if alert.get('instance') else ''))
    entry['status'] = status
    return entry


def build_report(hosts, operations=None, site_name='site', tiers=(), cert_warn_days=7, testssl=None, now=None,
                 tls_minimum='TLSv1.3'):
    """The report's data (the JSON twin of the page).

    hosts: {inventory name: {'groups': [...], 'addresses': [...], 'unreachable': bool, 'error': str,
    'report': host_report's result, 'gpu': nvml probe result, 'gpu_expected': bool}}.
    operations: {'alerts': [{name, instance, severity, since, summary}], 'series': {key: series},
    'errors': [...]}."""
    now = now or _utc_now()
    operations = dict(operations or {})
    addresses = {}
    for name, collected in hosts.items():
        addresses[name] = name
        addresses[name.split('.')[0]] = name
        for address in collected.get('addresses') or []:
            addresses[str(address)] = name
    alerts = []
    for alert in operations.get('alerts') or []:
        item = {'name': str(alert.get('name') or '?'), 'instance': alert.get('instance'),
                'severity': alert.get('severity'), 'since': alert.get('since'), 'summary': alert.get('summary')}
        item['host'] = _alert_host(item, addresses)
        alerts.append(item)
    entries = []
    for name in sorted(hosts):
        collected = hosts[name] or {}
        tier = _tier(collected.get('groups') or [], tiers)
        host_alerts = [a for a in alerts if a['host'] == name]
        entries.append(_host_entry(name, collected, tier, now, cert_warn_days, host_alerts,
                                   (testssl or {}).get(name), tls_minimum))
    counts = dict((s, sum(1 for e in entries if e['status'] == s)) for s in STATUSES)
    series = {}
    for key, item in sorted((operations.get('series') or {}).items()):
        points = []
        for point in item.get('points') or []:
            t, v = _float_or_none(point[0]), _float_or_none(point[1])
            if t is not None and v is not None and math.isfinite(v):
                points.append([t, v])
        series[key] = {'title': str(item.get('title') or key), 'unit': str(item.get('unit') or ''),
                       'query': str(item.get('query') or ''), 'points': points, 'error': item.get('error')}
    errors = [str(e) for e in operations.get('errors') or []]
    errors += ['%s: %s' % (key, s['error']) for key, s in series.items() if s.get('error') and
               not any(key in e for e in errors)]
    summary = {'hosts': len(entries), 'alerts_firing': len(alerts)}
    summary.update(counts)
    return {
        'schema': SCHEMA_ID,
        'generated_at': now.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'site': {'name': site_name},
        'summary': summary,
        'hosts': entries,
        'operations': {'alerts': alerts, 'series': series, 'errors': errors},
    }


# --- HTML ---------------------------------------------------------------------------------------------------------

_CSS = """
:root{--ok:#1b7f3b;--warn:#a86b00;--fail:#b3261e;--muted:#5f6368;--line:#d9dde3;--bg:#f6f7f9}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;
background:var(--bg)}
header{padding:16px 24px;background:#14213d;color:#fff}
header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9d1e0}
main{padding:16px 24px}
section{margin:0 0 24px}
h2{font-size:16px;margin:0 0 8px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid var(--line);border-radius:6px;padding:10px 14px;min-width:110px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line);table-layout:fixed}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top;text-align:left;overflow-wrap:anywhere}
#hosts col.c-host{width:11%}#hosts col.c-tier{width:8%}#hosts col.c-status{width:17%}#hosts col.c-gpu{width:11%}
#hosts col.c-versions{width:14%}#hosts col.c-serving{width:13%}#hosts col.c-security{width:17%}#hosts col.c-backups{width:9%}
td,th[scope=row]{font-size:13px}
details summary{cursor:pointer;color:#1f6feb}
th{background:#eef1f5;font-weight:600}
tr.status-fail td,tr.status-unreachable td{background:#fdecea}
tr.status-fail td:first-child,tr.status-unreachable td:first-child{border-left:4px solid var(--fail)}
tr.status-warn td:first-child{border-left:4px solid var(--warn)}
tr.status-ok td:first-child{border-left:4px solid var(--ok)}
.badge{display:inline-block;padding:1px 6px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.badge.ok{background:var(--ok)}.badge.warn{background:var(--warn)}
.badge.fail,.badge.unreachable{background:var(--fail)}
ul{margin:0;padding-left:16px}
.muted{color:var(--muted)}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.charts{display:flex;gap:16px;flex-wrap:wrap}
figure{margin:0;background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}
@media print{header{background:none;color:#000}}
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"


def _e(value):
    return html.escape('' if value is None else str(value), quote=True)


def _list(items, empty='-'):
    items = [i for i in items if i]
    if not items:
        return '<span class="muted">%s</span>' % _e(empty) if empty else ''
    return '<ul>%s</ul>' % ''.join('<li>%s</li>' % i for i in items)


def _folded(items, shown, more):
    """The first items as a list, the rest behind a <details> element (no script)."""
    if len(items) <= shown + 1:
        return _list(items)
    summary = _e(more % (len(items) - shown))
    return '%s<details><summary>%s</summary>%s</details>' % (_list(items[:shown]), summary, _list(items[shown:]))


def _gpu_cell(gpu):
    if not gpu:
        return '<span class="muted">none</span>'
    if not gpu['count']:
        return '<span class="muted">none%s</span>' % (': ' + _e(gpu['error']) if gpu.get('error') else '')
    temps = [t for t in gpu['temperature_c'] if t is not None]
    lines = ['%dx %s' % (gpu['count'], _e(', '.join(gpu['models']))),
             '%s GiB each' % _e(', '.join(sorted(set('%.0f' % (m / 1024.0) for m in gpu['memory_mib'])))),
             'driver %s, CUDA %s' % (_e(gpu['driver'] or '?'), _e(gpu['cuda'] or '?')),
             'ECC %s, MIG %s' % (_e('/'.join(sorted(set(str(x) for x in gpu['ecc'])))),
                                 _e('/'.join(sorted(set(str(x) for x in gpu['mig']))))),
             ('%.0f-%.0f C' % (min(temps), max(temps))) if temps else '']
    return _list(lines)


def _serving_cell(serving):
    items = []
    for unit in serving:
        health = unit.get('health') or {}
        parallel = unit.get('parallel') or {}
        sizes = ['%s=%s' % (k, v) for k, v in sorted(parallel.items()) if v is not None]
        if unit.get('max_model_len'):
            sizes.append('max_model_len=%s' % unit['max_model_len'])
        items.append(
            '<span class="served" data-model="%s" data-revision="%s">%s @ <code>%s</code></span><br>'
            '%s %s; manifest %s, signature %s; %s<br><span class="muted">%s</span>' % (
                _e(unit.get('model')), _e(unit.get('revision')), _e(unit.get('model') or '?'),
                _e(unit.get('revision') or '?'), _e(unit.get('engine')), _e(unit.get('engine_version') or ''),
                'yes' if unit.get('manifest') else 'MISSING', 'yes' if unit.get('signature') else 'none',
                '<span class="badge ok">healthy</span>' if health.get('ok') else
                '<span class="badge fail">%s</span>' % _e(health.get('error') or health.get('status') or 'down'),
                _e(', '.join(sizes) or 'no parallel sizes set')))
    return _list(items, empty='-')


def _port_name(p):
    name = '%s%s' % (p['port'], '-%s' % p['port_end'] if p.get('port_end', p['port']) != p['port'] else '')
    name += '' if p['proto'] == 'tcp' else '/' + p['proto']
    if p.get('tls'):
        name += ' (TLS %s)' % ' '.join(v.replace('TLSv', '') for v in p['tls'])
    return _e(name)


def _security_cell(security):
    items = []
    ports = security.get('ports') or []
    if ports:
        items.append('ports: ' + ', '.join(_port_name(p) for p in ports if p.get('registered') and p.get('listening')))
        idle = [_port_name(p) for p in ports if p.get('registered') and not p.get('listening')]
        if idle:
            items.append('<span class="muted">open, nothing listening: %s</span>' % ', '.join(idle))
    if security.get('unregistered_listeners'):
        listeners = security['unregistered_listeners']
        shown = ', '.join(listeners[:6]) + (' and %d more' % (len(listeners) - 6) if len(listeners) > 6 else '')
        items.append('%s %s' % ('listening, not registered (dropped by the firewall):' if security.get('firewall_managed')
                                else '<b>listening, not registered, no firewall:</b>', _e(shown)))
    if security.get('firewall_managed') is False:
        items.append('<b>firewall not managed</b>')
    certs = sorted(security.get('certificates') or [], key=lambda c: c.get('days_left') is None and 1e9 or c['days_left'])
    for cert in certs[:4]:
        days = '?' if cert.get('days_left') is None else '%.0f' % cert['days_left']
        items.append('cert %s: %s (%s d)' % (_e(cert['source']), _e((cert.get('not_after') or '?')[:10]), _e(days)))
    if len(certs) > 4:
        items.append('<span class="muted">%d more certificates</span>' % (len(certs) - 4))
    for volume in security.get('luks') or []:
        items.append('LUKS%s %s: %s, key slots %s' % (
            _e(volume.get('version') or ''), _e(volume['name']), 'open' if volume['open'] else 'closed',
            _e(','.join(str(k) for k in volume['keyslots']) or 'none')) if volume['luks'] else
            '<b>%s: not LUKS</b>' % _e(volume['name']))
    if security.get('lynis'):
        items.append('lynis index %s (%s)' % (_e(security['lynis'].get('hardening_index')),
                                              _e(security['lynis'].get('date') or '')))
    if security.get('testssl'):
        items.append('testssl: %s' % _e(', '.join('%s %s' % (k, v) for k, v in sorted(security['testssl'].items()))))
    return _list(items)


def _age(seconds):
    if seconds is None:
        return 'never'
    seconds = float(seconds)
    if seconds < 3600:
        return '%.0f min' % (seconds / 60)
    if seconds < 172800:
        return '%.1f h' % (seconds / 3600)
    return '%.1f d' % (seconds / 86400)


def _chart(key, series, width=360, height=90):
    """A small inline SVG line chart of one Prometheus range query."""
    points = series['points']
    title = '%s (%s)' % (series['title'], series['unit']) if series['unit'] else series['title']
    parts = ['<figure class="chart" data-series="%s"><figcaption>%s</figcaption>' % (_e(key), _e(title))]
    parts.append('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
                 'aria-label="%s">' % (width, height, width, height, _e(title)))
    parts.append('<rect x="0" y="0" width="%d" height="%d" fill="#fff" stroke="#d9dde3"/>' % (width, height))
    if len(points) < 2:
        message = 'no answer from Prometheus (see below)' if series.get('error') else 'no data in the last hour'
        parts.append('<text x="8" y="%d" font-size="12" fill="#5f6368">%s</text>' % (height // 2, _e(message)))
    else:
        t0, t1 = points[0][0], points[-1][0]
        values = [p[1] for p in points]
        low, high = min(values + [0.0]), max(values)
        span_t = (t1 - t0) or 1.0
        span_v = (high - low) or 1.0
        pad = 14
        coords = ' '.join('%.1f,%.1f' % (pad + (t - t0) / span_t * (width - 2 * pad),
                                         height - pad - (v - low) / span_v * (height - 2 * pad)) for t, v in points)
        parts.append('<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="%s"/>' % coords)
        parts.append('<text x="%d" y="12" font-size="11" fill="#5f6368">max %s</text>' % (pad, _e('%.4g' % high)))
        parts.append('<text x="%d" y="%d" font-size="11" fill="#5f6368">last %s</text>' % (
            width - 90, height - 2, _e('%.4g' % values[-1])))
    parts.append('</svg>')
    parts.append('<div class="muted"><code>%s</code></div></figure>' % _e(series['query']))
    return ''.join(parts)


def render_html(report):
    """The page: a summary, one row per host, firing alerts, backups and the charts. No script, no external URL."""
    summary = report['summary']
    out = ['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="%s">' % _e(_CSP),
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>Site report: %s</title>' % _e(report['site']['name']),
           '<style>%s</style>' % _CSS, '</head>', '<body>',
           '<header><h1>Site report: %s</h1><p>Generated %s (UTC) by onprem.deepseek</p></header>' % (
               _e(report['site']['name']), _e(report['generated_at'])),
           '<main>', '<section id="summary"><h2>Summary</h2><div class="cards">']
    for key, label in (('hosts', 'hosts'), ('ok', 'healthy'), ('warn', 'warnings'), ('fail', 'failing'),
                       ('unreachable', 'unreachable'), ('alerts_firing', 'alerts firing')):
        out.append('<div class="card" id="summary-%s"><b>%d</b>%s</div>' % (_e(key), summary[key], _e(label)))
    out.append('</div></section>')
    out.append('<section id="hosts"><h2>Hosts</h2><table><colgroup><col class="c-host"><col class="c-tier">'
               '<col class="c-status"><col class="c-gpu"><col class="c-versions"><col class="c-serving">'
               '<col class="c-security"><col class="c-backups"></colgroup>'
               '<thead><tr><th scope="col">Host</th><th scope="col">Tier</th>'
               '<th scope="col">Status</th><th scope="col">GPUs</th><th scope="col">Versions</th>'
               '<th scope="col">Serving</th><th scope="col">Security</th><th scope="col">Backups</th></tr></thead><tbody>')
    severity = {'unreachable': 0, 'fail': 1, 'warn': 2, 'ok': 3}
    for host in sorted(report['hosts'], key=lambda h: (severity[h['status']], h['name'])):
        versions = _folded(['%s %s' % (_e(k), _e(v)) for k, v in host['versions'].items()], 6,
                           '%d more versions')
        oldest_first = sorted(host['backups'], key=lambda b: (b['age_s'] is not None, -(b['age_s'] or 0)))
        backups = _folded(['%s: %s (%d)' % (_e(b['repository']), 'last %s ago' % _e(_age(b['age_s']))
                                            if b['age_s'] is not None else 'never', b['snapshots'])
                           for b in oldest_first], 3, '%d more repositories')
        out.append(
            '<tr class="host status-%s" data-host="%s" data-status="%s" data-tier="%s">'
            '<th scope="row">%s%s</th><td>%s</td>'
            '<td><span class="badge %s">%s</span>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
                _e(host['status']), _e(host['name']), _e(host['status']), _e(host['tier']), _e(host['name']),
                '<br><span class="muted">%s</span>' % _e(host['os']) if host.get('os') else '', _e(host['tier']), _e(host['status']), _e(host['status']),
                _list(['<span class="reason">%s</span>' % _e(r) for r in host['reasons']], empty=''),
                _gpu_cell(host['gpu']), versions, _serving_cell(host['serving']),
                _security_cell(host['security']), backups))
    out.append('</tbody></table></section>')
    alerts = report['operations']['alerts']
    out.append('<section id="alerts"><h2>Alerts firing (%d)</h2>' % len(alerts))
    if alerts:
        out.append('<table><thead><tr><th scope="col">Alert</th><th scope="col">Instance</th>'
                   '<th scope="col">Severity</th><th scope="col">Since</th><th scope="col">Summary</th></tr></thead><tbody>')
        for alert in alerts:
            out.append('<tr class="alert" data-alert="%s" data-instance="%s"><td>%s</td><td>%s</td><td>%s</td>'
                       '<td>%s</td><td>%s</td></tr>' % (
                           _e(alert['name']), _e(alert['instance']), _e(alert['name']),
                           _e(alert['instance'] or '') + (' (%s)' % _e(alert['host']) if alert.get('host') else ''),
                           _e(alert['severity'] or ''), _e(alert['since'] or ''), _e(alert['summary'] or '')))
        out.append('</tbody></table>')
    else:
        out.append('<p class="muted">None.</p>')
    out.append('</section>')
    out.append('<section id="charts"><h2>Last hour</h2><div class="charts">')
    for key, series in report['operations']['series'].items():
        out.append(_chart(key, series))
    if not report['operations']['series']:
        out.append('<p class="muted">No monitoring server answered.</p>')
    out.append('</div></section>')
    if report['operations']['errors']:
        out.append('<section id="errors"><h2>What the report could not read</h2>%s</section>' % _list(
            [_e(e) for e in report['operations']['errors']]))
    out.append('</main></body></html>')
    return '\n'.join(out) + '\n'


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True) + '\n'


# --- Monitoring answers -------------------------------------------------------------------------------------------

def alert_from_alertmanager(alert):
    """One alert of Alertmanager's API v2 (/api/v2/alerts) as the report's alert entry."""
    labels = alert.get('labels') or {}
    annotations = alert.get('annotations') or {}
    return {'name': str(labels.get('alertname') or '?'), 'instance': labels.get('instance'),
            'severity': labels.get('severity'), 'since': alert.get('startsAt'), 'summary': annotations.get('summary')}


def series_from_result(result):
    """A registered ansible.builtin.uri result of a Prometheus range query (looped over the series) as one series:
    the first result's points (the queries aggregate to one series), or the error."""
    item = result.get('item') or {}
    series = {'title': str(item.get('title') or item.get('key') or ''), 'unit': str(item.get('unit') or ''),
              'query': str(item.get('query') or ''), 'points': [], 'error': None}
    if result.get('status') != 200:
        series['error'] = 'Prometheus did not answer: %s' % (result.get('msg') or result.get('status'))
        return series
    data = (result.get('json') or {}).get('data') or {}
    matrix = data.get('result') or []
    if matrix:
        for point in matrix[0].get('values') or []:
            t, v = _float_or_none(point[0]), _float_or_none(point[1])
            if t is not None and v is not None and math.isfinite(v):
                series['points'].append([t, v])
    return series
