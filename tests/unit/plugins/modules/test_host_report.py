# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""host_report against real servers on loopback: TLS listeners limited to chosen versions, a plain TCP port, a
model server's /health, and /proc/net tables, unit files, manifests and repositories written for the test."""

from __future__ import annotations

import datetime
import http.server
import json
import os
import socket
import ssl
import threading

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.onprem.deepseek.plugins.modules import host_report

NOT_AFTER = datetime.datetime(2031, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)


@pytest.fixture(name='cert', scope='module')
def cert_fixture(tmp_path_factory):
    folder = tmp_path_factory.mktemp('tls')
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'report.test')])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(7).not_valid_before(datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
                   .not_valid_after(NOT_AFTER).sign(key, hashes.SHA256()))
    (folder / 'server.crt').write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / 'server.key').write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return folder


def serve(handler):
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(8)
    stop = threading.Event()

    def loop():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, dummy = server.accept()
            except socket.timeout:
                continue
            threading.Thread(target=handler, args=(conn,), daemon=True).start()
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return server.getsockname()[1], lambda: (stop.set(), thread.join(), server.close())


def tls_handler(cert, minimum, maximum):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert / 'server.crt'), str(cert / 'server.key'))
    context.minimum_version = minimum
    context.maximum_version = maximum
    if minimum < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers('ALL:@SECLEVEL=0')  # what a server still offering TLS 1.1 is configured with

    def handle(conn):
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            conn.close()
    return handle


@pytest.mark.parametrize('minimum, maximum, expected', [
    (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3, ['TLSv1.3']),
    (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3, ['TLSv1.3', 'TLSv1.2']),
    (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, ['TLSv1.2']),
    (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2, ['TLSv1.2', 'TLSv1.1']),
])
@pytest.mark.filterwarnings('ignore::DeprecationWarning')
def test_tls_versions_and_certificate(cert, minimum, maximum, expected):
    port, stop = serve(tls_handler(cert, minimum, maximum))
    try:
        accepted, pem = host_report.tls_versions('127.0.0.1', port, 2.0)
    finally:
        stop()
    assert accepted == expected
    decoded = host_report.decode_certificate(pem)
    assert decoded['not_after'] == '2031-03-04T05:06:07Z'
    assert decoded['subject'] == 'commonName=report.test'


def test_a_plain_port_is_not_tls():
    def handle(conn):
        conn.recv(512)
        conn.sendall(b'HTTP/1.1 400 Bad Request\r\n\r\n')
        conn.close()
    port, stop = serve(handle)
    try:
        assert host_report.tls_versions('127.0.0.1', port, 2.0) == ([], None)
    finally:
        stop()


def test_listening_sockets_from_proc(tmp_path):
    header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'
    (tmp_path / 'tcp').write_text(header +
                                  '   0: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n'
                                  '   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 2\n'
                                  '   2: 0B02000A:A1B2 0C02000A:01BB 01 00000000:00000000 00:00000000 00000000 0 0 3\n')
    (tmp_path / 'tcp6').write_text(header + '   0: 00000000000000000000000000000000:238C '
                                   '00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 0 4\n')
    (tmp_path / 'udp').write_text(header +
                                  '   0: 00000000:0143 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 5\n'
                                  '   1: 0B02000A:D000 0C02000A:0035 01 00000000:00000000 00:00000000 00000000 0 0 6\n')
    assert host_report.listening_sockets(str(tmp_path)) == [
        ('0.0.0.0', 323, 'udp'), ('0.0.0.0', 443, 'tcp'), ('127.0.0.1', 8080, 'tcp'), ('::', 9100, 'tcp')]


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == '/health' else 404)
        self.end_headers()

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


def test_serving_unit_revision_manifest_and_health(tmp_path):
    revision = tmp_path / 'models' / 'tiny' / 'abc123'
    revision.mkdir(parents=True)
    (revision / 'SHA256SUMS').write_text('0' * 64 + '  config.json\n' + '1' * 64 + '  model.safetensors\n')
    (tmp_path / 'models' / 'tiny' / 'current').symlink_to('abc123')
    site = tmp_path / 'venv' / 'lib' / 'python3.11' / 'site-packages'
    (site / 'vllm-0.11.0+cpu.dist-info').mkdir(parents=True)
    server = http.server.HTTPServer(('127.0.0.1', 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    unit = tmp_path / 'model-serving.service'
    unit.write_text('[Service]\nExecStart=%s/venv/bin/python -m vllm.entrypoints.openai.api_server --model %s '
                    '--served-model-name tiny --host 0.0.0.0 --port %d --tensor-parallel-size 2 '
                    '--pipeline-parallel-size 1 --max-model-len 61312 --api-key ${VLLM_API_KEY}\n'
                    % (tmp_path, tmp_path / 'models' / 'tiny' / 'current', port))
    try:
        units = host_report.serving_units([str(unit)], 'SHA256SUMS', 'model.sig', 2.0)
    finally:
        server.shutdown()
        server.server_close()
    assert units == [{
        'unit': 'model-serving.service', 'engine': 'vllm', 'engine_version': '0.11.0+cpu', 'model': 'tiny',
        'revision': 'abc123', 'manifest': True, 'manifest_files': 2, 'signature': False, 'port': port,
        'health': {'ok': True, 'status': 200, 'error': None},
        'parallel': {'tensor': 2, 'pipeline': 1, 'data': None}, 'max_model_len': 61312}]
    # The server stopped: the same unit is now unhealthy, with the reason.
    stopped = host_report.serving_units([str(unit)], 'SHA256SUMS', 'model.sig', 2.0)[0]['health']
    assert stopped['ok'] is False and 'refused' in stopped['error'].lower()


def test_module_reads_registry_certificates_backups(tmp_path, cert, call_main, monkeypatch):
    registry = tmp_path / 'firewall-ports.json'
    registry.write_text(json.dumps({'layers': {'gateway': [{'port': 443, 'proto': 'tcp', 'comment': 'Gateway',
                                                            'sources': ['10.0.0.0/8']}],
                                               'monitoring': [{'port': 9100, 'proto': 'tcp',
                                                               'sources': ['10.0.1.5/32']}]},
                                    'managed': True}))
    monkeypatch.setattr(host_report, 'listening_sockets',
                        lambda proc='/proc/net': [('0.0.0.0', 9100, 'tcp'), ('0.0.0.0', 2049, 'tcp'),
                                                  ('127.0.0.1', 8000, 'tcp'), ('0.0.0.0', 22, 'tcp')])
    repo = tmp_path / 'restic' / 'infer-l-01'
    (repo / 'snapshots').mkdir(parents=True)
    (repo / 'snapshots' / 'a1').write_text('x')
    os.utime(repo / 'snapshots' / 'a1', (1, 1))
    (repo / 'snapshots' / 'b2').write_text('x')
    result = call_main(host_report.main, {
        'registry_path': str(registry), 'tls_probe': False, 'serving_units': [str(tmp_path / 'none*.service')],
        'certificate_paths': [str(cert / '*.crt'), str(cert / '*.key')], 'lynis_report': str(tmp_path / 'no-lynis'),
        'backup_repository_globs': [str(tmp_path / 'restic' / '*')],
        'luks_devices': [{'name': 'models', 'device': str(tmp_path / 'no-such-device')}]}, check_mode=True)
    report = result['report']
    assert result['changed'] is False
    assert [(p['port'], p['registered'], p['listening'], p['layer']) for p in report['ports']] == [
        (443, True, False, 'gateway'), (9100, True, True, 'monitoring')]
    assert report['unregistered_listeners'] == ['0.0.0.0:2049/tcp']  # loopback and SSH are left out
    assert report['firewall_managed'] is True
    assert report['certificates'] == [{'source': str(cert / 'server.crt'), 'subject': 'commonName=report.test',
                                       'not_after': '2031-03-04T05:06:07Z'}]
    assert report['backups'][0]['repository'] == 'infer-l-01' and report['backups'][0]['snapshots'] == 2
    assert report['backups'][0]['age_s'] < 60
    assert report['lynis'] is None
    assert report['luks'][0]['luks'] is False and report['luks'][0]['error']
    assert report['serving'] == []


def test_a_broken_registry_fails_naming_the_file(tmp_path, call_main):
    registry = tmp_path / 'firewall-ports.json'
    registry.write_text('{not json')
    result = call_main(host_report.main, {'registry_path': str(registry), 'tls_probe': False})
    assert result['failed'] and str(registry) in result['msg']
