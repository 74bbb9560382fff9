# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A keyed watermark in the weights of a safetensors checkpoint, for onprem.deepseek.model_watermark.

Standard library and numpy only (no Ansible import), so that bench/model_watermark.py loads this file directly.

The scheme (``SCHEME``):

- Every floating-point tensor (F64, F32, F16, BF16) of two or more dimensions with at least ``MIN_WEIGHTS`` weights
  carries the mark; 1-D tensors (norms, biases) and integer or FP8 tensors are left alone.
- The pattern of a tensor is a sequence of signs s_i in {-1, +1}, one per weight in storage order, derived from the
  key and the tensor's name only: the bits of SHAKE-256(HMAC-SHA256(key, SCHEME | name | block)), for blocks of
  ``BLOCK`` weights. It does not depend on the weights, so for a model that was not marked with this key the signs
  are independent of the weights.
- Embedding adds ``strength * rms(tensor) * s_i`` to every weight, then rounds to the tensor's dtype.
- Detection computes, per tensor, z_t = sum(s_i * w_i) / sqrt(sum(w_i ** 2)). Given the weights, and for signs
  independent of them, sum(s_i * w_i) has mean 0 and variance sum(w_i ** 2) exactly, so z_t is standard normal
  (central limit theorem over many weights). The tensors are combined as Z = sum(sqrt(n_t) * z_t) / sqrt(sum(n_t)),
  again standard normal without the mark, and about strength * sqrt(N) with it (N weights in all). The one-sided
  p-value is the probability of a Z this large without the mark.

The mark survives what leaves the weights near where they were: a cast between float dtypes, an 8-bit weight
quantisation round trip, a short fine-tune (their changes are not correlated with the key's signs). It does not
survive a deliberate removal by someone who knows the scheme and the key, a re-ordering of weights or neurons, or a
renaming of the tensors (the names seed the pattern). It is evidence of origin, not access control.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import math
import os
import struct

try:
    import numpy as np
except ImportError:  # the module reports it with missing_required_lib()
    np = None

SCHEME = 'onprem.deepseek/watermark/v1'
BLOCK = 1 << 22  # weights per pattern block (4 Mi): bounds the memory of one step on large tensors
MIN_WEIGHTS = 1024
DEFAULT_STRENGTH = 0.01
DEFAULT_THRESHOLD = 5.0
HEADER_LIMIT = 100 * 1024 * 1024  # safetensors' own limit on the JSON header

# safetensors dtype -> (numpy storage dtype, bytes per weight)
FLOAT_DTYPES = {'F64': ('<f8', 8), 'F32': ('<f4', 4), 'F16': ('<f2', 2), 'BF16': ('<u2', 2)}


class WatermarkError(ValueError):
    """A checkpoint that cannot be read or written as safetensors, or a watermark that cannot be embedded."""


# --- The pattern and the statistic -----------------------------------------------------------

def _key_bytes(key):
    if isinstance(key, str):
        key = key.encode('utf-8')
    if not key:
        raise WatermarkError('the watermark key is empty')
    return key


def pattern(key, name, count, start=0):
    """Signs (float32 +-1) of weights ``start`` .. ``start + count - 1`` of tensor ``name`` (one block at most)."""
    block, offset = divmod(start, BLOCK)
    if offset + count > BLOCK:
        raise WatermarkError('a pattern request may not cross a block boundary')
    seed = hmac.new(_key_bytes(key), ('%s|%s|%d' % (SCHEME, name, block)).encode('utf-8'), hashlib.sha256).digest()
    stream = hashlib.shake_256(seed).digest((offset + count + 7) // 8)
    bits = np.unpackbits(np.frombuffer(stream, dtype=np.uint8), count=offset + count)[offset:]
    signs = bits.astype(np.float32)
    signs *= 2.0
    signs -= 1.0
    return signs


def _blocks(count):
    for start in range(0, count, BLOCK):
        yield start, min(count, start + BLOCK)


class Statistic(object):
    """Running sums of the detection statistic over tensors."""

    def __init__(self):
        self.weighted = 0.0  # sum(sqrt(n_t) * z_t)
        self.weights = 0  # sum(n_t)
        self.tensors = 0

    def add(self, correlation, energy, count):
        if count == 0:
            return
        self.tensors += 1
        self.weights += count
        if energy > 0:
            self.weighted += math.sqrt(count) * correlation / math.sqrt(energy)

    @property
    def z_score(self):
        return self.weighted / math.sqrt(self.weights) if self.weights else 0.0


def p_value(z_score):
    """One-sided p-value of a standard normal statistic."""
    return 0.5 * math.erfc(z_score / math.sqrt(2.0))


def expected_z(strength, weights):
    """Z that a freshly marked model of ``weights`` weights shows, before rounding to its dtype."""
    return strength * math.sqrt(weights)


def result(statistic, threshold):
    z_score = statistic.z_score
    return {'marked': bool(statistic.weights) and z_score >= threshold, 'z_score': round(z_score, 4),
            'p_value': p_value(z_score), 'threshold': threshold, 'tensors': statistic.tensors,
            'weights': statistic.weights}


def tensor_terms(key, name, values):
    """(sum(s*w), sum(w*w), n) of a flat float array ``values`` (any float dtype) under the key's pattern.

    The products are summed in float32 by BLAS (numpy's dot of two float32 vectors), block by block, and the blocks in
    float64: the rounding error is far below the statistic's own spread (sqrt(sum(w*w)) without the mark).
    """
    correlation = 0.0
    energy = 0.0
    for start, end in _blocks(values.size):
        chunk = np.asarray(values[start:end], dtype=np.float32)
        correlation += float(np.dot(pattern(key, name, end - start, start), chunk))
        energy += float(np.dot(chunk, chunk))
    return correlation, energy, int(values.size)


def mark_values(key, name, values, strength):
    """Float32 copy of flat ``values`` with the mark added (``strength`` times the tensor's RMS)."""
    marked = np.array(values, dtype=np.float32)
    energy = 0.0
    for start, end in _blocks(marked.size):
        energy += float(np.dot(marked[start:end], marked[start:end]))
    amplitude = np.float32(strength * math.sqrt(energy / marked.size)) if marked.size else np.float32(0)
    for start, end in _blocks(marked.size):
        signs = pattern(key, name, end - start, start)
        signs *= amplitude
        marked[start:end] += signs
    return marked


def eligible(name, shape, dtype, exclude=()):
    """Whether a tensor carries the mark."""
    count = 1
    for dim in shape:
        count *= dim
    return (dtype in FLOAT_DTYPES and len(shape) >= 2 and count >= MIN_WEIGHTS
            and not any(fnmatch.fnmatchcase(name, pattern_) for pattern_ in exclude))


def detect_arrays(arrays, key, threshold=DEFAULT_THRESHOLD, exclude=()):
    """Detection over ``arrays`` (name -> numpy array of float weights), as over a checkpoint's tensors."""
    statistic = Statistic()
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        dtype = {np.dtype('float64'): 'F64', np.dtype('float32'): 'F32', np.dtype('float16'): 'F16'}.get(array.dtype)
        if dtype is None or not eligible(name, array.shape, dtype, exclude):
            continue
        statistic.add(*tensor_terms(key, name, array.reshape(-1)))
    return result(statistic, threshold)


# --- safetensors -----------------------------------------------------------------------------

def bf16_to_f32(raw):
    """uint16 bit patterns of bfloat16 -> float32."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(values):
    """float32 -> uint16 bit patterns of bfloat16, rounded to nearest even (as torch rounds); NaN kept NaN."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounded = ((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(values)
    if nan.any():
        rounded[nan] = ((bits[nan] >> np.uint32(16)) | np.uint32(0x40)).astype(np.uint16)
    return rounded


def read_header(path):
    """(header dict without __metadata__, metadata, offset of the data) of a safetensors file."""
    with open(path, 'rb') as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise WatermarkError('%s is not a safetensors file (shorter than 8 bytes)' % path)
        (length,) = struct.unpack('<Q', prefix)
        if length > HEADER_LIMIT:
            raise WatermarkError('%s is not a safetensors file (header of %d bytes)' % (path, length))
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode('utf-8'))
    except ValueError as exc:
        raise WatermarkError('%s is not a safetensors file (header: %s)' % (path, exc))
    if not isinstance(header, dict):
        raise WatermarkError('%s is not a safetensors file (header is not an object)' % path)
    metadata = header.pop('__metadata__', None)
    size = os.path.getsize(path) - 8 - length
    for name, info in header.items():
        try:
            begin, end = info['data_offsets']
            dtype, shape = info['dtype'], list(info['shape'])
        except (KeyError, TypeError, ValueError):
            raise WatermarkError('%s: tensor %s has no dtype, shape or data_offsets' % (path, name))
        if not 0 <= begin <= end <= size:
            raise WatermarkError('%s: tensor %s lies outside the file' % (path, name))
        if dtype in FLOAT_DTYPES:
            count = 1
            for dim in shape:
                count *= dim
            if count * FLOAT_DTYPES[dtype][1] != end - begin:
                raise WatermarkError('%s: tensor %s has %d bytes for shape %s %s' % (path, name, end - begin, shape, dtype))
    return header, metadata, 8 + length


def _load(data, base, info):
    """Flat float32 (or float64) view/copy of one tensor of a mapped file."""
    storage, width = FLOAT_DTYPES[info['dtype']]
    begin, end = info['data_offsets']
    raw = np.frombuffer(data, dtype=storage, count=(end - begin) // width, offset=base + begin)
    if info['dtype'] == 'BF16':
        return bf16_to_f32(raw)
    return raw


def _store(values, dtype):
    """Bytes of float values in a safetensors dtype."""
    if dtype == 'BF16':
        return f32_to_bf16(values).astype('<u2').tobytes()
    return np.asarray(values, dtype=FLOAT_DTYPES[dtype][0]).tobytes()


def checkpoint_files(directory, pattern_='*.safetensors'):
    """Sorted paths of the checkpoint files of a model folder (not recursive)."""
    if not os.path.isdir(directory):
        raise WatermarkError('%s is not a directory' % directory)
    names = sorted(name for name in os.listdir(directory)
                   if fnmatch.fnmatchcase(name, pattern_) and os.path.isfile(os.path.join(directory, name)))
    if not names:
        raise WatermarkError('%s holds no file matching %s' % (directory, pattern_))
    return [os.path.join(directory, name) for name in names]


def _map(path):
    import mmap
    handle = open(path, 'rb')
    try:
        if os.path.getsize(path) == 0:
            return handle, b''
        return handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except Exception:
        handle.close()
        raise


def detect_files(paths, key, threshold=DEFAULT_THRESHOLD, exclude=()):
    """Detection over every eligible tensor of the safetensors files ``paths``."""
    statistic = Statistic()
    skipped = 0
    for path in paths:
        header, dummy, base = read_header(path)
        handle, data = _map(path)
        try:
            for name in sorted(header):
                info = header[name]
                if not eligible(name, info['shape'], info['dtype'], exclude):
                    skipped += 1
                    continue
                statistic.add(*tensor_terms(key, name, _load(data, base, info)))
        finally:
            if not isinstance(data, bytes):
                data.close()
            handle.close()
    out = result(statistic, threshold)
    out['skipped_tensors'] = skipped
    return out


def embed_file(path, destination, key, strength=DEFAULT_STRENGTH, exclude=()):
    """Write ``path`` with the mark embedded to ``destination``; return the statistic of the written weights.

    The header is copied byte for byte (same dtypes, shapes and offsets); only the data of eligible tensors changes.
    """
    if strength <= 0 or math.isnan(strength):
        raise WatermarkError('the strength must be above 0 (got %r)' % strength)
    header, dummy, base = read_header(path)
    order = sorted(header.items(), key=lambda item: item[1]['data_offsets'][0])
    statistic = Statistic()
    handle, data = _map(path)
    try:
        with open(destination, 'wb') as out:
            out.write(data[:base])
            position = 0
            for name, info in order:
                begin, end = info['data_offsets']
                if begin < position:
                    raise WatermarkError('%s: tensor %s overlaps another one' % (path, name))
                out.write(data[base + position:base + begin])  # a gap, if the writer left one
                if eligible(name, info['shape'], info['dtype'], exclude):
                    marked = mark_values(key, name, _load(data, base, info), strength)
                    stored = _store(marked, info['dtype'])
                    out.write(stored)
                    written = _load(stored, 0, dict(info, data_offsets=[0, len(stored)]))
                    statistic.add(*tensor_terms(key, name, written))
                else:
                    out.write(data[base + begin:base + end])
                position = end
            out.write(data[base + position:])
            out.flush()
            os.fsync(out.fileno())
    finally:
        if not isinstance(data, bytes):
            data.close()
        handle.close()
    return statistic
