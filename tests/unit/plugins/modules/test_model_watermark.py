# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""model_watermark on real safetensors files written here (numpy; no fake: the files are the component).

The checkpoints hold random normal weights (std 0.02, like an initialised transformer) in BF16, F16 and F32 tensors
of two dimensions, plus the tensors the mark leaves alone: 1-D norms, an integer tensor, a small matrix. The
statistical assertions have margins of several standard deviations and fixed seeds.
"""

from __future__ import annotations

import json
import math
import os
import struct

import numpy as np
import pytest

from ansible_collections.onprem.deepseek.plugins.module_utils import _model_watermark as wm
from ansible_collections.onprem.deepseek.plugins.modules import model_watermark

KEY = 'site-watermark-key-0123456789abcdef'
OTHER_KEY = 'another-site-key-fedcba9876543210'


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> (dtype, numpy array of float32 values or raw ints); written as safetensors does."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        dtype, values = tensors[name]
        if dtype == 'BF16':
            raw = wm.f32_to_bf16(np.asarray(values, dtype=np.float32)).astype('<u2').tobytes()
        elif dtype == 'I64':
            raw = np.asarray(values, dtype='<i8').tobytes()
        else:
            raw = np.asarray(values, dtype=wm.FLOAT_DTYPES[dtype][0]).tobytes()
        header[name] = {'dtype': dtype, 'shape': list(np.shape(values)), 'data_offsets': [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header['__metadata__'] = metadata
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as handle:
        handle.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def read_tensor(path, name):
    header, dummy, base = wm.read_header(path)
    with open(path, 'rb') as handle:
        data = handle.read()
    info = header[name]
    if info['dtype'] not in wm.FLOAT_DTYPES:
        begin, end = info['data_offsets']
        return data[base + begin:base + end]
    return np.array(wm._load(data, base, info), dtype=np.float32).reshape(info['shape'])


def checkpoint(path, seed=1):
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return rng.normal(0.0, 0.02, size=shape).astype(np.float32)

    write_safetensors(str(path), {
        'model.embed_tokens.weight': ('BF16', normal(256, 128)),
        'model.layers.0.self_attn.q_proj.weight': ('BF16', normal(256, 128)),
        'model.layers.0.mlp.down_proj.weight': ('F16', normal(128, 256)),
        'lm_head.weight': ('F32', normal(256, 128)),
        'model.layers.0.input_layernorm.weight': ('BF16', np.ones(128, dtype=np.float32)),
        'model.layers.0.mlp.gate.weight': ('BF16', normal(4, 128)),  # 512 weights: below MIN_WEIGHTS
        'model.position_ids': ('I64', np.arange(2048).reshape(1, 2048)),
    }, metadata={'format': 'pt'})
    return path


@pytest.fixture
def model(tmp_path):
    folder = tmp_path / 'r1'
    folder.mkdir()
    checkpoint(folder / 'model.safetensors')
    (folder / 'config.json').write_text('{}\n')
    return folder


@pytest.fixture
def run(call_main):
    def _run(check_mode=False, **args):
        args.setdefault('key', KEY)
        return call_main(model_watermark.main, args, check_mode=check_mode)
    return _run


# --- The conversions and the statistic ------------------------------------------------------

@pytest.mark.parametrize('value, bits', [
    (1.0, 0x3F80), (-2.0, 0xC000), (0.0, 0x0000),
    (1.0 + 2 ** -8, 0x3F80),  # a tie: rounds to the even mantissa
    (1.0 + 3 * 2 ** -8, 0x3F82),  # a tie: rounds up to the even mantissa
    (1.0 + 2 ** -8 + 2 ** -12, 0x3F81),  # above the tie: up
])
def test_bf16_rounding_is_round_to_nearest_even(value, bits):
    assert int(wm.f32_to_bf16(np.array([value], dtype=np.float32))[0]) == bits
    assert float(wm.bf16_to_f32(np.array([bits], dtype=np.uint16))[0]) == pytest.approx(value, rel=2 ** -8)


def test_pattern_depends_on_key_name_and_position_only():
    first = wm.pattern(KEY, 'a.weight', 1000)
    assert set(np.unique(first)) == {-1.0, 1.0}
    assert np.array_equal(first, wm.pattern(KEY, 'a.weight', 1000))
    assert np.array_equal(first[100:300], wm.pattern(KEY, 'a.weight', 200, start=100))
    assert not np.array_equal(first, wm.pattern(OTHER_KEY, 'a.weight', 1000))
    assert not np.array_equal(first, wm.pattern(KEY, 'b.weight', 1000))
    assert abs(float(first.mean())) < 0.1
    with pytest.raises(wm.WatermarkError):
        wm.pattern(KEY, 'a.weight', 10, start=wm.BLOCK - 5)


def test_p_value_of_the_normal_statistic():
    assert wm.p_value(0.0) == pytest.approx(0.5)
    assert wm.p_value(5.0) == pytest.approx(2.8665e-7, rel=1e-3)


def test_unmarked_scores_are_standard_normal():
    """200 keys against one unmarked set of weights: mean about 0, deviation about 1, no detection."""
    rng = np.random.default_rng(7)
    arrays = {'w.%d' % i: rng.normal(0, 0.02, size=(64, 64)).astype(np.float32) for i in range(8)}
    scores = [wm.detect_arrays(arrays, 'key-%04d-padding-padding' % i)['z_score'] for i in range(200)]
    assert abs(np.mean(scores)) < 0.3
    assert 0.75 < np.std(scores) < 1.25
    assert max(scores) < wm.DEFAULT_THRESHOLD


def test_detection_over_files_equals_detection_over_arrays(model):
    path = str(model / 'model.safetensors')
    header, dummy, dummy2 = wm.read_header(path)
    arrays = dict((name, read_tensor(path, name)) for name, info in header.items() if info['dtype'] in wm.FLOAT_DTYPES)
    from_files = wm.detect_files([path], KEY)
    assert wm.detect_arrays(arrays, KEY)['z_score'] == pytest.approx(from_files['z_score'], abs=1e-3)
    assert from_files['tensors'] == 4 and from_files['skipped_tensors'] == 3


# --- The module ------------------------------------------------------------------------------

def test_embeds_the_mark_and_detects_it(run, model):
    path = model / 'model.safetensors'
    header_before = path.read_bytes()[:8 + struct.unpack('<Q', path.read_bytes()[:8])[0]]
    before = run(path=str(model), state='detected')
    assert before['changed'] is False and before['marked'] is False and abs(before['z_score']) < 4
    result = run(path=str(model), state='present', strength=0.05)
    assert result['changed'] is True and result['marked'] is True
    weights = 3 * 256 * 128 + 128 * 256
    assert result['weights'] == weights and result['tensors'] == 4
    assert result['z_score'] > 0.8 * 0.05 * math.sqrt(weights)
    assert result['p_value'] < 1e-20
    assert path.read_bytes()[:len(header_before)] == header_before  # same header: dtypes, shapes, offsets
    after = run(path=str(model), state='detected')
    assert after['marked'] is True and after['z_score'] == pytest.approx(result['z_score'], abs=1e-3)
    assert run(path=str(model), state='detected', key=OTHER_KEY)['marked'] is False


def test_the_mark_is_small_and_leaves_other_tensors_alone(run, model, tmp_path):
    original = tmp_path / 'original.safetensors'
    original.write_bytes((model / 'model.safetensors').read_bytes())
    run(path=str(model), state='present', strength=0.05)
    marked = str(model / 'model.safetensors')
    for name in ('model.layers.0.input_layernorm.weight', 'model.layers.0.mlp.gate.weight', 'model.position_ids'):
        assert np.array_equal(read_tensor(str(original), name), read_tensor(marked, name)), name
    for name in ('model.embed_tokens.weight', 'lm_head.weight', 'model.layers.0.mlp.down_proj.weight'):
        old, new = read_tensor(str(original), name), read_tensor(marked, name)
        rms = float(np.sqrt(np.mean(old.astype(np.float64) ** 2)))
        change = float(np.sqrt(np.mean((new - old).astype(np.float64) ** 2)))
        assert 0.03 * rms < change < 0.08 * rms, name  # the strength (0.05), plus rounding


def test_embedding_is_idempotent(run, model):
    run(path=str(model), state='present', strength=0.05)
    content = (model / 'model.safetensors').read_bytes()
    again = run(path=str(model), state='present', strength=0.05)
    assert again['changed'] is False and again['marked'] is True
    assert (model / 'model.safetensors').read_bytes() == content


def test_check_mode_writes_nothing(run, model):
    content = (model / 'model.safetensors').read_bytes()
    result = run(path=str(model), state='present', strength=0.05, check_mode=True)
    assert result['changed'] is True and result['marked'] is False
    assert (model / 'model.safetensors').read_bytes() == content


def test_excluded_tensors_stay_unmarked(run, model, tmp_path):
    original = tmp_path / 'original.safetensors'
    original.write_bytes((model / 'model.safetensors').read_bytes())
    result = run(path=str(model), state='present', strength=0.05, exclude=['lm_head.*'])
    assert result['tensors'] == 3
    assert np.array_equal(read_tensor(str(original), 'lm_head.weight'),
                          read_tensor(str(model / 'model.safetensors'), 'lm_head.weight'))


def test_a_mark_too_weak_for_the_model_is_refused_before_writing(run, model):
    content = (model / 'model.safetensors').read_bytes()
    result = run(path=str(model), state='present', strength=0.001)
    assert result['failed'] is True and 'below the threshold' in result['msg']
    assert (model / 'model.safetensors').read_bytes() == content
    assert [name for name in os.listdir(str(model)) if name.endswith('.tmp')] == []


@pytest.mark.parametrize('label, transform', [
    ('fp16 cast', lambda values: values.astype(np.float16).astype(np.float32)),
    ('8-bit round trip', lambda values: np.round(values / (np.abs(values).max(axis=1, keepdims=True) / 127.0))
     * (np.abs(values).max(axis=1, keepdims=True) / 127.0)),
    ('noise of a fine-tune', lambda values: values + np.random.default_rng(3).normal(0, 0.004, values.shape)),
])
def test_the_mark_survives(run, model, tmp_path, label, transform):
    run(path=str(model), state='present', strength=0.05)
    marked = str(model / 'model.safetensors')
    header, dummy, dummy2 = wm.read_header(marked)
    changed = {}
    for name, info in header.items():
        if info['dtype'] in wm.FLOAT_DTYPES:
            values = read_tensor(marked, name)
            changed[name] = ('F16', (transform(values) if values.ndim == 2 else values).astype(np.float32))
    folder = tmp_path / 'changed'
    folder.mkdir()
    write_safetensors(str(folder / 'model.safetensors'), changed)
    result = run(path=str(folder), state='detected')
    assert result['marked'] is True, label


def test_the_key_is_not_in_the_result(run, model):
    result = run(path=str(model), state='present', strength=0.05)
    assert KEY not in json.dumps(result)


@pytest.mark.parametrize('args, message', [
    ({'key': 'short'}, 'at least 16'),
    ({'strength': 0.5}, 'strength'),
])
def test_bad_arguments(run, model, args, message):
    result = run(path=str(model), **args)
    assert result['failed'] is True and message in result['msg']


def test_a_file_that_is_not_safetensors(run, tmp_path):
    folder = tmp_path / 'bad'
    folder.mkdir()
    (folder / 'model.safetensors').write_bytes(struct.pack('<Q', 5) + b'{"a":')
    result = run(path=str(folder))
    assert result['failed'] is True and 'not a safetensors file' in result['msg']


def test_a_folder_without_weights(run, tmp_path):
    result = run(path=str(tmp_path))
    assert result['failed'] is True and 'no file matching' in result['msg']


def test_sharded_checkpoints_are_marked_together(run, tmp_path):
    folder = tmp_path / 'sharded'
    folder.mkdir()
    rng = np.random.default_rng(5)
    for index in (1, 2):
        write_safetensors(str(folder / ('model-%05d-of-00002.safetensors' % index)),
                          {'layer%d.weight' % index: ('BF16', rng.normal(0, 0.02, (256, 256)).astype(np.float32))})
    result = run(path=str(folder), state='present', strength=0.05)
    assert result['changed'] is True and result['tensors'] == 2 and len(result['files']) == 2
    assert run(path=str(folder))['marked'] is True
