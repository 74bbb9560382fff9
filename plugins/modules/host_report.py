#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_report
short_description: Read one host's state for the site report (versions, serving, ports, TLS, certificates, LUKS)
version_added: 0.2.0
description:
  - Reads, and never changes, what the site report shows of one host.
  - The versions of the packages named in O(packages) and of the Python distributions named in O(python_distributions)
    found in the virtual environments under O(python_site_globs).
  - Every model-serving unit matching O(serving_units) - engine, model, served revision (the target of the C(current)
    link), whether the revision has its manifest and signature, the parallel sizes and context length of its command
    line, and whether its C(/health) endpoint answers.
  - The host's listening sockets (C(/proc/net)) against the port registry in O(registry_path); for each registered TCP
    port that listens, the TLS versions it accepts and the expiry of the certificate it presents.
  - The certificates in the files matching O(certificate_paths), the LUKS header and key slots of every volume in
    O(luks_devices), the latest lynis hardening index, and the age of the newest snapshot of every restic repository
    matching O(backup_repository_globs).
author:
  - onprem.deepseek maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, so it runs the same way in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  packages:
    description: OS packages whose installed version to report (dpkg or rpm); those not installed are left out.
    type: list
    elements: str
    default: []
  python_distributions:
    description: Python distributions (for example V(torch), V(vllm)) whose version to report.
    type: list
    elements: str
    default: [torch, transformers, vllm, sglang]
  python_site_globs:
    description: Shell patterns of the C(site-packages) folders searched for O(python_distributions).
    type: list
    elements: str
    default: []
  serving_units:
    description: Shell patterns of the model-serving systemd unit files.
    type: list
    elements: path
    default: [/etc/systemd/system/model-serving*.service]
  manifest_name:
    description: Name of the sha256 manifest in a model revision folder.
    type: str
    default: SHA256SUMS
  signature_name:
    description: Name of the signature file in a model revision folder.
    type: str
    default: model.sig
  version_commands:
    description:
      - Programs not installed as packages whose version to report, each as C(name) and C(argv) (for example C(name)
        V(openbao) and C(argv) V([/usr/local/bin/bao, version])); the first version number of the output is taken.
      - A program that is not on the host is left out.
    type: list
    elements: dict
    default: []
  registry_path:
    description:
      - The port registry that base_os writes - C(layers), a mapping of layer to its list of ports, and C(managed),
        whether base_os manages the firewall.
    type: path
    default: /etc/onprem-deepseek/firewall-ports.json
  ignore_ports:
    description: Ports that listen without a registry entry and are not reported as unregistered (for example SSH).
    type: list
    elements: int
    default: [22]
  tls_probe:
    description: Whether to probe each registered, listening TCP port for the TLS versions it accepts.
    type: bool
    default: true
  probe_timeout:
    description: Seconds one TLS handshake or health request may take.
    type: float
    default: 1.5
  certificate_paths:
    description: Shell patterns of certificate files (PEM) whose expiry to report.
    type: list
    elements: str
    default: []
  luks_devices:
    description: The encrypted volumes of the host (as in C(disk_encryption_devices)); only C(name) and C(device) are read.
    type: list
    elements: dict
    default: []
  lynis_report:
    description: lynis' report file.
    type: path
    default: /var/log/lynis-report.dat
  backup_repository_globs:
    description: Shell patterns of restic repository folders on a backup server.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Read the host's state for the site report
  onprem.deepseek.host_report:
    packages: [nginx, openbao, glusterfs-server]
    python_site_globs: ["/opt/model-serving/*/lib/python3*/site-packages"]
    certificate_paths: ["/etc/nginx/gateway/tls/*.crt"]
    luks_devices: "{{ disk_encryption_devices | default([]) }}"
  register: __report_host
"""

RETURN = r"""
report:
  description: What the host returned; the site report's schema (onprem.deepseek.site_report) describes each key.
  returned: always
  type: dict
  contains:
    os:
      description: PRETTY_NAME of C(/etc/os-release).
      type: str
      returned: always
    kernel:
      description: Kernel release.
      type: str
      returned: always
    packages:
      description: Installed version of each package of O(packages) that is installed.
      type: dict
      returned: always
    python:
      description: Version(s) of each distribution of O(python_distributions) that was found.
      type: dict
      returned: always
    serving:
      description: One entry per model-serving unit.
      type: list
      elements: dict
      returned: always
    ports:
      description: Registered and listening ports, with the layer, sources and accepted TLS versions.
      type: list
      elements: dict
      returned: always
    unregistered_listeners:
      description: C(address:port/proto) of sockets that listen beyond the loopback without a registry entry.
      type: list
      elements: str
      returned: always
    firewall_managed:
      description: Whether the registry says base_os manages the host's firewall (which then drops every other port).
      type: bool
      returned: always
    certificates:
      description: Certificates read from files and from the TLS ports, with C(not_after) in UTC.
      type: list
      elements: dict
      returned: always
    luks:
      description: LUKS state of each volume of O(luks_devices).
      type: list
      elements: dict
      returned: always
    lynis:
      description: The latest lynis hardening index and its date; V(null) without a report.
      type: dict
      returned: always
    backups:
      description: Each restic repository's snapshot count and the age of its newest snapshot.
      type: list
      elements: dict
      returned: always
"""

import glob
import json
import os
import re
import shlex
import socket
import ssl
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.onprem.deepseek.plugins.module_utils._site_report import int_or_none

_TLS_VERSIONS = (('TLSv1.3', 'TLSv1_3'), ('TLSv1.2', 'TLSv1_2'), ('TLSv1.1', 'TLSv1_1'), ('TLSv1', 'TLSv1'))


def _iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def _read(path):
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def os_name():
    text = _read('/etc/os-release') or ''
    match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?$', text, re.M)
    return match.group(1) if match else None


def _hex_address(text, family):
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, bytes.fromhex(text)[::-1])
    raw = bytes.fromhex(text)
    raw = b''.join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, raw)


def listening_sockets(proc='/proc/net'):
    """(address, port, proto) of every TCP socket in LISTEN and every unconnected UDP socket."""
    found = set()
    for proto, family, name, state in (('tcp', 4, 'tcp', '0A'), ('tcp', 6, 'tcp6', '0A'),
                                       ('udp', 4, 'udp', '07'), ('udp', 6, 'udp6', '07')):
        text = _read(os.path.join(proc, name))
        if not text:
            continue
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 4 or fields[3] != state:
                continue
            address, port = fields[1].split(':')
            remote_port = fields[2].split(':')[1]
            if proto == 'udp' and remote_port != '0000':
                continue
            found.add((_hex_address(address, family), int(port, 16), proto))
    return sorted(found)


def _loopback(address):
    return address.startswith('127.') or address == '::1'


def read_registry(path):
    text = _read(path)
    if text is None:
        return None, False
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError('not a JSON object')
    layers = data.get('layers', data) if isinstance(data.get('layers', data), dict) else {}
    entries = []
    for layer, ports in sorted(layers.items()):
        if not isinstance(ports, list):
            continue
        for entry in ports:
            if not isinstance(entry, dict) or 'port' not in entry:
                continue
            first = int(entry['port'])
            last = int(entry.get('port_end') or first)
            entries.append({'layer': layer, 'port': first, 'port_end': last, 'proto': entry.get('proto', 'tcp'),
                            'comment': entry.get('comment'), 'sources': [str(s) for s in entry.get('sources') or []]})
    return entries, bool(data.get('managed', False))


def decode_certificate(pem):
    """notAfter and subject of the first certificate of a PEM text, read by CPython's own decoder."""
    handle, path = tempfile.mkstemp(suffix='.pem')
    try:
        with os.fdopen(handle, 'w') as out:
            out.write(pem)
        decoded = ssl._ssl._test_decode_cert(path)  # pylint: disable=protected-access
    finally:
        os.unlink(path)
    subject = ', '.join('%s=%s' % pair for rdn in decoded.get('subject', ()) for pair in rdn)
    return {'subject': subject or None, 'not_after': _iso(ssl.cert_time_to_seconds(decoded['notAfter']))}


def _probe(address, port, version_attr, timeout):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    version = getattr(ssl.TLSVersion, version_attr)
    try:
        context.minimum_version = version
        context.maximum_version = version
        if version_attr in ('TLSv1', 'TLSv1_1'):
            context.set_ciphers('ALL:@SECLEVEL=0')
    except (ValueError, ssl.SSLError):
        return None, 'not supported by this client'
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=None) as tls:
                return tls.getpeercert(binary_form=True), None
    except ssl.SSLError as exc:
        return None, str(exc.reason or exc)
    except (OSError, socket.timeout) as exc:
        return None, str(exc) or exc.__class__.__name__


def tls_versions(address, port, timeout):
    """The TLS versions the port accepts, and the certificate it presents (PEM), or ([], None) for a plain port."""
    accepted = []
    certificate = None
    for name, attr in _TLS_VERSIONS:
        der, error = _probe(address, port, attr, timeout)
        if der is not None or (error and 'CERTIFICATE_REQUIRED' in error.upper()):
            accepted.append(name)
            certificate = certificate or (ssl.DER_cert_to_PEM_cert(der) if der else None)
        elif name == 'TLSv1.2' and not accepted:
            break  # neither TLS 1.3 nor 1.2: not a TLS port, older versions are not tried
    return accepted, certificate


def package_versions(module, names):
    if not names:
        return {}
    dpkg = module.get_bin_path('dpkg-query')
    rpm = module.get_bin_path('rpm')
    versions = {}
    if dpkg:
        dummy, out, dummy = module.run_command([dpkg, '-W', '-f=${Package}\t${Version}\t${db:Status-Abbrev}\n'] + names)
        for line in out.splitlines():
            fields = line.split('\t')
            if len(fields) == 3 and fields[2].startswith('ii'):
                versions[fields[0]] = fields[1]
    elif rpm:
        dummy, out, dummy = module.run_command([rpm, '-q', '--qf', '%{NAME}\t%{VERSION}-%{RELEASE}\n'] + names)
        for line in out.splitlines():
            fields = line.split('\t')
            if len(fields) == 2:
                versions[fields[0]] = fields[1]
    return versions


def command_versions(module, commands):
    versions = {}
    for command in commands:
        argv = [str(a) for a in command.get('argv') or []]
        if not argv or not os.access(argv[0], os.X_OK):
            continue
        rc, out, err = module.run_command(argv)
        match = re.search(r'\bv?(\d+\.\d+[0-9A-Za-z.+~-]*)', out or err or '')
        if rc == 0 and match:
            versions[str(command.get('name') or os.path.basename(argv[0]))] = match.group(1)
    return versions


def _dist_version(site, name):
    pattern = re.sub(r'[-_.]+', '_', name)
    for meta in sorted(glob.glob(os.path.join(site, '*.dist-info'))):
        base = os.path.basename(meta)[:-len('.dist-info')]
        dist, dummy, version = base.rpartition('-')
        if re.sub(r'[-_.]+', '_', dist).lower() == pattern.lower():
            return version
    return None


def python_versions(site_globs, names):
    found = {}
    sites = sorted(set(s for pattern in site_globs for s in glob.glob(pattern)))
    for name in names:
        versions = sorted(set(v for v in (_dist_version(site, name) for site in sites) if v))
        if versions:
            found[name] = ', '.join(versions)
    return found


def _exec_start(text):
    lines = []
    for line in text.splitlines():
        if line.startswith('ExecStart='):
            lines.append(line[len('ExecStart='):].lstrip('-@+!'))
    return shlex.split(lines[-1]) if lines else []


def _option(args, *names):
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + '='):
                return arg.split('=', 1)[1]
    return None


def serving_units(patterns, manifest_name, signature_name, timeout):
    units = []
    for path in sorted(set(p for pattern in patterns for p in glob.glob(pattern))):
        args = _exec_start(_read(path) or '')
        if not args:
            continue
        module_arg = _option(args, '-m') or os.path.basename(args[0])
        engine = 'sglang' if 'sglang' in module_arg else ('vllm' if 'vllm' in module_arg else module_arg)
        model_path = _option(args, '--model', '--model-path')
        revision_dir = os.path.realpath(model_path) if model_path else None
        manifest = os.path.join(revision_dir, manifest_name) if revision_dir else None
        manifest_text = _read(manifest) if manifest else None
        venv = os.path.dirname(os.path.dirname(args[0])) if os.path.isabs(args[0]) else None
        sites = glob.glob(os.path.join(venv, 'lib', 'python3*', 'site-packages')) if venv else []
        engine_version = None
        for site in sites:
            engine_version = _dist_version(site, engine) or _dist_version(site, engine + '-cpu') or engine_version
        port = int_or_none(_option(args, '--port'))
        listen = _option(args, '--host') or '127.0.0.1'
        if listen in ('0.0.0.0', '::', ''):
            listen = '127.0.0.1'
        health = {'ok': False, 'status': None, 'error': None}
        if port:
            url = 'http://%s:%d/health' % ('[%s]' % listen if ':' in listen else listen, port)
            try:
                response = open_url(url, timeout=timeout, validate_certs=False, use_proxy=False)
                health['status'] = response.getcode()
                health['ok'] = 200 <= health['status'] < 300
            except Exception as exc:  # pylint: disable=broad-except
                health['status'] = getattr(exc, 'code', None)
                health['error'] = str(getattr(exc, 'reason', None) or exc)
        else:
            health['error'] = 'no --port in the unit'
        model_dir = os.path.dirname(revision_dir) if revision_dir else None
        units.append({
            'unit': os.path.basename(path),
            'engine': engine,
            'engine_version': engine_version,
            'model': _option(args, '--served-model-name') or (os.path.basename(model_dir) if model_dir else None),
            'revision': os.path.basename(revision_dir) if revision_dir else None,
            'manifest': manifest_text is not None,
            'manifest_files': len([line for line in manifest_text.splitlines() if line.strip()])
            if manifest_text is not None else None,
            'signature': bool(revision_dir) and os.path.exists(os.path.join(revision_dir, signature_name)),
            'port': port,
            'health': health,
            'parallel': {
                'tensor': int_or_none(_option(args, '--tensor-parallel-size', '--tp-size')),
                'pipeline': int_or_none(_option(args, '--pipeline-parallel-size', '--pp-size')),
                'data': int_or_none(_option(args, '--data-parallel-size', '--dp-size')),
            },
            'max_model_len': int_or_none(_option(args, '--max-model-len', '--context-length')),
        })
    return units


def luks_state(module, devices):
    cryptsetup = module.get_bin_path('cryptsetup')
    volumes = []
    for device in devices:
        name = str(device.get('name') or '')
        path = str(device.get('device') or '')
        volume = {'name': name, 'device': path, 'luks': False, 'version': None, 'keyslots': [],
                  'open': bool(name) and os.path.exists('/dev/mapper/' + name), 'error': None}
        if not cryptsetup:
            volume['error'] = 'cryptsetup is not installed'
        elif not os.path.exists(path):
            volume['error'] = 'no such device'
        else:
            rc, out, err = module.run_command([cryptsetup, 'luksDump', path])
            if rc != 0:
                volume['error'] = (err or out).strip() or 'cryptsetup luksDump exited %d' % rc
            else:
                volume['luks'] = True
                match = re.search(r'^Version:\s+(\d+)', out, re.M)
                volume['version'] = int(match.group(1)) if match else None
                slots = [int(s) for s in re.findall(r'^\s+(\d+): luks2', out, re.M)]
                slots += [int(s) for s in re.findall(r'^Key Slot (\d+): ENABLED', out, re.M)]
                volume['keyslots'] = sorted(slots)
        volumes.append(volume)
    return volumes


def lynis(path):
    text = _read(path)
    if text is None:
        return None
    index = re.search(r'^hardening_index=(\d+)', text, re.M)
    date = re.search(r'^report_datetime_end=(.*)$', text, re.M)
    return {'hardening_index': int(index.group(1)) if index else None, 'date': date.group(1) if date else None}


def backups(patterns, now):
    repositories = []
    for path in sorted(set(p for pattern in patterns for p in glob.glob(pattern))):
        snapshots = os.path.join(path, 'snapshots')
        if not os.path.isdir(snapshots):
            continue
        times = [os.stat(os.path.join(snapshots, f)).st_mtime for f in os.listdir(snapshots)]
        last = max(times) if times else None
        repositories.append({'repository': os.path.basename(path), 'snapshots': len(times),
                             'last_snapshot': _iso(last) if last else None,
                             'age_s': round(now - last, 1) if last else None})
    return repositories


def certificate_files(patterns):
    found = []
    for path in sorted(set(p for pattern in patterns for p in glob.glob(pattern))):
        text = _read(path) or ''
        match = re.search(r'-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----', text, re.S)
        if not match:
            continue
        try:
            item = decode_certificate(match.group(0) + '\n')
        except (ssl.SSLError, ValueError, KeyError) as exc:
            item = {'subject': None, 'not_after': None, 'error': str(exc)}
        item['source'] = path
        found.append(item)
    return found


def ports_report(params):
    listeners = listening_sockets()
    registry, managed = read_registry(params['registry_path']) or (None, False)
    ports = []
    certificates = []
    listening_by_port = {}
    for address, port, proto in listeners:
        listening_by_port.setdefault((port, proto), []).append(address)
    registered = set()
    for entry in registry or []:
        port = entry['port']
        in_range = [(p, entry['proto']) for p in range(port, entry['port_end'] + 1)]
        registered.update(in_range)
        addresses = listening_by_port.get((port, entry['proto']), [])
        item = {'port': port, 'port_end': entry['port_end'], 'proto': entry['proto'], 'registered': True,
                'listening': any(key in listening_by_port for key in in_range), 'layer': entry['layer'],
                'comment': entry['comment'], 'sources': entry['sources'], 'tls': []}
        # A single port is probed for TLS; a range (a pool such as GlusterFS' brick ports) is not.
        if params['tls_probe'] and entry['proto'] == 'tcp' and addresses and entry['port_end'] == port:
            address = addresses[0]
            target = '127.0.0.1' if address in ('0.0.0.0', '::') else address
            item['tls'], pem = tls_versions(target, port, params['probe_timeout'])
            if pem:
                try:
                    cert = decode_certificate(pem)
                except (ssl.SSLError, ValueError, KeyError) as exc:
                    cert = {'subject': None, 'not_after': None, 'error': str(exc)}
                cert['source'] = 'port %d' % port
                certificates.append(cert)
        ports.append(item)
    unregistered = sorted('%s:%d/%s' % ('[%s]' % a if ':' in a else a, port, proto)
                          for a, port, proto in listeners
                          if not _loopback(a) and (port, proto) not in registered
                          and port not in params['ignore_ports'])
    return ports, unregistered, certificates, managed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type='list', elements='str', default=[]),
            python_distributions=dict(type='list', elements='str', default=['torch', 'transformers', 'vllm', 'sglang']),
            python_site_globs=dict(type='list', elements='str', default=[]),
            serving_units=dict(type='list', elements='path', default=['/etc/systemd/system/model-serving*.service']),
            manifest_name=dict(type='str', default='SHA256SUMS'),
            signature_name=dict(type='str', default='model.sig'),
            version_commands=dict(type='list', elements='dict', default=[]),
            registry_path=dict(type='path', default='/etc/onprem-deepseek/firewall-ports.json'),
            ignore_ports=dict(type='list', elements='int', default=[22]),
            tls_probe=dict(type='bool', default=True),
            probe_timeout=dict(type='float', default=1.5),
            certificate_paths=dict(type='list', elements='str', default=[]),
            luks_devices=dict(type='list', elements='dict', default=[]),
            lynis_report=dict(type='path', default='/var/log/lynis-report.dat'),
            backup_repository_globs=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    now = time.time()
    try:
        ports, unregistered, port_certificates, firewall_managed = ports_report(params)
    except (ValueError, OSError) as exc:
        module.fail_json(msg='cannot read the port registry %s: %s' % (params['registry_path'], exc))
    report = {
        'os': os_name(),
        'kernel': os.uname()[2],
        'packages': dict(package_versions(module, params['packages']),
                         **command_versions(module, params['version_commands'])),
        'python': python_versions(params['python_site_globs'], params['python_distributions']),
        'serving': serving_units(params['serving_units'], params['manifest_name'], params['signature_name'],
                                 params['probe_timeout']),
        'ports': ports,
        'firewall_managed': firewall_managed,
        'unregistered_listeners': unregistered,
        'certificates': port_certificates + certificate_files(params['certificate_paths']),
        'luks': luks_state(module, params['luks_devices']),
        'lynis': lynis(params['lynis_report']),
        'backups': backups(params['backup_repository_globs'], now),
    }
    module.exit_json(changed=False, report=report)


if __name__ == '__main__':
    main()
