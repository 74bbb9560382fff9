# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of onprem.deepseek.nvml_info, with the hardware faked at the pynvml boundary (conftest.py)."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys

import pytest

from ansible_collections.onprem.deepseek.tests.unit.plugins.modules.conftest import (
    C, CONSTANTS, E, ERROR_CODES, FUNCTIONS, GIB, MODULE_UTILS, NVSWITCH_BUS_IDS,
    FakeHost, FakeLink, a30_host, h100_pcie_host, h100_sxm_host, make_fake_pynvml,
)

GPU_KEYS = {
    'index', 'uuid', 'name', 'pci_bus_id', 'memory_total_bytes', 'memory_used_bytes', 'memory_total_mib',
    'memory_used_mib', 'compute_capability', 'persistence_mode', 'ecc_mode_current', 'ecc_mode_pending',
    'ecc_errors_uncorrected_volatile', 'ecc_errors_uncorrected_aggregate', 'mig_mode_current', 'mig_mode_pending',
    'power_limit_w', 'temperature_c', 'clocks', 'nvlink_active_links', 'nvlinks', 'error',
}
RESULT_KEYS = {
    'changed', 'driver_present', 'reason', 'driver_version', 'cuda_driver_version', 'gpu_count', 'gpus', 'topology',
    'nvswitch_present', 'nvswitch_detection', 'errors', 'pci_devices',
}


def _pairs(result):
    return dict(((t['gpu_a'], t['gpu_b']), (t['link'], t['nvlink_count'])) for t in result['topology'])


def _assert_clean(result, host):
    """What every successful query has in common."""
    assert result['changed'] is False
    assert 'failed' not in result
    assert set(result) == RESULT_KEYS
    assert result['driver_present'] is True
    assert result['reason'] is None
    assert host.init_calls == 1
    assert host.shutdown_calls == 1
    assert host.initialised == 0
    for gpu in result['gpus']:
        assert set(gpu) == GPU_KEYS


# --- No driver ----------------------------------------------------------------------------------

@pytest.mark.parametrize('code, message, error_class', [
    pytest.param(E.LIBRARY_NOT_FOUND, 'NVML Shared Library Not Found', 'NVMLError_LibraryNotFound', id='library-not-found'),
    pytest.param(E.DRIVER_NOT_LOADED, 'Driver Not Loaded', 'NVMLError_DriverNotLoaded', id='driver-not-loaded'),
    pytest.param(E.NO_PERMISSION, 'Insufficient Permissions', 'NVMLError_NoPermission', id='no-permission'),
    pytest.param(E.LIB_RM_VERSION_MISMATCH, 'version mismatch', 'NVMLError_LibRmVersionMismatch', id='rm-version-mismatch'),
])
def test_no_driver_succeeds_with_zero_gpus(run_module, code, message, error_class):
    host = FakeHost(init_error=code)
    result = run_module(host)

    assert 'failed' not in result
    assert result['changed'] is False
    assert set(result) == RESULT_KEYS
    assert result['driver_present'] is False
    assert result['gpu_count'] == 0
    assert result['gpus'] == []
    assert result['topology'] == []
    assert result['errors'] == []
    assert result['nvswitch_present'] is False
    assert result['driver_version'] is None
    assert result['cuda_driver_version'] is None
    assert message in result['reason']
    assert error_class in result['reason']
    # nvmlShutdown is only legal after a successful nvmlInit; nothing else was asked.
    assert host.shutdown_calls == 0
    assert [call[0] for call in host.calls] == ['nvmlInit']


# --- Hardware table -------------------------------------------------------------------------------

HARDWARE = [
    pytest.param(
        a30_host, dict(
            gpu_count=2, name='NVIDIA A30', memory_total_mib=24576, memory_total_bytes=24 * GIB, cc='8.0', power=165.0,
            nvlink_active=[0, 0], nvswitch=False,
            pairs={(0, 1): ('pcie_system', 0)},
        ), id='2x-A30-pcie'),
    pytest.param(
        h100_pcie_host, dict(
            gpu_count=4, name='NVIDIA H100 PCIe', memory_total_mib=81559, memory_total_bytes=85520809984, cc='9.0',
            power=350.0, nvlink_active=[12, 12, 12, 12], nvswitch=False,
            pairs={
                (0, 1): ('nvlink', 12), (2, 3): ('nvlink', 12),
                (0, 2): ('pcie_system', 0), (0, 3): ('pcie_system', 0),
                (1, 2): ('pcie_system', 0), (1, 3): ('pcie_system', 0),
            },
        ), id='4x-H100-pcie-nvlink-bridge-pairs'),
    pytest.param(
        h100_sxm_host, dict(
            gpu_count=8, name='NVIDIA H100 80GB HBM3', memory_total_mib=81559, memory_total_bytes=85520809984, cc='9.0',
            power=700.0, nvlink_active=[18] * 8, nvswitch=True,
            pairs=dict(((a, b), ('nvlink', 18)) for a in range(8) for b in range(a + 1, 8)),
        ), id='8x-H100-sxm-nvswitch'),
]


@pytest.mark.parametrize('make_host, expected', HARDWARE)
def test_hardware(run_module, make_host, expected):
    host = make_host()
    result = run_module(host)
    _assert_clean(result, host)

    assert result['errors'] == []
    assert result['driver_version'] == '550.54.15'
    assert result['cuda_driver_version'] == '12.4'
    assert result['gpu_count'] == expected['gpu_count']
    assert [gpu['index'] for gpu in result['gpus']] == list(range(expected['gpu_count']))
    assert len(set(gpu['uuid'] for gpu in result['gpus'])) == expected['gpu_count']
    for gpu, fake in zip(result['gpus'], host.gpus):
        assert gpu['error'] is None
        assert gpu['name'] == expected['name']
        assert gpu['uuid'] == fake.uuid
        assert gpu['pci_bus_id'] == fake.bus_id
        assert gpu['memory_total_mib'] == expected['memory_total_mib']
        assert gpu['memory_total_bytes'] == expected['memory_total_bytes']
        assert gpu['memory_used_bytes'] == fake.memory_used
        assert gpu['compute_capability'] == expected['cc']
        assert gpu['power_limit_w'] == expected['power']
        assert gpu['temperature_c'] == fake.temperature
        assert gpu['persistence_mode'] is True
        assert gpu['ecc_mode_current'] is True
        assert gpu['ecc_errors_uncorrected_volatile'] == 0
        assert gpu['ecc_errors_uncorrected_aggregate'] == 0
        assert gpu['mig_mode_current'] is False
        assert gpu['mig_mode_pending'] is False
        assert gpu['clocks'] == {
            'graphics_mhz': fake.clocks[C.NVML_CLOCK_GRAPHICS], 'sm_mhz': fake.clocks[C.NVML_CLOCK_SM],
            'memory_mhz': fake.clocks[C.NVML_CLOCK_MEM], 'graphics_max_mhz': fake.max_clocks[C.NVML_CLOCK_GRAPHICS],
            'sm_max_mhz': fake.max_clocks[C.NVML_CLOCK_SM], 'memory_max_mhz': fake.max_clocks[C.NVML_CLOCK_MEM],
        }
    assert [gpu['nvlink_active_links'] for gpu in result['gpus']] == expected['nvlink_active']
    assert result['nvswitch_present'] is expected['nvswitch']
    assert result['nvswitch_detection'] == ('remote_device_type' if expected['nvswitch'] else None)
    assert _pairs(result) == expected['pairs']
    for entry in result['topology']:
        assert entry['via_nvswitch'] is expected['nvswitch']


def test_h100_pcie_bridge_links_name_their_partner(run_module):
    result = run_module(h100_pcie_host())
    gpu0 = result['gpus'][0]
    assert [link['link'] for link in gpu0['nvlinks']] == list(range(12))
    assert set(link['remote_gpu_index'] for link in gpu0['nvlinks']) == {1}
    assert set(link['remote_device_type'] for link in gpu0['nvlinks']) == {'gpu'}
    assert set(link['remote_pci_bus_id'] for link in gpu0['nvlinks']) == {'00000000:3D:00.0'}
    pcie = dict(((t['gpu_a'], t['gpu_b']), t['pcie']) for t in result['topology'])
    assert pcie[(0, 1)] == 'pcie_node'
    assert pcie[(0, 2)] == 'pcie_system'


def test_h100_sxm_links_go_to_nvswitches(run_module):
    result = run_module(h100_sxm_host())
    for gpu in result['gpus']:
        assert len(gpu['nvlinks']) == 18
        assert set(link['remote_device_type'] for link in gpu['nvlinks']) == {'switch'}
        assert set(link['remote_pci_bus_id'] for link in gpu['nvlinks']) == set(NVSWITCH_BUS_IDS)
        assert set(link['remote_gpu_index'] for link in gpu['nvlinks']) == {None}
    # The PCIe level is still reported next to the NVLink: same socket NODE, across sockets SYS.
    pcie = dict(((t['gpu_a'], t['gpu_b']), t['pcie']) for t in result['topology'])
    assert pcie[(0, 3)] == 'pcie_node'
    assert pcie[(3, 4)] == 'pcie_system'


def test_gpu_without_nvlink_reports_null_link_count(run_module):
    host = a30_host()
    for gpu in host.gpus:
        gpu.nvlinks = None  # every nvmlDeviceGetNvLinkState answers NotSupported
    result = run_module(host)
    _assert_clean(result, host)
    assert result['errors'] == []
    assert [gpu['nvlink_active_links'] for gpu in result['gpus']] == [None, None]
    assert [gpu['nvlinks'] for gpu in result['gpus']] == [[], []]
    assert _pairs(result) == {(0, 1): ('pcie_system', 0)}


# --- MIG --------------------------------------------------------------------------------------

def test_mig_enabled_on_one_gpu(run_module):
    host = a30_host(count=2)
    host.gpus[1].mig = (C.NVML_DEVICE_MIG_ENABLE, C.NVML_DEVICE_MIG_ENABLE)
    result = run_module(host)
    _assert_clean(result, host)
    assert [(gpu['mig_mode_current'], gpu['mig_mode_pending']) for gpu in result['gpus']] == [(False, False), (True, True)]


def test_mig_pending_after_reset(run_module):
    host = a30_host(count=1)
    host.gpus[0].mig = (C.NVML_DEVICE_MIG_DISABLE, C.NVML_DEVICE_MIG_ENABLE)
    result = run_module(host)
    assert (result['gpus'][0]['mig_mode_current'], result['gpus'][0]['mig_mode_pending']) == (False, True)


def test_gpu_without_mig_reports_null(run_module):
    host = a30_host(count=1)
    host.gpus[0].mig = None
    result = run_module(host)
    assert result['errors'] == []
    assert (result['gpus'][0]['mig_mode_current'], result['gpus'][0]['mig_mode_pending']) == (None, None)


# --- Errors on one device -------------------------------------------------------------------------

@pytest.mark.parametrize('function, code, message, kept, lost', [
    pytest.param('nvmlDeviceGetMemoryInfo', E.GPU_IS_LOST, 'GPU is lost (NVMLError_GpuIsLost)',
                 ('uuid', 'name', 'pci_bus_id'), ('memory_total_mib', 'compute_capability', 'temperature_c'),
                 id='gpu-lost-at-memory'),
    pytest.param('nvmlDeviceGetUUID', E.UNKNOWN, 'Unknown Error (NVMLError_Unknown)',
                 (), ('uuid', 'name', 'memory_total_mib'), id='unknown-error-first-call'),
    pytest.param('nvmlDeviceGetEnforcedPowerLimit', E.NO_PERMISSION, 'Insufficient Permissions (NVMLError_NoPermission)',
                 ('uuid', 'memory_total_mib', 'mig_mode_current'), ('power_limit_w', 'temperature_c'),
                 id='no-permission-power'),
    pytest.param('nvmlDeviceGetNvLinkState', E.GPU_IS_LOST, 'GPU is lost (NVMLError_GpuIsLost)',
                 ('uuid', 'temperature_c', 'power_limit_w'), ('nvlink_active_links',), id='gpu-lost-at-nvlink'),
])
def test_error_on_one_gpu_is_reported_and_others_returned(run_module, function, code, message, kept, lost):
    host = h100_pcie_host()
    host.gpus[2].failures[function] = code
    result = run_module(host)
    _assert_clean(result, host)

    assert result['gpu_count'] == 4
    assert result['errors'] == [{'gpu_index': 2, 'function': function, 'message': message}]
    bad = result['gpus'][2]
    assert bad['error'] == '%s: %s' % (function, message)
    for key in kept:
        assert bad[key] is not None, key
    for key in lost:
        assert bad[key] is None, key
    # Nothing more was asked of the failing GPU after the error.
    failing_call = [c for c in host.calls if c[0] == function and getattr(c[1], 'index', None) == 2]
    assert len(failing_call) == 1
    for gpu in (result['gpus'][0], result['gpus'][1], result['gpus'][3]):
        assert gpu['error'] is None
        assert gpu['memory_total_mib'] == 81559
        assert gpu['nvlink_active_links'] == 12
        assert gpu['temperature_c'] == 35
    # The failing GPU keeps its place in the topology (its handle is valid).
    assert len(result['topology']) == 6


def test_handle_error_leaves_gpu_out_of_topology(run_module):
    host = h100_sxm_host(handle_errors={5: E.GPU_IS_LOST})
    result = run_module(host)
    _assert_clean(result, host)
    assert result['gpu_count'] == 8
    assert result['gpus'][5]['error'] == 'nvmlDeviceGetHandleByIndex: GPU is lost (NVMLError_GpuIsLost)'
    assert result['gpus'][5]['uuid'] is None
    assert result['errors'] == [{'gpu_index': 5, 'function': 'nvmlDeviceGetHandleByIndex',
                                 'message': 'GPU is lost (NVMLError_GpuIsLost)'}]
    assert [gpu['error'] is None for gpu in result['gpus']] == [True] * 5 + [False] + [True] * 2
    pairs = _pairs(result)
    assert len(pairs) == 21  # 7 GPUs
    assert all(5 not in pair for pair in pairs)
    assert set(pairs.values()) == {('nvlink', 18)}
    assert result['nvswitch_present'] is True


def test_topology_error_is_reported_and_pair_kept(run_module):
    host = a30_host(count=2)
    host.gpus[1].failures['nvmlDeviceGetTopologyCommonAncestor'] = E.UNKNOWN
    result = run_module(host)
    _assert_clean(result, host)
    assert result['topology'] == [{'gpu_a': 0, 'gpu_b': 1, 'link': 'unknown', 'nvlink_count': 0,
                                   'via_nvswitch': False, 'pcie': None}]
    assert result['errors'] == [{'gpu_index': 0, 'function': 'nvmlDeviceGetTopologyCommonAncestor',
                                 'message': 'with GPU 1: Unknown Error (NVMLError_Unknown)'}]
    assert [gpu['error'] for gpu in result['gpus']] == [None, None]


def test_host_wide_error_still_shuts_down(run_module):
    host = a30_host(count_error=E.UNKNOWN)
    result = run_module(host)
    _assert_clean(result, host)
    assert result['gpu_count'] == 0
    assert result['gpus'] == []
    assert result['errors'] == [{'gpu_index': None, 'function': 'nvmlDeviceGetCount',
                                 'message': 'Unknown Error (NVMLError_Unknown)'}]


def test_shutdown_error_is_reported(run_module):
    host = a30_host(shutdown_error=E.UNKNOWN)
    result = run_module(host)
    assert result['changed'] is False
    assert result['gpu_count'] == 2
    assert host.shutdown_calls == 1
    assert result['errors'] == [{'gpu_index': None, 'function': 'nvmlShutdown', 'message': 'Unknown Error (NVMLError_Unknown)'}]


# --- Unsupported queries give null ------------------------------------------------------------------

@pytest.mark.parametrize('code', [
    pytest.param(E.NOT_SUPPORTED, id='NotSupported'),
    pytest.param(E.FUNCTION_NOT_FOUND, id='FunctionNotFound'),
])
@pytest.mark.parametrize('functions, fields', [
    pytest.param(('nvmlDeviceGetTemperatureV', 'nvmlDeviceGetTemperature'), ('temperature_c',), id='temperature'),
    pytest.param(('nvmlDeviceGetEnforcedPowerLimit',), ('power_limit_w',), id='power-limit'),
    pytest.param(('nvmlDeviceGetTotalEccErrors',), ('ecc_errors_uncorrected_volatile', 'ecc_errors_uncorrected_aggregate'),
                 id='ecc-counters'),
    pytest.param(('nvmlDeviceGetEccMode',), ('ecc_mode_current', 'ecc_mode_pending'), id='ecc-mode'),
    pytest.param(('nvmlDeviceGetPersistenceMode',), ('persistence_mode',), id='persistence'),
    pytest.param(('nvmlDeviceGetMigMode',), ('mig_mode_current', 'mig_mode_pending'), id='mig'),
    pytest.param(('nvmlDeviceGetMemoryInfo',), ('memory_total_mib', 'memory_used_mib', 'memory_total_bytes'), id='memory'),
    pytest.param(('nvmlDeviceGetCudaComputeCapability',), ('compute_capability',), id='compute-capability'),
])
def test_unsupported_field_is_null(run_module, code, functions, fields):
    host = h100_pcie_host()
    for function in functions:
        host.gpus[1].failures[function] = code
    result = run_module(host)
    _assert_clean(result, host)
    assert result['errors'] == []
    gpu = result['gpus'][1]
    assert gpu['error'] is None
    for field in fields:
        assert gpu[field] is None, field
        assert result['gpus'][0][field] is not None, field
    # The queries after the unsupported one still ran.
    assert gpu['nvlink_active_links'] == 12
    assert gpu['uuid'] == host.gpus[1].uuid


def test_unsupported_max_clock_is_null(run_module):
    host = a30_host(count=1)
    host.gpus[0].failures['nvmlDeviceGetMaxClockInfo'] = E.NOT_SUPPORTED
    result = run_module(host)
    clocks = result['gpus'][0]['clocks']
    assert (clocks['graphics_max_mhz'], clocks['sm_max_mhz'], clocks['memory_max_mhz']) == (None, None, None)
    assert (clocks['graphics_mhz'], clocks['sm_mhz'], clocks['memory_mhz']) == (210, 210, 1215)
    assert result['errors'] == []


@pytest.mark.parametrize('code', [
    pytest.param(E.FUNCTION_NOT_FOUND, id='FunctionNotFound'),
    pytest.param(E.ARGUMENT_VERSION_MISMATCH, id='ArgumentVersionMismatch'),
])
def test_old_driver_temperature_falls_back(run_module, code):
    """A driver without (this version of) nvmlDeviceGetTemperatureV: the deprecated nvmlDeviceGetTemperature answers."""
    host = a30_host(count=1)
    host.gpus[0].failures['nvmlDeviceGetTemperatureV'] = code
    result = run_module(host)
    assert result['errors'] == []
    assert result['gpus'][0]['temperature_c'] == 31
    assert host.count('nvmlDeviceGetTemperature') == 1


def test_old_pynvml_cuda_version_falls_back(run_module):
    host = a30_host(missing={'nvmlSystemGetCudaDriverVersion_v2'}, cuda_version=11080)
    result = run_module(host)
    assert result['cuda_driver_version'] == '11.8'


# --- NVSwitch detection without the remote device type --------------------------------------------------

def test_nvswitch_fallback_when_remote_type_unavailable(run_module):
    """Old pynvml without nvmlDeviceGetNvLinkRemoteDeviceType: switches are the non-GPU peers that GPUs share."""
    host = h100_sxm_host(missing={'nvmlDeviceGetNvLinkRemoteDeviceType'})
    result = run_module(host)
    _assert_clean(result, host)
    assert result['errors'] == []
    assert result['nvswitch_present'] is True
    assert result['nvswitch_detection'] == 'shared_non_gpu_peer'
    assert set(link['remote_device_type'] for gpu in result['gpus'] for link in gpu['nvlinks']) == {None}
    assert set(_pairs(result).values()) == {('nvlink', 18)}


def test_nvswitch_fallback_not_fooled_by_gpu_peers(run_module):
    """Bridged GPU pairs without the remote type: the peers are GPUs, so no NVSwitch."""
    host = h100_pcie_host(missing={'nvmlDeviceGetNvLinkRemoteDeviceType'})
    result = run_module(host)
    assert result['nvswitch_present'] is False
    assert result['nvswitch_detection'] is None
    assert _pairs(result)[(0, 1)] == ('nvlink', 12)


def test_single_gpu_link_to_unknown_peer_is_not_a_switch(run_module):
    """One GPU linked to a device that is not a visible GPU (type unknown to NVML) is not enough."""
    host = a30_host(count=2, missing={'nvmlDeviceGetNvLinkRemoteDeviceType'})
    host.gpus[0].nvlinks[0] = FakeLink(remote_bus_id='00000000:E1:00.0')
    result = run_module(host)
    assert result['gpus'][0]['nvlink_active_links'] == 1
    assert result['nvswitch_present'] is False
    assert _pairs(result) == {(0, 1): ('pcie_system', 0)}


# --- Options, check mode, changed --------------------------------------------------------------

def test_include_topology_false(run_module):
    host = h100_sxm_host()
    result = run_module(host, {'include_topology': False})
    _assert_clean(result, host)
    assert result['topology'] == []
    assert host.count('nvmlDeviceGetTopologyCommonAncestor') == 0
    assert result['nvswitch_present'] is True
    assert result['gpus'][0]['nvlink_active_links'] == 18


@pytest.mark.parametrize('make_host', [a30_host, h100_pcie_host, h100_sxm_host, lambda: FakeHost(init_error=E.DRIVER_NOT_LOADED)])
def test_check_mode_is_the_same_and_never_changed(run_module, make_host):
    normal = run_module(make_host())
    checked = run_module(make_host(), {'_ansible_check_mode': True})
    assert normal['changed'] is False
    assert checked['changed'] is False
    assert checked == normal


def test_unknown_option_fails(run_module):
    result = run_module(a30_host(), {'gpus': [0]})
    assert result['failed'] is True
    assert 'gpus' in result['msg']


# --- pynvml missing --------------------------------------------------------------------------------

def test_pynvml_missing_fails_with_missing_required_lib(run_module):
    result = run_module(None)
    assert result['failed'] is True
    assert 'Failed to import the required Python library (nvidia-ml-py)' in result['msg']
    assert 'https://pypi.org/project/nvidia-ml-py/' in result['msg']
    assert 'pynvml' in result['exception']
    assert 'Error' in result['exception']  # the ImportError / ModuleNotFoundError traceback


# --- pci_devices from sysfs -----------------------------------------------------------------------

def _pci_device(root, name, vendor, pci_class, device='0x2330', driver=None):
    path = root / name
    path.mkdir()
    (path / 'vendor').write_text(vendor + '\n')
    (path / 'class').write_text(pci_class + '\n')
    (path / 'device').write_text(device + '\n')
    if driver:
        drivers = root.parent / 'drivers' / driver
        drivers.mkdir(parents=True, exist_ok=True)
        os.symlink(str(drivers), str(path / 'driver'))


def _sysfs(tmp_path):
    root = tmp_path / 'devices'
    root.mkdir()
    _pci_device(root, '0000:18:00.0', '0x10de', '0x030200', driver='nvidia')  # 3D controller (H100)
    _pci_device(root, '0000:2a:00.0', '0x10de', '0x030000')  # VGA controller, no driver bound
    _pci_device(root, '0000:05:00.0', '0x10de', '0x068000', device='0x22a3')  # NVSwitch: a bridge
    _pci_device(root, '0000:18:00.1', '0x10de', '0x040300')  # HDMI audio function
    _pci_device(root, '0000:00:02.0', '0x8086', '0x030000')  # Intel graphics
    (root / '0000:99:00.0').mkdir()  # an entry without readable attributes
    return str(root)


SYSFS_GPUS = [
    {'pci_bus_id': '0000:18:00.0', 'device_id': '0x2330', 'driver': 'nvidia'},
    {'pci_bus_id': '0000:2a:00.0', 'device_id': '0x2330', 'driver': None},
]


def test_pci_devices_listed_without_driver(run_module, tmp_path):
    result = run_module(FakeHost(init_error=E.LIBRARY_NOT_FOUND), sysfs=_sysfs(tmp_path))
    assert result['driver_present'] is False
    assert result['gpu_count'] == 0
    assert result['pci_devices'] == SYSFS_GPUS


def test_pci_devices_listed_with_driver(run_module, tmp_path):
    result = run_module(a30_host(count=1), sysfs=_sysfs(tmp_path))
    assert result['gpu_count'] == 1
    assert result['pci_devices'] == SYSFS_GPUS


def test_pci_devices_without_sysfs(load_modules, tmp_path):
    utils, dummy = load_modules(make_fake_pynvml(FakeHost()))
    assert utils.list_nvidia_pci_devices(str(tmp_path / 'absent')) == []


def test_pci_devices_empty_in_module_result_by_default(run_module):
    result = run_module(a30_host())
    assert result['pci_devices'] == []


# --- Pure helpers -------------------------------------------------------------------------------

@pytest.mark.parametrize('raw, expected', [
    (12040, '12.4'), (12080, '12.8'), (12090, '12.9'), (11020, '11.2'), (13000, '13.0'), (None, None),
])
def test_format_cuda_version(load_modules, raw, expected):
    utils, dummy = load_modules(make_fake_pynvml(FakeHost()))
    assert utils.format_cuda_version(raw) == expected


@pytest.mark.parametrize('raw, expected', [
    ('00000000:17:00.0', '0000:17:00.0'),
    ('0000:CA:00.0', '0000:ca:00.0'),
    (b'00000001:3D:00.0', '0001:3d:00.0'),
    ('00000000:00:00.0', None),
    ('', None),
    (None, None),
    ('garbage', 'garbage'),
])
def test_normalize_bus_id(load_modules, raw, expected):
    utils, dummy = load_modules(make_fake_pynvml(FakeHost()))
    assert utils.normalize_bus_id(raw) == expected


# --- The fake against the real pynvml ---------------------------------------------------------------

@pytest.fixture
def real_pynvml(monkeypatch):
    """The installed nvidia-ml-py, imported fresh (other tests leave a fake in sys.modules only while they run)."""
    monkeypatch.delitem(sys.modules, 'pynvml', raising=False)
    try:
        return importlib.import_module('pynvml')
    except ImportError:
        pytest.skip('nvidia-ml-py is not installed')


def test_fake_mirrors_real_pynvml(real_pynvml):
    fake = make_fake_pynvml(FakeHost())
    for name, value in list(ERROR_CODES.items()) + list(CONSTANTS.items()):
        assert getattr(real_pynvml, name) == value, name
    for name in dir(fake):
        if name.startswith('NVMLError_'):
            assert issubclass(getattr(real_pynvml, name), real_pynvml.NVMLError), name
    for code in ERROR_CODES.values():
        real_error = real_pynvml.NVMLError(code)
        fake_error = fake.NVMLError(code)
        assert type(real_error).__name__ == type(fake_error).__name__
        assert real_error.value == fake_error.value == code
    assert isinstance(fake.NVMLError_NotSupported(), fake.NVMLError)
    assert fake.NVMLError_NotSupported().value == E.NOT_SUPPORTED
    for function in FUNCTIONS:
        real_params = inspect.signature(getattr(real_pynvml, function)).parameters
        fake_params = inspect.signature(getattr(fake, function)).parameters
        assert list(real_params) == list(fake_params), function


def test_module_utils_only_calls_functions_of_real_pynvml(real_pynvml):
    """Every NVML function the module_utils names is faked here and exists in the real library."""
    source = inspect.getsource(importlib.import_module(MODULE_UTILS))
    used = set(re.findall(r"'(nvml[A-Za-z0-9_]+)'", source)) | set(re.findall(r'pynvml\.(nvml[A-Za-z0-9_]+)', source))
    assert used, 'no NVML function found in the module_utils source'
    assert used <= set(FUNCTIONS), used - set(FUNCTIONS)
    for function in used:
        assert hasattr(real_pynvml, function), function


def test_real_pynvml_on_this_host(real_pynvml, load_modules):
    """The real library, no fake: a host without a driver reports driver_present false with a reason."""
    utils, dummy = load_modules(real_pynvml)
    result = utils.query(include_topology=True)
    if result['driver_present']:
        assert result['reason'] is None
        assert result['gpu_count'] == len(result['gpus'])
        assert result['driver_version']
    else:
        assert result['reason'].startswith('nvmlInit failed: ')
        assert 'NVMLError_' in result['reason']
        assert result['gpu_count'] == 0
        assert result['gpus'] == []
