# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""TensorRT engine building for onprem.deepseek.tensorrt_engine.

The two optional libraries are imported here, once, and guarded: ``tensorrt`` (the builder) and
``pynvml`` (the GPU's compute capability, part of the engine fingerprint). Everything that talks to
them goes through ``tensorrt_version()``, ``compute_capability()`` and ``build_engine()``, the
boundary that the unit tests fake.
"""

from __future__ import annotations

import hashlib
import json
import traceback

try:
    import tensorrt as trt
except ImportError:
    trt = None
    TENSORRT_IMPORT_ERROR = traceback.format_exc()
else:
    TENSORRT_IMPORT_ERROR = None

try:
    import pynvml
except ImportError:
    pynvml = None
    PYNVML_IMPORT_ERROR = traceback.format_exc()
else:
    PYNVML_IMPORT_ERROR = None

HAS_TENSORRT = trt is not None
HAS_PYNVML = pynvml is not None

FINGERPRINT_FORMAT = 1
MIB = 1024 * 1024

# precision option -> the builder flag names it sets (fp32 sets none).
PRECISION_FLAGS = {
    'fp32': (),
    'fp16': ('FP16',),
    'bf16': ('BF16',),
    'int8': ('INT8',),
    'fp8': ('FP8',),
}


class TensorRTError(Exception):
    """A build or probe failure, with a message for the operator."""


class NoGpuError(TensorRTError):
    """No usable NVIDIA GPU at the requested index."""


def tensorrt_version():
    return str(trt.__version__)


def compute_capability(device):
    """Compute capability 'major.minor' of GPU ``device``, through NVML. Raises NoGpuError."""
    if pynvml is None:
        raise NoGpuError('pynvml (nvidia-ml-py) is not installed, so the GPU compute capability cannot be read')
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise NoGpuError('no usable NVIDIA GPU: nvmlInit failed: %s (%s)' % (exc, type(exc).__name__))
    try:
        count = pynvml.nvmlDeviceGetCount()
        if device >= count:
            raise NoGpuError('no NVIDIA GPU with index %d: NVML sees %d GPU(s)' % (device, count))
        handle = pynvml.nvmlDeviceGetHandleByIndex(device)
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
        return '%d.%d' % (major, minor)
    except pynvml.NVMLError as exc:
        raise NoGpuError('cannot read the compute capability of GPU %d: %s' % (device, exc))
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def sha256_file(path, chunk=MIB):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def build_options(params):
    """The options that change the engine, in a canonical form (the timing cache does not)."""
    profiles = []
    for profile in params.get('profiles') or []:
        shapes = sorted(({'name': s['name'], 'min': list(s['min']), 'opt': list(s['opt']), 'max': list(s['max'])}
                         for s in profile['shapes']), key=lambda s: s['name'])
        profiles.append(shapes)
    return {
        'precision': params['precision'],
        'workspace_mib': params['workspace_mib'],
        'profiles': profiles,
        'builder_optimization_level': params.get('builder_optimization_level'),
    }


def fingerprint(onnx_sha256, options, trt_version, capability):
    """Fingerprint dict of the inputs; ``digest`` is the sha256 of its canonical JSON."""
    data = {
        'format': FINGERPRINT_FORMAT,
        'onnx_sha256': onnx_sha256,
        'options': options,
        'tensorrt_version': trt_version,
        'compute_capability': capability,
    }
    data['digest'] = hashlib.sha256(json.dumps(data, sort_keys=True).encode('utf-8')).hexdigest()
    return data


def fingerprint_differences(old, new):
    """Names of the fingerprint fields that differ (empty when the engine is current)."""
    if not isinstance(old, dict):
        return ['fingerprint']
    return sorted(key for key in new if key != 'digest' and old.get(key) != new.get(key))


def validate_profiles(profiles):
    """Raise TensorRTError unless every shape has min <= opt <= max, element-wise, of equal ranks."""
    for index, profile in enumerate(profiles or []):
        for shape in profile['shapes']:
            dims = (shape['min'], shape['opt'], shape['max'])
            if len(set(len(d) for d in dims)) != 1:
                raise TensorRTError('profile %d, input %s: min, opt and max must have the same rank'
                                    % (index, shape['name']))
            for low, mid, high in zip(*dims):
                if not 0 <= low <= mid <= high:
                    raise TensorRTError('profile %d, input %s: need 0 <= min <= opt <= max in every dimension, got %s'
                                        % (index, shape['name'], dims))


def _major(version):
    try:
        return int(str(version).split('.', maxsplit=1)[0])
    except ValueError:
        return 0


def build_engine(onnx_path, options, timing_cache_path=None, log_severity='WARNING'):
    """Build a serialized engine from ``onnx_path``; return (engine bytes, timing cache bytes or None)."""
    logger = trt.Logger(getattr(trt.Logger, log_severity))
    builder = trt.Builder(logger)
    flags = 0
    if _major(trt.__version__) < 10:
        # TensorRT 8.x needs explicit batch; 10.x makes it the only mode (and deprecates the flag).
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(onnx_path):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise TensorRTError('TensorRT could not parse %s: %s' % (onnx_path, '; '.join(errors) or 'no detail'))

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options['workspace_mib'] * MIB)
    for flag in PRECISION_FLAGS[options['precision']]:
        if not hasattr(trt.BuilderFlag, flag):
            raise TensorRTError('TensorRT %s has no %s builder flag (precision %s)'
                                % (trt.__version__, flag, options['precision']))
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if options.get('builder_optimization_level') is not None:
        config.builder_optimization_level = options['builder_optimization_level']
    for shapes in options['profiles']:
        profile = builder.create_optimization_profile()
        for shape in shapes:
            profile.set_shape(shape['name'], tuple(shape['min']), tuple(shape['opt']), tuple(shape['max']))
        config.add_optimization_profile(profile)

    cache = None
    if timing_cache_path is not None:
        try:
            with open(timing_cache_path, 'rb') as handle:
                cache_bytes = handle.read()
        except FileNotFoundError:
            cache_bytes = b''
        cache = config.create_timing_cache(cache_bytes)
        config.set_timing_cache(cache, ignore_mismatch=False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTError('TensorRT failed to build an engine from %s (see the TensorRT log above in stderr)'
                            % onnx_path)
    cache_out = bytes(cache.serialize()) if cache is not None else None
    return bytes(serialized), cache_out
