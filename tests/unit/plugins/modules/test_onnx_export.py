# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of onprem.deepseek.onnx_export without torch, at the library boundary of _onnx_export.

``missing_libraries()``, ``library_versions()`` and ``export_and_validate()`` are replaced by a fake exporter whose
"ONNX file" is a deterministic function of the model files and the options, so a test can tell what an export used.
The molecule scenario python_env runs the module against the real torch, onnxscript and onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ansible_collections.onprem.deepseek.plugins.module_utils import _onnx_export
from ansible_collections.onprem.deepseek.plugins.module_utils._onnx_export import OnnxExportError
from ansible_collections.onprem.deepseek.plugins.modules import onnx_export

VERSIONS = {'torch': '2.13.0+cpu', 'transformers': '5.24.0', 'onnxscript': '0.7.2', 'onnx': '1.23.2'}
TOKENS = [57, 57, 187, 435, 57, 215, 215, 57]


class FakeExporter:
    """Stands in for export_and_validate(): writes the graph (and data) file and returns a validation result."""

    def __init__(self):
        self.calls = []
        self.mismatch = False
        self.fail = None
        self.logit_difference = 5.4e-07

    def __call__(self, model_dir, workdir, basename, options):
        self.calls.append({'model': model_dir, 'workdir': workdir, 'basename': basename, 'options': dict(options)})
        if self.fail:
            raise OnnxExportError(self.fail)
        with open(os.path.join(model_dir, 'model.safetensors'), 'rb') as handle:
            weights = handle.read()
        graph = json.dumps({'opset': options['opset'], 'dtype': options['dtype'],
                            'weights': hashlib.sha256(weights).hexdigest()}, sort_keys=True).encode('utf-8')
        with open(os.path.join(workdir, basename), 'wb') as handle:
            handle.write(graph)
        if options['external_data']:
            with open(os.path.join(workdir, basename + '.data'), 'wb') as handle:
                handle.write(weights * 2)
        result = {'prompt_ids': [0, 3, 46, 4], 'export_seconds': 1.5,
                  'versions': dict(VERSIONS, onnxruntime='1.32.0')}
        if options['validation_steps'] == 0:
            return result
        ort_tokens = list(TOKENS[:options['validation_steps']])
        if self.mismatch:
            ort_tokens[-1] += 1
        comparison = {'tokens': TOKENS[:options['validation_steps']], 'candidate_tokens': ort_tokens,
                      'max_logit_difference': self.logit_difference,
                      'first_mismatch': len(ort_tokens) - 1 if self.mismatch else None}
        result.update(tokens=comparison['tokens'], onnxruntime_tokens=ort_tokens,
                      max_logit_difference=comparison['max_logit_difference'], batch_check=True,
                      validation_seconds=0.5)
        failures = _onnx_export.validation_failures(comparison, options)
        if failures:
            raise OnnxExportError('; '.join(failures), **result)
        return result


@pytest.fixture
def model_dir(tmp_path):
    path = tmp_path / 'model'
    path.mkdir()
    (path / 'config.json').write_text('{"model_type": "deepseek_v3"}\n')
    (path / 'model.safetensors').write_bytes(b'weights-v1')
    (path / 'tokenizer.json').write_text('{}\n')
    (path / '.cache').mkdir()
    (path / '.cache' / 'lock').write_text('ignored')
    return path


@pytest.fixture
def fake(monkeypatch):
    exporter = FakeExporter()
    state = {'missing': [], 'versions': dict(VERSIONS)}
    monkeypatch.setattr(_onnx_export, 'export_and_validate', exporter)
    monkeypatch.setattr(_onnx_export, 'missing_libraries', lambda validate=True: [
        name for name in state['missing'] if validate or name != 'onnxruntime'])
    monkeypatch.setattr(_onnx_export, 'library_versions', lambda names=None: dict(state['versions']))
    exporter.state = state
    return exporter


@pytest.fixture
def run(call_main, tmp_path, model_dir):
    out = tmp_path / 'out'
    out.mkdir()
    base = {'model': str(model_dir), 'path': str(out / 'tiny.onnx')}

    def _run(check_mode=False, **args):
        return call_main(onnx_export.main, dict(base, **args), check_mode=check_mode)
    _run.out = out
    _run.path = out / 'tiny.onnx'
    return _run


def test_first_run_exports_and_records(run, fake):
    result = run()
    assert result['changed'] is True and result['exported'] is True
    assert result['reasons'] == ['fingerprint missing', 'onnx missing']
    assert result['tokens'] == TOKENS and result['onnxruntime_tokens'] == TOKENS
    assert result['max_logit_difference'] == pytest.approx(5.4e-07)
    assert result['sha256'] == hashlib.sha256(run.path.read_bytes()).hexdigest()
    assert result['external_data_path'] == str(run.out / 'tiny.onnx.data')
    assert result['total_bytes'] == run.path.stat().st_size + (run.out / 'tiny.onnx.data').stat().st_size
    assert result['export_seconds'] == 1.5
    sidecar = json.loads((run.out / 'tiny.onnx.fingerprint.json').read_text())
    assert sidecar['digest'] == result['fingerprint']['digest']
    assert sidecar['result']['tokens'] == TOKENS
    assert sorted(sidecar['model']) == ['config.json', 'model.safetensors', 'tokenizer.json']
    # the export ran in a temporary folder next to the file, which is gone
    assert os.path.dirname(fake.calls[0]['workdir']) == str(run.out)
    assert sorted(os.listdir(str(run.out))) == ['tiny.onnx', 'tiny.onnx.data', 'tiny.onnx.fingerprint.json']


def test_unchanged_inputs_do_not_export(run, fake):
    run()
    mtime = run.path.stat().st_mtime_ns
    result = run()
    assert result['changed'] is False and result['exported'] is False and result['reasons'] == []
    assert len(fake.calls) == 1
    assert run.path.stat().st_mtime_ns == mtime
    # the recorded validation is returned on an unchanged run
    assert result['tokens'] == TOKENS and 'export_seconds' not in result


@pytest.mark.parametrize('change, reasons', [
    ({'opset': 19}, ['options']),
    ({'dtype': 'bfloat16'}, ['options']),
    ({'validation_steps': 4}, ['options']),
    ({'dynamic_batch': False}, ['options']),
    ({'force': True}, ['force']),
])
def test_changed_options_export_again(run, fake, change, reasons):
    run()
    result = run(**change)
    assert result['changed'] is True and result['reasons'] == reasons
    assert len(fake.calls) == 2


def test_changed_model_file_exports_again(run, fake, model_dir):
    first = run()
    (model_dir / 'model.safetensors').write_bytes(b'weights-v2')
    result = run()
    assert result['reasons'] == ['model'] and result['changed'] is True
    assert result['sha256'] != first['sha256']


def test_hidden_files_of_the_model_folder_are_ignored(run, fake, model_dir):
    run()
    (model_dir / '.cache' / 'lock').write_text('changed')
    assert run()['changed'] is False


def test_new_library_version_exports_again(run, fake):
    run()
    fake.state['versions']['torch'] = '2.14.0+cpu'
    assert run()['reasons'] == ['versions']


@pytest.mark.parametrize('damage, reason', [
    (lambda out: (out / 'tiny.onnx').write_bytes(b'edited'), 'onnx changed'),
    (lambda out: (out / 'tiny.onnx').unlink(), 'onnx missing'),
    (lambda out: (out / 'tiny.onnx.data').unlink(), 'external data missing'),
    (lambda out: (out / 'tiny.onnx.data').write_bytes(b'x'), 'external data changed'),
    (lambda out: (out / 'tiny.onnx.fingerprint.json').write_text('not json'), 'fingerprint missing'),
])
def test_damaged_output_exports_again(run, fake, damage, reason):
    run()
    damage(run.out)
    result = run()
    assert reason in result['reasons'] and result['changed'] is True
    assert run()['changed'] is False


def test_check_mode_reports_without_exporting(run, fake):
    result = run(check_mode=True)
    assert result['changed'] is True and result['exported'] is False
    assert result['reasons'] == ['fingerprint missing', 'onnx missing']
    assert fake.calls == [] and os.listdir(str(run.out)) == []
    run()
    result = run(check_mode=True, opset=20)
    assert result['changed'] is True and result['reasons'] == ['options'] and len(fake.calls) == 1
    assert run(check_mode=True)['changed'] is False


def test_check_mode_reports_a_mode_change(run, fake):
    run(mode='0644')
    assert run(check_mode=True, mode='0600')['changed'] is True
    assert oct(run.path.stat().st_mode & 0o777) == oct(0o644)
    assert run(mode='0600')['changed'] is True
    assert oct((run.out / 'tiny.onnx.data').stat().st_mode & 0o777) == oct(0o600)


def test_token_mismatch_fails_and_keeps_the_previous_export(run, fake):
    run()
    before = run.path.read_bytes()
    fake.mismatch = True
    result = run(opset=19)
    assert result['failed'] is True
    assert 'onnxruntime chose other greedy tokens than PyTorch from step 7' in result['msg']
    assert result['onnxruntime_tokens'] != result['tokens']
    assert run.path.read_bytes() == before
    assert sorted(os.listdir(str(run.out))) == ['tiny.onnx', 'tiny.onnx.data', 'tiny.onnx.fingerprint.json']


def test_logit_difference_above_the_limit_fails(run, fake):
    fake.logit_difference = 0.01
    result = run(max_logit_difference=0.001)
    assert result['failed'] is True and 'above max_logit_difference' in result['msg']
    assert not run.path.exists()


def test_exporter_error_is_reported(run, fake):
    fake.fail = 'torch.onnx.export (dynamo) failed: Unsupported: data dependent control flow'
    result = run()
    assert result['failed'] is True and result['msg'] == fake.fail
    assert os.listdir(str(run.out)) == []


@pytest.mark.parametrize('missing, steps, named', [
    (['torch', 'transformers', 'onnxscript', 'onnx', 'onnxruntime'], 8, 'torch, transformers, onnxscript, onnx, onnxruntime'),
    (['onnxruntime'], 8, 'onnxruntime'),
])
def test_missing_libraries_fail_clearly(run, fake, missing, steps, named):
    fake.state['missing'] = missing
    result = run(validation_steps=steps)
    assert result['failed'] is True
    assert result['missing'] == missing
    assert named in result['msg'] and 'ansible_python_interpreter' in result['msg']
    assert fake.calls == []


def test_onnxruntime_is_not_needed_without_validation(run, fake):
    fake.state['missing'] = ['onnxruntime']
    result = run(validation_steps=0)
    assert result['changed'] is True and 'tokens' not in result


def test_external_data_off_writes_one_file_and_removes_the_old_data(run, fake):
    run()
    result = run(external_data=False)
    assert 'external_data_path' not in result
    assert sorted(os.listdir(str(run.out))) == ['tiny.onnx', 'tiny.onnx.fingerprint.json']
    assert run(external_data=False)['changed'] is False


def test_backup_keeps_the_replaced_files(run, fake):
    run()
    result = run(opset=19, backup=True)
    assert result['backup_file'].startswith(str(run.path) + '.')
    assert len([name for name in os.listdir(str(run.out)) if name.startswith('tiny.onnx.data.')]) == 1


@pytest.mark.parametrize('args, message', [
    ({'opset': 17}, 'opset must be 18 or higher'),
    ({'validation_steps': -1}, 'validation_steps must be 0 or more'),
    ({'dynamic_sequence': False}, 'validation_steps > 1 needs dynamic_sequence=true'),
    ({'max_logit_difference': -1.0}, 'max_logit_difference must not be negative'),
    ({'prompt': ''}, 'prompt must not be empty'),
])
def test_bad_options_fail_before_anything(run, fake, args, message):
    result = run(**args)
    assert result['failed'] is True and message in result['msg'] and fake.calls == []


def test_not_a_model_folder_fails(run, fake, tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    result = run(model=str(empty))
    assert result['failed'] is True and 'has no config.json' in result['msg']
    result = run(model=str(tmp_path / 'nowhere'))
    assert result['failed'] is True and 'does not exist' in result['msg']


def test_missing_output_folder_fails(run, fake, tmp_path):
    result = run(path=str(tmp_path / 'no' / 'tiny.onnx'))
    assert result['failed'] is True and 'does not exist' in result['msg']
