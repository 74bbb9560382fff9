# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""model_manifest on real directories under tmp_path (no fake: the file system is the component)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import shutil

import pytest


from ansible_collections.onprem.deepseek.plugins.module_utils import _model_store as store
from ansible_collections.onprem.deepseek.plugins.modules import model_manifest


@pytest.fixture
def run(call_main):
    def _run(**args):
        return call_main(model_manifest.main, args)
    return _run


@pytest.fixture
def model(tmp_path):
    root = tmp_path / 'deepseek-v3-tiny' / 'r1'
    (root / 'sub').mkdir(parents=True)
    (root / 'config.json').write_text('{"model_type": "deepseek_v3"}\n')
    (root / 'model.safetensors').write_bytes(bytes(range(256)) * 5000)
    (root / 'sub' / 'tokenizer.json').write_text('{"model": {}}\n')
    return root


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_present_creates_a_sha256sum_manifest(run, model):
    result = run(path=str(model))
    assert result['changed'] is True and result['files'] == 3
    manifest = model / 'SHA256SUMS'
    assert result['manifest'] == str(manifest)
    assert manifest.read_text() == ''.join('%s  %s\n' % (sha(model / rel), rel)
                                           for rel in ('config.json', 'model.safetensors', 'sub/tokenizer.json'))
    assert result['total_bytes'] == sum(os.path.getsize(model / rel)
                                        for rel in ('config.json', 'model.safetensors', 'sub/tokenizer.json'))
    assert result['manifest_sha256'] == sha(manifest)
    if shutil.which('sha256sum'):
        subprocess.run(['sha256sum', '--check', '--quiet', 'SHA256SUMS'], cwd=str(model), check=True)


def test_present_is_idempotent(run, model):
    run(path=str(model))
    again = run(path=str(model))
    assert again['changed'] is False


def test_present_check_mode_reports_without_writing(run, model):
    result = run(path=str(model), _ansible_check_mode=True)
    assert result['changed'] is True
    assert not (model / 'SHA256SUMS').exists()


def test_present_updates_after_a_change(run, model):
    first = run(path=str(model))
    (model / 'config.json').write_text('{"model_type": "deepseek_v3", "x": 1}\n')
    second = run(path=str(model))
    assert second['changed'] is True and second['manifest_sha256'] != first['manifest_sha256']


def test_present_mode_applies_to_the_manifest(run, model):
    run(path=str(model), mode='0600')
    assert (os.stat(str(model / 'SHA256SUMS')).st_mode & 0o777) == 0o600
    assert run(path=str(model), mode='0600')['changed'] is False


def test_verified_passes_and_never_changes(run, model):
    run(path=str(model))
    result = run(path=str(model), state='verified')
    assert result.get('failed') is None
    assert result['changed'] is False and result['ok'] is True
    assert result['missing'] == [] and result['mismatched'] == [] and result['extra'] == []


@pytest.mark.parametrize('damage, key, rel', [
    ('corrupt', 'mismatched', 'model.safetensors'),
    ('remove', 'missing', 'sub/tokenizer.json'),
    ('add', 'extra', 'stray.bin'),
])
def test_verified_fails_on_damage(run, model, damage, key, rel):
    run(path=str(model))
    target = model / rel
    if damage == 'corrupt':
        data = bytearray(target.read_bytes())
        data[1000] ^= 0xFF  # one flipped byte, same size
        target.write_bytes(bytes(data))
    elif damage == 'remove':
        target.unlink()
    else:
        target.write_bytes(b'x')
    result = run(path=str(model), state='verified')
    assert result['failed'] is True and result['ok'] is False and result['changed'] is False
    assert result[key] == [rel]
    assert rel in result['msg']


def test_verified_allow_extra_and_exclude(run, model):
    run(path=str(model))
    (model / 'stray.bin').write_bytes(b'x')
    assert run(path=str(model), state='verified', allow_extra=True)['ok'] is True
    assert run(path=str(model), state='verified', exclude=['*.bin'])['ok'] is True


def test_verified_against_a_manifest_elsewhere(run, model, tmp_path):
    outside = tmp_path / 'manifests' / 'r1.sha256'
    outside.parent.mkdir()
    result = run(path=str(model), manifest=str(outside))
    assert result['changed'] is True and not (model / 'SHA256SUMS').exists()
    assert run(path=str(model), manifest=str(outside), state='verified')['ok'] is True


def test_verified_without_manifest_fails(run, model):
    result = run(path=str(model), state='verified')
    assert result['failed'] is True and 'does not exist' in result['msg']


def test_missing_directory_fails(run, tmp_path):
    result = run(path=str(tmp_path / 'nope'))
    assert result['failed'] is True and 'is not a directory' in result['msg']


def test_empty_directory_fails(run, tmp_path):
    result = run(path=str(tmp_path))
    assert result['failed'] is True and 'holds no file' in result['msg']


@pytest.mark.parametrize('text, error', [
    ('not a manifest\n', 'is not'),
    ('%s  ../etc/passwd\n' % ('0' * 64), 'not relative'),
    ('%s  /etc/passwd\n' % ('0' * 64), 'not relative'),
    ('%s  a\n%s  a\n' % ('0' * 64, '1' * 64), 'listed twice'),
    ('# only a comment\n', 'no file'),
])
def test_parse_manifest_rejects(text, error):
    with pytest.raises(store.ManifestError, match=error):
        store.parse_manifest(text)


def test_parse_manifest_accepts_binary_marker_and_dot_slash():
    digest = 'a' * 64
    assert store.parse_manifest('%s *./x/y.bin\n' % digest) == [('x/y.bin', digest)]


def test_bad_manifest_fails_the_module(run, model):
    (model / 'SHA256SUMS').write_text('garbage\n')
    result = run(path=str(model), state='verified')
    assert result['failed'] is True and 'line 1' in result['msg']


def test_symlinked_file_is_hashed_by_content(run, model, tmp_path):
    blob = tmp_path / 'blob'
    blob.write_bytes(b'weights')
    os.symlink(str(blob), str(model / 'linked.bin'))
    run(path=str(model))
    assert '%s  linked.bin\n' % hashlib.sha256(b'weights').hexdigest() in (model / 'SHA256SUMS').read_text()


def test_build_manifest_reports_progress(model):
    seen = []
    store.build_manifest(str(model), progress=lambda done, total, rel: seen.append((done, total, rel)))
    assert seen[-1] == (3, 3, 'sub/tokenizer.json')
