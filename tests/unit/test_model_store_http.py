# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""model_serving's HTTP mirror path (roles/model_serving/tasks/store_http.yml), run as it is by ansible-playbook
against a mirror on loopback: a revision is staged file by file (sub-folders included, one line per file), and a
manifest that names a file outside the revision (a hostile or tampered mirror) is refused before anything is written.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ROLE = os.path.join(ROOT, 'roles', 'model_serving')
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {role}/defaults/main.yml
    - {role}/vars/main.yml
  tasks:
    - ansible.builtin.import_tasks: {role}/tasks/store_http.yml
"""


@pytest.fixture(scope='module')
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp('mirror')
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, 'http://127.0.0.1:%d/' % server.server_address[1]
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def publish(root, revision, files, names=None):
    """Writes files ({relpath: bytes}) under <root>/m/<revision>/ with a SHA256SUMS naming them (or `names`)."""
    folder = root / 'm' / revision
    lines = []
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
        lines.append('%s  %s' % (hashlib.sha256(data).hexdigest(), (names or {}).get(rel, rel)))
    (folder / 'SHA256SUMS').write_text('\n'.join(lines) + '\n')


def run(tmp_path, source, revision, *extra):
    if not os.path.exists(PLAYBOOK):
        pytest.skip('ansible-playbook is not installed beside %s' % sys.executable)
    play = tmp_path / 'play.yml'
    play.write_text(PLAY.format(role=ROLE))
    stage = tmp_path / 'store' / ('.staging-' + revision)
    cmd = [PLAYBOOK, '-i', 'localhost,', str(play), '-e', 'ansible_python_interpreter=' + sys.executable,
           '-e', 'model_serving_source=' + source, '-e', 'model_serving_model_name=m',
           '-e', 'model_serving_model_revision=' + revision, '-e', '__model_serving_stage=' + str(stage),
           '-e', '__model_serving_label=m/' + revision, '-e', '__model_serving_signature_checked=false'] + list(extra)
    env = dict(os.environ, ANSIBLE_NOCOLOR='1')
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc, stage


def test_revision_staged_file_by_file(mirror, tmp_path):
    root, url = mirror
    files = {'config.json': b'{}\n', 'model.safetensors': os.urandom(4096), 'tokenizer/vocab.txt': b'a\nb\n'}
    publish(root, 'good', files)
    proc, stage = run(tmp_path, url, 'good')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for rel, data in files.items():
        assert (stage / rel).read_bytes() == data
    # One line per file, numbered against the total.
    assert '(item=1/3 config.json)' in proc.stdout
    assert '(item=3/3 tokenizer/vocab.txt)' in proc.stdout
    again, dummy = run(tmp_path, url, 'good')
    assert again.returncode == 0 and 'changed=0' in again.stdout, again.stdout


@pytest.mark.parametrize('name', [
    '../../escaped',
    'sub/../../escaped',
    '..',
    '/tmp/escaped-absolute',
    'a\\..\\escaped',
    'tab\tname',
])
def test_manifest_naming_a_file_outside_the_revision_is_refused(mirror, tmp_path, name):
    root, url = mirror
    revision = 'bad%d' % (abs(hash(name)) % 100000)
    publish(root, revision, {'x.bin': b'payload'}, names={'x.bin': name})
    proc, stage = run(tmp_path, url, revision)
    assert proc.returncode != 0
    assert 'names files outside the revision' in proc.stdout, proc.stdout
    written = [os.path.join(d, f) for d, dummy, fs in os.walk(tmp_path) for f in fs]
    assert sorted(os.path.relpath(p, tmp_path) for p in written) == [
        'play.yml', os.path.join('store', '.staging-' + revision, 'SHA256SUMS')]
    assert not os.path.exists('/tmp/escaped-absolute')


def test_check_mode_changes_nothing(mirror, tmp_path):
    root, url = mirror
    publish(root, 'checked', {'a.bin': b'a'})
    proc, stage = run(tmp_path, url, 'checked', '--check')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not stage.exists()
    assert "changed=1" in proc.stdout, proc.stdout  # the staging folder it would create


def test_manifest_not_the_pinned_one_is_refused_before_any_download(mirror, tmp_path):
    root, url = mirror
    publish(root, 'pinned', {'a.bin': b'a', 'b.bin': b'b'})
    pin = hashlib.sha256((root / 'm' / 'pinned' / 'SHA256SUMS').read_bytes()).hexdigest()
    proc, stage = run(tmp_path, url, 'pinned', '-e', 'model_serving_manifest_sha256=' + pin.upper())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (stage / 'b.bin').read_bytes() == b'b'
    publish(root, 'repinned', {'a.bin': b'a', 'b.bin': b'tampered'})
    proc, stage = run(tmp_path, url, 'repinned', '-e', 'model_serving_manifest_sha256=' + pin)
    assert proc.returncode != 0
    assert 'not the pinned model_serving_manifest_sha256' in proc.stdout, proc.stdout
    assert sorted(os.listdir(stage)) == ['SHA256SUMS']
