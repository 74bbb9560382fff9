# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A fake ``pynvml`` (nvidia-ml-py) at the library boundary, and a runner for module main().

The fake mirrors the names, constants and NVMLError class hierarchy of nvidia-ml-py
13.615.71 (``pynvml.py``): ``NVMLError(code)`` returns the subclass for that code
(``NVMLError_NotSupported``, ``NVMLError_LibraryNotFound``, ...), built the same way as
pynvml's ``_extractNVMLErrorsAsClasses``. test_nvml_info.py checks the fake against the
real pynvml when that is importable.

The hardware is described by FakeHost / FakeGpu / FakeLink objects. Every fake NVML
function refuses to run outside nvmlInit/nvmlShutdown, like the real library, and every
call is recorded in ``FakeHost.calls``.
"""

from __future__ import annotations

import importlib
import json
import string
import sys
import types

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

MODULE_UTILS = 'ansible_collections.onprem.deepseek.plugins.module_utils._nvml'
MODULE = 'ansible_collections.onprem.deepseek.plugins.modules.nvml_info'

GIB = 1024 ** 3
MIB = 1024 ** 2

# --- Constants of pynvml.py (nvidia-ml-py 13.615.71) --------------------------------------

NVML_SUCCESS = 0
ERROR_CODES = {
    'NVML_ERROR_UNINITIALIZED': 1,
    'NVML_ERROR_INVALID_ARGUMENT': 2,
    'NVML_ERROR_NOT_SUPPORTED': 3,
    'NVML_ERROR_NO_PERMISSION': 4,
    'NVML_ERROR_ALREADY_INITIALIZED': 5,
    'NVML_ERROR_NOT_FOUND': 6,
    'NVML_ERROR_INSUFFICIENT_SIZE': 7,
    'NVML_ERROR_INSUFFICIENT_POWER': 8,
    'NVML_ERROR_DRIVER_NOT_LOADED': 9,
    'NVML_ERROR_TIMEOUT': 10,
    'NVML_ERROR_IRQ_ISSUE': 11,
    'NVML_ERROR_LIBRARY_NOT_FOUND': 12,
    'NVML_ERROR_FUNCTION_NOT_FOUND': 13,
    'NVML_ERROR_CORRUPTED_INFOROM': 14,
    'NVML_ERROR_GPU_IS_LOST': 15,
    'NVML_ERROR_RESET_REQUIRED': 16,
    'NVML_ERROR_OPERATING_SYSTEM': 17,
    'NVML_ERROR_LIB_RM_VERSION_MISMATCH': 18,
    'NVML_ERROR_IN_USE': 19,
    'NVML_ERROR_MEMORY': 20,
    'NVML_ERROR_NO_DATA': 21,
    'NVML_ERROR_VGPU_ECC_NOT_SUPPORTED': 22,
    'NVML_ERROR_INSUFFICIENT_RESOURCES': 23,
    'NVML_ERROR_FREQ_NOT_SUPPORTED': 24,
    'NVML_ERROR_ARGUMENT_VERSION_MISMATCH': 25,
    'NVML_ERROR_DEPRECATED': 26,
    'NVML_ERROR_NOT_READY': 27,
    'NVML_ERROR_GPU_NOT_FOUND': 28,
    'NVML_ERROR_INVALID_STATE': 29,
    'NVML_ERROR_RESET_TYPE_NOT_SUPPORTED': 30,
    'NVML_ERROR_UNKNOWN': 999,
}
E = types.SimpleNamespace(**dict((name[len('NVML_ERROR_'):], code) for name, code in ERROR_CODES.items()))

# NVMLError._errcode_to_string of pynvml (other codes go through nvmlErrorString there).
ERROR_STRINGS = {
    1: "Uninitialized",
    2: "Invalid Argument",
    3: "Not Supported",
    4: "Insufficient Permissions",
    5: "Already Initialized",
    6: "Not Found",
    7: "Insufficient Size",
    8: "Insufficient External Power",
    9: "Driver Not Loaded",
    10: "Timeout",
    11: "Interrupt Request Issue",
    12: "NVML Shared Library Not Found",
    13: "Function Not Found",
    14: "Corrupted infoROM",
    15: "GPU is lost",
    16: "GPU requires restart",
    17: "The operating system has blocked the request.",
    18: "RM has detected an NVML/RM version mismatch.",
    20: "Insufficient Memory",
    999: "Unknown Error",
}

CONSTANTS = {
    'NVML_FEATURE_DISABLED': 0,
    'NVML_FEATURE_ENABLED': 1,
    'NVML_TEMPERATURE_GPU': 0,
    'NVML_NVLINK_MAX_LINKS': 36,
    'NVML_NVLINK_DEVICE_TYPE_GPU': 0x00,
    'NVML_NVLINK_DEVICE_TYPE_IBMNPU': 0x01,
    'NVML_NVLINK_DEVICE_TYPE_SWITCH': 0x02,
    'NVML_NVLINK_DEVICE_TYPE_UNKNOWN': 0xFF,
    'NVML_SINGLE_BIT_ECC': 0,
    'NVML_DOUBLE_BIT_ECC': 1,
    'NVML_VOLATILE_ECC': 0,
    'NVML_AGGREGATE_ECC': 1,
    'NVML_MEMORY_ERROR_TYPE_CORRECTED': 0,
    'NVML_MEMORY_ERROR_TYPE_UNCORRECTED': 1,
    'NVML_CLOCK_GRAPHICS': 0,
    'NVML_CLOCK_SM': 1,
    'NVML_CLOCK_MEM': 2,
    'NVML_CLOCK_VIDEO': 3,
    'NVML_TOPOLOGY_INTERNAL': 0,
    'NVML_TOPOLOGY_SINGLE': 10,
    'NVML_TOPOLOGY_MULTIPLE': 20,
    'NVML_TOPOLOGY_HOSTBRIDGE': 30,
    'NVML_TOPOLOGY_NODE': 40,
    'NVML_TOPOLOGY_CPU': 40,
    'NVML_TOPOLOGY_SYSTEM': 50,
    'NVML_DEVICE_MIG_DISABLE': 0x0,
    'NVML_DEVICE_MIG_ENABLE': 0x1,
}
C = types.SimpleNamespace(**CONSTANTS)

# The NVML functions the fake implements (all exist in the real pynvml; a test checks it).
FUNCTIONS = (
    'nvmlInit', 'nvmlShutdown', 'nvmlErrorString',
    'nvmlSystemGetDriverVersion', 'nvmlSystemGetCudaDriverVersion', 'nvmlSystemGetCudaDriverVersion_v2',
    'nvmlDeviceGetCount', 'nvmlDeviceGetHandleByIndex',
    'nvmlDeviceGetUUID', 'nvmlDeviceGetName', 'nvmlDeviceGetPciInfo', 'nvmlDeviceGetPciInfo_v3',
    'nvmlDeviceGetMemoryInfo', 'nvmlDeviceGetCudaComputeCapability', 'nvmlDeviceGetPersistenceMode',
    'nvmlDeviceGetEccMode', 'nvmlDeviceGetTotalEccErrors', 'nvmlDeviceGetMigMode',
    'nvmlDeviceGetEnforcedPowerLimit', 'nvmlDeviceGetTemperature', 'nvmlDeviceGetTemperatureV',
    'nvmlDeviceGetClockInfo', 'nvmlDeviceGetMaxClockInfo',
    'nvmlDeviceGetNvLinkState', 'nvmlDeviceGetNvLinkRemotePciInfo', 'nvmlDeviceGetNvLinkRemoteDeviceType',
    'nvmlDeviceGetTopologyCommonAncestor',
)


def make_error_classes(module):
    """NVMLError and one subclass per NVML_ERROR_* code, the way pynvml builds them."""

    class NVMLError(Exception):
        _valClassMapping = {}
        _errcode_to_string = dict(ERROR_STRINGS)

        def __new__(cls, value):
            klass = NVMLError._valClassMapping.get(value, cls) if cls == NVMLError else cls
            obj = Exception.__new__(klass)
            obj.value = value
            return obj

        def __str__(self):
            return NVMLError._errcode_to_string.get(self.value, "NVML Error with code %d" % self.value)

        def __eq__(self, other):
            return self.value == other.value

        __hash__ = Exception.__hash__

    NVMLError.__module__ = 'pynvml'
    module.NVMLError = NVMLError
    for err_name, err_val in ERROR_CODES.items():
        class_name = 'NVMLError_' + string.capwords(err_name.replace('NVML_ERROR_', ''), '_').replace('_', '')

        def gen_new(val):
            def new(typ, *args):  # pylint: disable=unused-argument
                return NVMLError.__new__(typ, val)
            return new

        new_error_class = type(class_name, (NVMLError,), {'__new__': gen_new(err_val)})
        new_error_class.__module__ = 'pynvml'
        setattr(module, class_name, new_error_class)
        NVMLError._valClassMapping[err_val] = new_error_class

    def nvmlExceptionClass(code):
        if code not in NVMLError._valClassMapping:
            raise ValueError('nvmlErrorCode %s is not valid' % code)
        return NVMLError._valClassMapping[code]

    module.nvmlExceptionClass = nvmlExceptionClass


# --- The fake hardware ------------------------------------------------------------------------

class FakeLink:
    """One NVLink of a GPU: active or not, and what is at the other end."""

    def __init__(self, active=True, remote_bus_id=None, remote_type=C.NVML_NVLINK_DEVICE_TYPE_GPU):
        self.active = active
        self.remote_bus_id = remote_bus_id
        self.remote_type = remote_type


class FakeGpu:
    """One GPU. ``failures`` maps an NVML function name to the error code it raises."""

    def __init__(self, name, uuid, bus_id, memory_total, memory_used=0, cc=(9, 0), persistence=1, ecc=(1, 1),
                 ecc_uncorrected=(0, 0), mig=None, power_limit_mw=700000, temperature=35,
                 clocks=None, max_clocks=None, nvlinks=None, failures=None):
        self.name = name
        self.uuid = uuid
        self.bus_id = bus_id
        self.memory_total = memory_total
        self.memory_used = memory_used
        self.cc = cc
        self.persistence = persistence
        self.ecc = ecc
        self.ecc_uncorrected = ecc_uncorrected  # (volatile, aggregate)
        self.mig = mig  # None: MIG not supported by this GPU
        self.power_limit_mw = power_limit_mw
        self.temperature = temperature
        self.clocks = clocks or {C.NVML_CLOCK_GRAPHICS: 345, C.NVML_CLOCK_SM: 345, C.NVML_CLOCK_MEM: 2619}
        self.max_clocks = max_clocks or {C.NVML_CLOCK_GRAPHICS: 1980, C.NVML_CLOCK_SM: 1980, C.NVML_CLOCK_MEM: 2619}
        self.nvlinks = nvlinks  # None: no NVLink on this GPU; else one FakeLink per link the GPU has
        self.failures = dict(failures or {})


class FakeHost:
    """The host NVML sees. ``topology(i, j)`` returns an NVML_TOPOLOGY_* level."""

    def __init__(self, gpus=(), driver_version='550.54.15', cuda_version=12040, init_error=None,
                 topology=None, count_error=None, handle_errors=None, shutdown_error=None, missing=()):
        self.gpus = list(gpus)
        self.driver_version = driver_version
        self.cuda_version = cuda_version
        self.init_error = init_error
        self.topology = topology or (lambda a, b: C.NVML_TOPOLOGY_SYSTEM)
        self.count_error = count_error
        self.handle_errors = dict(handle_errors or {})
        self.shutdown_error = shutdown_error
        self.missing = set(missing)  # functions this (older) pynvml does not have
        self.initialised = 0
        self.init_calls = 0
        self.shutdown_calls = 0
        self.calls = []

    def count(self, function):
        return sum(1 for call in self.calls if call[0] == function)


class FakeHandle:
    def __init__(self, index):
        self.index = index

    def __repr__(self):
        return '<c_nvmlDevice_t %d>' % self.index


class FakePci:
    """The fields of nvmlPciInfo_t that matter here (pynvml decodes the strings)."""

    def __init__(self, bus_id):
        self.busId = bus_id
        domain, bus, rest = bus_id.split(':')
        self.busIdLegacy = '%04X:%s:%s' % (int(domain, 16), bus, rest)
        self.domain = int(domain, 16)
        self.bus = int(bus, 16)
        self.device = int(rest.split('.')[0], 16)


def make_fake_pynvml(host):
    """Return a module object named ``pynvml`` that answers from ``host``."""
    mod = types.ModuleType('pynvml')
    mod.__file__ = '<fake pynvml>'
    mod.NVML_SUCCESS = NVML_SUCCESS
    for name, value in ERROR_CODES.items():
        setattr(mod, name, value)
    for name, value in CONSTANTS.items():
        setattr(mod, name, value)
    make_error_classes(mod)
    NVMLError = mod.NVMLError

    def enter(function, *args):
        host.calls.append((function,) + args)
        if function not in ('nvmlInit', 'nvmlErrorString') and host.initialised <= 0:
            raise NVMLError(E.UNINITIALIZED)

    def _device(function, handle, *args):
        enter(function, handle, *args)
        gpu = host.gpus[handle.index]
        if function in gpu.failures:
            raise NVMLError(gpu.failures[function])
        return gpu

    def nvmlInit():
        host.init_calls += 1
        enter('nvmlInit')
        if host.init_error is not None:
            raise NVMLError(host.init_error)
        host.initialised += 1

    def nvmlShutdown():
        host.shutdown_calls += 1
        enter('nvmlShutdown')
        host.initialised -= 1
        if host.shutdown_error is not None:
            raise NVMLError(host.shutdown_error)

    def nvmlErrorString(result):
        return ERROR_STRINGS.get(result, 'Unknown Error')

    def nvmlSystemGetDriverVersion():
        enter('nvmlSystemGetDriverVersion')
        return host.driver_version

    def nvmlSystemGetCudaDriverVersion():
        enter('nvmlSystemGetCudaDriverVersion')
        return host.cuda_version

    def nvmlSystemGetCudaDriverVersion_v2():
        enter('nvmlSystemGetCudaDriverVersion_v2')
        return host.cuda_version

    def nvmlDeviceGetCount():
        enter('nvmlDeviceGetCount')
        if host.count_error is not None:
            raise NVMLError(host.count_error)
        return len(host.gpus)

    def nvmlDeviceGetHandleByIndex(index):
        enter('nvmlDeviceGetHandleByIndex', index)
        if index in host.handle_errors:
            raise NVMLError(host.handle_errors[index])
        if not 0 <= index < len(host.gpus):
            raise NVMLError(E.INVALID_ARGUMENT)
        return FakeHandle(index)

    def nvmlDeviceGetUUID(handle):
        return _device('nvmlDeviceGetUUID', handle).uuid

    def nvmlDeviceGetName(handle):
        return _device('nvmlDeviceGetName', handle).name

    def nvmlDeviceGetPciInfo_v3(handle):
        return FakePci(_device('nvmlDeviceGetPciInfo_v3', handle).bus_id)

    def nvmlDeviceGetPciInfo(handle):
        return FakePci(_device('nvmlDeviceGetPciInfo', handle).bus_id)

    def nvmlDeviceGetMemoryInfo(handle, version=None):
        gpu = _device('nvmlDeviceGetMemoryInfo', handle)
        if version:
            raise NVMLError(E.ARGUMENT_VERSION_MISMATCH)
        return types.SimpleNamespace(total=gpu.memory_total, used=gpu.memory_used, free=gpu.memory_total - gpu.memory_used)

    def nvmlDeviceGetCudaComputeCapability(handle):
        return tuple(_device('nvmlDeviceGetCudaComputeCapability', handle).cc)

    def nvmlDeviceGetPersistenceMode(handle):
        return _device('nvmlDeviceGetPersistenceMode', handle).persistence

    def nvmlDeviceGetEccMode(handle):
        return list(_device('nvmlDeviceGetEccMode', handle).ecc)

    def nvmlDeviceGetTotalEccErrors(handle, errorType, counterType):
        gpu = _device('nvmlDeviceGetTotalEccErrors', handle, errorType, counterType)
        if errorType != C.NVML_MEMORY_ERROR_TYPE_UNCORRECTED:
            return 7  # corrected errors: a number the module must not report as uncorrected
        return gpu.ecc_uncorrected[counterType]

    def nvmlDeviceGetMigMode(device):
        gpu = _device('nvmlDeviceGetMigMode', device)
        if gpu.mig is None:
            raise NVMLError(E.NOT_SUPPORTED)
        return list(gpu.mig)

    def nvmlDeviceGetEnforcedPowerLimit(handle):
        return _device('nvmlDeviceGetEnforcedPowerLimit', handle).power_limit_mw

    def nvmlDeviceGetTemperature(handle, sensor):
        gpu = _device('nvmlDeviceGetTemperature', handle, sensor)
        if sensor != C.NVML_TEMPERATURE_GPU:
            raise NVMLError(E.INVALID_ARGUMENT)
        return gpu.temperature

    def nvmlDeviceGetTemperatureV(handle, sensor, version=None):  # pylint: disable=unused-argument
        gpu = _device('nvmlDeviceGetTemperatureV', handle, sensor)
        if sensor != C.NVML_TEMPERATURE_GPU:
            raise NVMLError(E.INVALID_ARGUMENT)
        return gpu.temperature

    def nvmlDeviceGetClockInfo(handle, type):  # pylint: disable=redefined-builtin
        return _device('nvmlDeviceGetClockInfo', handle, type).clocks[type]

    def nvmlDeviceGetMaxClockInfo(handle, type):  # pylint: disable=redefined-builtin
        return _device('nvmlDeviceGetMaxClockInfo', handle, type).max_clocks[type]

    def _link(function, handle, link):
        gpu = _device(function, handle, link)
        if gpu.nvlinks is None:
            raise NVMLError(E.NOT_SUPPORTED)
        if not 0 <= link < len(gpu.nvlinks):
            raise NVMLError(E.INVALID_ARGUMENT)
        return gpu.nvlinks[link]

    def nvmlDeviceGetNvLinkState(device, link):
        return 1 if _link('nvmlDeviceGetNvLinkState', device, link).active else 0

    def nvmlDeviceGetNvLinkRemotePciInfo(device, link):
        nvlink = _link('nvmlDeviceGetNvLinkRemotePciInfo', device, link)
        return FakePci(nvlink.remote_bus_id or '00000000:00:00.0')

    def nvmlDeviceGetNvLinkRemoteDeviceType(handle, link):
        return _link('nvmlDeviceGetNvLinkRemoteDeviceType', handle, link).remote_type

    def nvmlDeviceGetTopologyCommonAncestor(device1, device2):
        enter('nvmlDeviceGetTopologyCommonAncestor', device1, device2)
        for handle in (device1, device2):
            failure = host.gpus[handle.index].failures.get('nvmlDeviceGetTopologyCommonAncestor')
            if failure is not None:
                raise NVMLError(failure)
        return host.topology(device1.index, device2.index)

    local = locals()
    for function in FUNCTIONS:
        if function not in host.missing:
            setattr(mod, function, local[function])
    return mod


# --- Hardware catalogue ------------------------------------------------------------------------

def _uuid(model, index):
    return 'GPU-%08x-0000-4000-8000-%012x' % (model, index)


def _socket_topology(per_socket):
    """GPUs 0..per_socket-1 on socket 0, the next ones on socket 1."""
    def topology(a, b):
        if a // per_socket == b // per_socket:
            return C.NVML_TOPOLOGY_NODE
        return C.NVML_TOPOLOGY_SYSTEM
    return topology


A30_BUS_IDS = ('00000000:17:00.0', '00000000:CA:00.0')
H100_PCIE_BUS_IDS = ('00000000:1B:00.0', '00000000:3D:00.0', '00000000:9C:00.0', '00000000:BB:00.0')
H100_SXM_BUS_IDS = tuple('00000000:%02X:00.0' % bus for bus in (0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB))
NVSWITCH_BUS_IDS = tuple('00000000:%02X:00.0' % bus for bus in (0x05, 0x06, 0x07, 0x08))


def a30_host(count=2, **host_kwargs):
    """Ax A30 PCIe (24 GiB, cc 8.0): 4 NVLink bridge links each, none bridged."""
    gpus = [
        FakeGpu('NVIDIA A30', _uuid(0xa30, i), A30_BUS_IDS[i], 24 * GIB, memory_used=3 * MIB, cc=(8, 0), mig=(0, 0),
                power_limit_mw=165000, temperature=31 + i, nvlinks=[FakeLink(active=False) for dummy in range(4)],
                clocks={C.NVML_CLOCK_GRAPHICS: 210, C.NVML_CLOCK_SM: 210, C.NVML_CLOCK_MEM: 1215},
                max_clocks={C.NVML_CLOCK_GRAPHICS: 1440, C.NVML_CLOCK_SM: 1440, C.NVML_CLOCK_MEM: 1215})
        for i in range(count)
    ]
    return FakeHost(gpus, topology=lambda a, b: C.NVML_TOPOLOGY_SYSTEM, **host_kwargs)


def h100_pcie_host(**host_kwargs):
    """4x H100 PCIe (80 GiB, cc 9.0): NVLink bridge pairs 0-1 and 2-3, 12 of 18 links active."""
    partner = {0: 1, 1: 0, 2: 3, 3: 2}
    gpus = []
    for i in range(4):
        links = [FakeLink(remote_bus_id=H100_PCIE_BUS_IDS[partner[i]]) for dummy in range(12)]
        links += [FakeLink(active=False) for dummy in range(6)]
        gpus.append(FakeGpu('NVIDIA H100 PCIe', _uuid(0x100e, i), H100_PCIE_BUS_IDS[i], 85520809984, cc=(9, 0),
                            mig=(0, 0), power_limit_mw=350000, nvlinks=links))
    return FakeHost(gpus, topology=_socket_topology(2), **host_kwargs)


def h100_sxm_host(**host_kwargs):
    """8x H100 SXM5 (HGX): 18 NVLinks each, all to the four NVSwitches (5+4+4+5)."""
    spread = [0] * 5 + [1] * 4 + [2] * 4 + [3] * 5
    gpus = []
    for i in range(8):
        links = [FakeLink(remote_bus_id=NVSWITCH_BUS_IDS[s], remote_type=C.NVML_NVLINK_DEVICE_TYPE_SWITCH) for s in spread]
        gpus.append(FakeGpu('NVIDIA H100 80GB HBM3', _uuid(0x100, i), H100_SXM_BUS_IDS[i], 85520809984, cc=(9, 0),
                            mig=(0, 0), nvlinks=links))
    return FakeHost(gpus, driver_version='550.54.15', cuda_version=12040, topology=_socket_topology(4), **host_kwargs)


# --- Fixtures ----------------------------------------------------------------------------------

class AnsibleExitJson(Exception):
    pass


class AnsibleFailJson(Exception):
    pass


@pytest.fixture
def empty_sysfs(tmp_path):
    path = tmp_path / 'pci-devices'
    path.mkdir()
    return str(path)


@pytest.fixture
def load_modules(monkeypatch, empty_sysfs):
    """Put ``pynvml`` (a fake, or None for 'not installed') in sys.modules and (re)import the code.

    Returns (module_utils, module). pci_devices is read from ``sysfs`` (default: an empty tree),
    never from this machine's /sys.
    """
    def _load(pynvml_module, sysfs=None):
        monkeypatch.setitem(sys.modules, 'pynvml', pynvml_module)
        utils = importlib.reload(importlib.import_module(MODULE_UTILS))
        module = importlib.reload(importlib.import_module(MODULE))
        monkeypatch.setattr(utils, 'SYSFS_PCI_DEVICES', sysfs or empty_sysfs)
        return utils, module
    return _load


@pytest.fixture
def call_main(monkeypatch):
    """call_main(main, args, check_mode=False) -> the result dict of a module's main().

    Shared by the module tests of this folder: exit_json/fail_json raise instead of exiting.
    """
    def exit_json(self, **kwargs):  # pylint: disable=unused-argument
        json.dumps(kwargs)  # the result must be JSON-serialisable, as for the real exit_json
        raise AnsibleExitJson(kwargs)

    def fail_json(self, **kwargs):  # pylint: disable=unused-argument
        kwargs['failed'] = True
        raise AnsibleFailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', fail_json)

    def _call(main, args, check_mode=False):
        if check_mode:
            args = dict(args, _ansible_check_mode=True)
        with patch_module_args(args):
            try:
                main()
            except (AnsibleExitJson, AnsibleFailJson) as exc:
                return exc.args[0]
        raise AssertionError('main() returned without exit_json or fail_json')
    return _call


@pytest.fixture
def run_module(call_main, load_modules):
    """Run nvml_info.main() against ``host`` (a FakeHost, or None for pynvml missing); return its result."""
    def _run(host, args=None, sysfs=None):
        dummy, module = load_modules(None if host is None else make_fake_pynvml(host), sysfs)
        return call_main(module.main, args or {})
    return _run
