# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of onprem.deepseek.tensorrt_engine with ``tensorrt`` and ``pynvml`` faked in sys.modules.

The fake tensorrt implements the part of the TensorRT 10 Python API the module uses (Logger, Builder,
OnnxParser.parse_from_file, IBuilderConfig, IOptimizationProfile, timing cache,
build_serialized_network); its "engine" is a deterministic function of the ONNX bytes and the builder
settings, so a test can tell which options a build used. The fake pynvml reports one GPU whose compute
capability the test chooses. tests/gpu/tensorrt_engine_check.py runs the same module against the real
TensorRT on a GPU host.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import types

import pytest


MODULE_UTILS = 'ansible_collections.onprem.deepseek.plugins.module_utils._tensorrt'
MODULE = 'ansible_collections.onprem.deepseek.plugins.modules.tensorrt_engine'


class FakeState:
    def __init__(self, version='10.13.3.9', capability=(9, 0), gpu_count=1, init_error=False, build_fails=False,
                 parse_errors=()):
        self.version = version
        self.capability = capability
        self.gpu_count = gpu_count
        self.init_error = init_error
        self.build_fails = build_fails
        self.parse_errors = list(parse_errors)
        self.builds = []
        self.network_flags = []


def make_fake_tensorrt(state):
    trt = types.ModuleType('tensorrt')
    trt.__version__ = state.version

    class Logger:
        VERBOSE, INFO, WARNING, ERROR = range(4)

        def __init__(self, severity):
            self.severity = severity

    trt.Logger = Logger
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE='WORKSPACE')
    trt.BuilderFlag = types.SimpleNamespace(FP16='FP16', BF16='BF16', INT8='INT8', FP8='FP8')
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(EXPLICIT_BATCH=0)

    class Network:
        def __init__(self, flags):
            self.flags = flags
            self.onnx = None

    class Parser:
        def __init__(self, network, logger):
            self.network = network
            self.num_errors = 0

        def parse_from_file(self, path):
            if state.parse_errors:
                self.num_errors = len(state.parse_errors)
                return False
            with open(path, 'rb') as handle:
                self.network.onnx = handle.read()
            return True

        def get_error(self, index):
            return state.parse_errors[index]

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, low, opt, high):
            self.shapes[name] = (low, opt, high)

    class TimingCache:
        def __init__(self, data):
            self.data = data

        def serialize(self):
            return self.data + b'+timing'

    class Config:
        def __init__(self):
            self.flags = []
            self.pools = {}
            self.profiles = []
            self.cache = None
            self.builder_optimization_level = 3

        def set_memory_pool_limit(self, pool, size):
            self.pools[pool] = size

        def set_flag(self, flag):
            self.flags.append(flag)

        def add_optimization_profile(self, profile):
            self.profiles.append(profile.shapes)
            return len(self.profiles) - 1

        def create_timing_cache(self, data):
            return TimingCache(data)

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache
            return True

    class Builder:
        def __init__(self, logger):
            self.logger = logger

        def create_network(self, flags=0):
            state.network_flags.append(flags)
            return Network(flags)

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            state.builds.append(config)
            if state.build_fails:
                return None
            recipe = json.dumps([sorted(config.flags), config.pools, config.profiles, config.builder_optimization_level,
                                 state.version, state.capability], sort_keys=True, default=str)
            return b'PLAN' + hashlib.sha256(network.onnx + recipe.encode()).digest()

    trt.Builder = Builder
    trt.OnnxParser = Parser
    return trt


def make_fake_pynvml(state):
    nvml = types.ModuleType('pynvml')

    class NVMLError(Exception):
        pass

    class NVMLError_LibraryNotFound(NVMLError):
        def __str__(self):
            return 'NVML Shared Library Not Found'

    nvml.NVMLError = NVMLError

    def nvmlInit():
        if state.init_error:
            raise NVMLError_LibraryNotFound()

    nvml.nvmlInit = nvmlInit
    nvml.nvmlShutdown = lambda: None
    nvml.nvmlDeviceGetCount = lambda: state.gpu_count
    nvml.nvmlDeviceGetHandleByIndex = lambda index: ('handle', index)
    nvml.nvmlDeviceGetCudaComputeCapability = lambda handle: state.capability
    return nvml


@pytest.fixture
def run(monkeypatch, call_main):
    """run(state, args, check_mode=False, tensorrt=True) -> the module's result dict."""
    def _run(state, args, check_mode=False, tensorrt=True, pynvml=True):
        monkeypatch.setitem(sys.modules, 'tensorrt', make_fake_tensorrt(state) if tensorrt else None)
        monkeypatch.setitem(sys.modules, 'pynvml', make_fake_pynvml(state) if pynvml else None)
        importlib.reload(importlib.import_module(MODULE_UTILS))
        module = importlib.reload(importlib.import_module(MODULE))
        return call_main(module.main, args, check_mode)
    return _run


@pytest.fixture
def files(tmp_path):
    onnx = tmp_path / 'model.onnx'
    onnx.write_bytes(b'ONNX graph v1')
    return {'onnx': str(onnx), 'path': str(tmp_path / 'model.plan')}


PROFILE = [{'shapes': [{'name': 'input_ids', 'min': [1, 1], 'opt': [1, 64], 'max': [4, 512]}]}]


def _read(path):
    with open(path, 'rb') as handle:
        return handle.read()


def test_build_writes_engine_and_fingerprint(run, files, tmp_path):
    state = FakeState()
    args = dict(files, precision='fp16', workspace_mib=512, profiles=PROFILE, mode='0640')
    result = run(state, args)
    assert result['changed'] is True, result
    assert result['reasons'] == ['engine missing', 'fingerprint missing']
    assert len(state.builds) == 1
    config = state.builds[0]
    assert config.flags == ['FP16']
    assert config.pools == {'WORKSPACE': 512 * 1024 * 1024}
    assert config.profiles == [{'input_ids': ((1, 1), (1, 64), (4, 512))}]
    assert state.network_flags == [0]  # TensorRT 10: explicit batch without the deprecated flag
    assert _read(files['path']).startswith(b'PLAN')
    assert result['engine_bytes'] == len(_read(files['path']))
    sidecar = json.loads(_read(files['path'] + '.fingerprint.json'))
    assert sidecar == result['fingerprint']
    assert sidecar['onnx_sha256'] == hashlib.sha256(b'ONNX graph v1').hexdigest()
    assert sidecar['tensorrt_version'] == '10.13.3.9'
    assert sidecar['compute_capability'] == '9.0'
    assert oct(os.stat(files['path']).st_mode & 0o777) == '0o640'
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith('.')]
    assert leftovers == [], 'temporary files left behind: %s' % leftovers


def test_unchanged_inputs_do_not_rebuild(run, files):
    state = FakeState()
    args = dict(files, precision='fp16', profiles=PROFILE)
    run(state, args)
    before = os.stat(files['path']).st_mtime_ns, _read(files['path'])
    result = run(state, args)
    assert result['changed'] is False, result
    assert result['reasons'] == []
    assert len(state.builds) == 1
    assert (os.stat(files['path']).st_mtime_ns, _read(files['path'])) == before


@pytest.mark.parametrize('change, reason', [
    pytest.param({'precision': 'bf16'}, 'options', id='precision'),
    pytest.param({'workspace_mib': 1024}, 'options', id='workspace'),
    pytest.param({'profiles': [{'shapes': [{'name': 'input_ids', 'min': [1, 1], 'opt': [2, 128], 'max': [8, 1024]}]}]},
                 'options', id='profile'),
    pytest.param({'builder_optimization_level': 5}, 'options', id='optimization-level'),
    pytest.param({'force': True}, 'force', id='force'),
])
def test_changed_options_rebuild(run, files, change, reason):
    state = FakeState()
    base = dict(files, precision='fp16', workspace_mib=4096, profiles=PROFILE)
    first = run(state, base)
    result = run(state, dict(base, **change))
    assert result['changed'] is True
    assert reason in result['reasons']
    assert len(state.builds) == 2
    if reason == 'options':
        assert _read(files['path']) != b'', 'engine rewritten'
        assert result['fingerprint']['digest'] != first['fingerprint']['digest']


def test_changed_onnx_rebuilds(run, files):
    state = FakeState()
    run(state, dict(files))
    with open(files['onnx'], 'wb') as handle:
        handle.write(b'ONNX graph v2')
    result = run(state, dict(files))
    assert result['changed'] is True
    assert result['reasons'] == ['onnx_sha256']


@pytest.mark.parametrize('change, reason', [
    pytest.param({'capability': (10, 0)}, 'compute_capability', id='other-gpu-arch'),
    pytest.param({'version': '10.14.1.48'}, 'tensorrt_version', id='other-tensorrt'),
])
def test_other_gpu_or_tensorrt_rebuilds(run, files, change, reason):
    state = FakeState()
    run(state, dict(files))
    first_engine = _read(files['path'])
    for key, value in change.items():
        setattr(state, key, value)
    result = run(state, dict(files))
    assert result['changed'] is True
    assert result['reasons'] == [reason]
    assert _read(files['path']) != first_engine
    assert json.loads(_read(files['path'] + '.fingerprint.json'))[reason] == result['fingerprint'][reason]


def test_check_mode_reports_without_building(run, files):
    state = FakeState()
    result = run(state, dict(files), check_mode=True)
    assert result['changed'] is True
    assert 'engine missing' in result['reasons']
    assert state.builds == []
    assert not os.path.exists(files['path'])
    assert not os.path.exists(files['path'] + '.fingerprint.json')
    run(state, dict(files))
    assert run(state, dict(files), check_mode=True)['changed'] is False
    assert run(state, dict(files, precision='fp32'), check_mode=True)['reasons'] == ['options']
    assert len(state.builds) == 1


def test_backup_and_timing_cache(run, files, tmp_path):
    state = FakeState()
    cache = str(tmp_path / 'timing.cache')
    run(state, dict(files, timing_cache=cache))
    assert _read(cache) == b'+timing'
    result = run(state, dict(files, timing_cache=cache, precision='fp32', backup=True))
    assert result['changed'] is True
    assert os.path.exists(result['backup_file'])
    assert _read(cache) == b'+timing+timing'
    assert state.builds[1].flags == []


def test_missing_sidecar_rebuilds(run, files):
    state = FakeState()
    run(state, dict(files))
    os.remove(files['path'] + '.fingerprint.json')
    assert run(state, dict(files))['reasons'] == ['fingerprint missing']


def test_tensorrt_missing_fails_clearly(run, files):
    result = run(FakeState(), dict(files), tensorrt=False)
    assert result['failed'] is True
    assert 'Failed to import the required Python library (tensorrt)' in result['msg']
    assert not os.path.exists(files['path'])


def test_pynvml_missing_fails_clearly(run, files):
    result = run(FakeState(), dict(files), pynvml=False)
    assert result['failed'] is True
    assert 'nvidia-ml-py (pynvml)' in result['msg']


@pytest.mark.parametrize('state, message', [
    pytest.param(FakeState(init_error=True), 'no usable NVIDIA GPU: nvmlInit failed: NVML Shared Library Not Found',
                 id='no-driver'),
    pytest.param(FakeState(gpu_count=0), 'no NVIDIA GPU with index 0: NVML sees 0 GPU(s)', id='no-gpu'),
])
def test_gpu_missing_fails_clearly(run, files, state, message):
    result = run(state, dict(files))
    assert result['failed'] is True
    assert message in result['msg']
    assert state.builds == []


@pytest.mark.parametrize('args, message', [
    pytest.param({'onnx': '/nonexistent/model.onnx'}, 'ONNX model /nonexistent/model.onnx does not exist', id='no-onnx'),
    pytest.param({'profiles': [{'shapes': [{'name': 'x', 'min': [4], 'opt': [2], 'max': [8]}]}]},
                 'need 0 <= min <= opt <= max', id='bad-profile'),
    pytest.param({'profiles': [{'shapes': [{'name': 'x', 'min': [1], 'opt': [2, 2], 'max': [8]}]}]},
                 'same rank', id='bad-rank'),
    pytest.param({'workspace_mib': 0}, 'workspace_mib must be positive', id='workspace'),
    pytest.param({'builder_optimization_level': 7}, 'between 0 and 5', id='level'),
])
def test_bad_arguments_fail(run, files, args, message):
    state = FakeState()
    result = run(state, dict(files, **args))
    assert result['failed'] is True
    assert message in result['msg']
    assert state.builds == []


@pytest.mark.parametrize('state, message', [
    pytest.param(FakeState(parse_errors=['unsupported operator FooBar']), 'could not parse', id='parse'),
    pytest.param(FakeState(build_fails=True), 'failed to build an engine', id='build'),
])
def test_tensorrt_failures_fail_without_writing(run, files, state, message):
    result = run(state, dict(files))
    assert result['failed'] is True
    assert message in result['msg']
    assert not os.path.exists(files['path'])


def test_tensorrt_8_uses_explicit_batch(run, files):
    state = FakeState(version='8.6.1')
    run(state, dict(files))
    assert state.network_flags == [1]
