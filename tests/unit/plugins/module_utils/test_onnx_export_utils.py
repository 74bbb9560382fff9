# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of plugins/module_utils/_onnx_export.py that need neither torch nor onnxruntime."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from ansible_collections.onprem.deepseek.plugins.module_utils import _onnx_export
from ansible_collections.onprem.deepseek.plugins.module_utils._onnx_export import OnnxExportError

OPTIONS = {'opset': 18, 'dtype': 'float32', 'dynamic_batch': True, 'dynamic_sequence': True, 'external_data': True,
           'experts_implementation': 'batched_mm', 'attn_implementation': None, 'trust_remote_code': False,
           'prompt': 'Hello', 'chat_template': True, 'validation_steps': 8, 'max_logit_difference': None}


def table_engine(table):
    """An 'engine' whose last-position logits depend only on the last token: table[last] (a list of floats)."""
    calls = []

    def engine(ids):
        calls.append(list(ids))
        return table[ids[-1]]
    engine.calls = calls
    return engine


@pytest.mark.parametrize('values, expected', [
    ([0.1, 0.9, 0.3], 1),
    ([5.0, 5.0, 1.0], 0),  # first of equal maxima, like torch.argmax
    ([-3.0, -1.0, -2.0], 1),
    ([7.0], 0),
])
def test_argmax(values, expected):
    assert _onnx_export.argmax(values) == expected


def test_greedy_compare_equal_engines():
    table = {0: [0.0, 1.0, 0.5], 1: [0.0, 0.2, 0.9], 2: [0.8, 0.1, 0.0]}
    noisy = dict((k, [v + 1e-6 for v in row]) for k, row in table.items())
    ref, cand = table_engine(table), table_engine(noisy)
    result = _onnx_export.greedy_compare(ref, cand, [0], 4)
    assert result['tokens'] == [1, 2, 0, 1] == result['candidate_tokens']
    assert result['first_mismatch'] is None
    assert result['max_logit_difference'] == pytest.approx(1e-6)
    # each step re-runs the whole prefix
    assert ref.calls == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 0]]


def test_greedy_compare_reports_the_first_mismatch_and_decodes_independently():
    table = {0: [0.0, 1.0, 0.5], 1: [0.0, 0.2, 0.9], 2: [0.8, 0.1, 0.0]}
    other = dict(table)
    other[1] = [0.0, 0.95, 0.9]  # after token 1 the candidate picks 1 instead of 2
    cand = table_engine(other)
    result = _onnx_export.greedy_compare(table_engine(table), cand, [0], 3)
    assert result['tokens'] == [1, 2, 0]
    assert result['candidate_tokens'] == [1, 1, 1]
    assert result['first_mismatch'] == 1
    # the difference is measured up to and including the first diverging step only
    assert result['max_logit_difference'] == pytest.approx(0.75)
    assert cand.calls[-1] == [0, 1, 1]
    failures = _onnx_export.validation_failures(result, OPTIONS)
    assert failures == ['onnxruntime chose other greedy tokens than PyTorch from step 1: PyTorch [1, 2, 0], '
                        'onnxruntime [1, 1, 1]']


def test_greedy_compare_vocabulary_mismatch():
    with pytest.raises(OnnxExportError, match='PyTorch returns 3 logits, onnxruntime 2'):
        _onnx_export.greedy_compare(lambda ids: [0.0, 1.0, 2.0], lambda ids: [0.0, 1.0], [1], 1)


def test_validation_failures_tolerance():
    comparison = {'tokens': [1], 'candidate_tokens': [1], 'max_logit_difference': 0.01, 'first_mismatch': None}
    assert _onnx_export.validation_failures(comparison, OPTIONS) == []
    failures = _onnx_export.validation_failures(comparison, dict(OPTIONS, max_logit_difference=0.001))
    assert failures == ['largest logit difference 0.01 is above max_logit_difference 0.001']


def test_fingerprint_digest_and_differences():
    first = _onnx_export.fingerprint({'a': '1'}, dict(OPTIONS), {'torch': '2.13.0'})
    again = _onnx_export.fingerprint({'a': '1'}, dict(OPTIONS), {'torch': '2.13.0'})
    assert first == again and len(first['digest']) == 64
    changed = _onnx_export.fingerprint({'a': '2'}, dict(OPTIONS, opset=19), {'torch': '2.13.0'})
    assert changed['digest'] != first['digest']
    assert _onnx_export.fingerprint_differences(first, changed) == ['model', 'options']
    # the recorded result does not count
    assert _onnx_export.fingerprint_differences(dict(first, result={'tokens': [1]}), first) == []
    assert _onnx_export.fingerprint_differences(None, first) == ['fingerprint']


def test_model_files_skip_hidden(tmp_path):
    (tmp_path / 'config.json').write_text('{}')
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'w.bin').write_bytes(b'w')
    (tmp_path / '.cache').mkdir()
    (tmp_path / '.cache' / 'x').write_text('x')
    (tmp_path / '.hidden').write_text('x')
    assert _onnx_export.model_files(str(tmp_path)) == ['config.json', 'sub/w.bin']
    digests = _onnx_export.model_digests(str(tmp_path))
    assert digests['sub/w.bin'] == _onnx_export.sha256_file(str(tmp_path / 'sub' / 'w.bin'))


def test_output_differences(tmp_path):
    graph = tmp_path / 'm.onnx'
    graph.write_bytes(b'graph')
    (tmp_path / 'm.onnx.data').write_bytes(b'data')
    sidecar = {'result': {'sha256': _onnx_export.sha256_file(str(graph)), 'external_data': 'm.onnx.data',
                          'external_data_sha256': _onnx_export.sha256_file(str(tmp_path / 'm.onnx.data'))}}
    assert _onnx_export.output_differences(sidecar, str(graph)) == []
    assert _onnx_export.output_differences({}, str(graph)) == ['result missing']
    (tmp_path / 'm.onnx.data').write_bytes(b'other')
    assert _onnx_export.output_differences(sidecar, str(graph)) == ['external data changed']
    graph.unlink()
    assert _onnx_export.output_differences(sidecar, str(graph)) == ['onnx missing']


def test_missing_libraries(monkeypatch):
    present = {'torch', 'transformers', 'onnx'}

    def find_spec(name):
        return object() if name in present else None
    monkeypatch.setattr(importlib.util, 'find_spec', find_spec)
    assert _onnx_export.missing_libraries(validate=True) == ['onnxscript', 'onnxruntime']
    assert _onnx_export.missing_libraries(validate=False) == ['onnxscript']


def test_library_versions_of_a_missing_distribution():
    versions = _onnx_export.library_versions(('pytest', 'no-such-distribution-onprem'))
    assert versions['pytest'] and versions['no-such-distribution-onprem'] is None


def test_check_options_accepts_the_defaults():
    assert _onnx_export.check_options(OPTIONS) == []
    assert _onnx_export.check_options(dict(OPTIONS, dynamic_sequence=False, validation_steps=1)) == []


def test_stdout_goes_to_stderr_while_libraries_run(capfd):
    with _onnx_export.stdout_to_stderr():
        os.write(1, b'from a C library\n')
        print('from python')
    print('after')
    out, err = capfd.readouterr()
    assert out == 'after\n'
    assert 'from a C library' in err and 'from python' in err


def test_builtin_sys_intern_restores_ansible_patch(monkeypatch):
    # Importing ansible.module_utils may already have patched it.
    original = getattr(sys.intern, 'unpatched_implementation', sys.intern)
    monkeypatch.setattr(sys, 'intern', original)

    class Patched(object):
        unpatched_implementation = original

        def __call__(self, value):
            return original(str(value))
    patched = Patched()
    monkeypatch.setattr(sys, 'intern', patched)
    with _onnx_export.builtin_sys_intern():
        assert sys.intern is original
    assert sys.intern is patched
    monkeypatch.setattr(sys, 'intern', original)
    with _onnx_export.builtin_sys_intern():
        assert sys.intern is original
