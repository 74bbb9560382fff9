# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Read-only NVML queries for ``onprem.deepseek.nvml_info``.

Everything here talks to the hardware only through ``pynvml`` (the ``nvidia-ml-py``
package), imported once below. The functions return plain dicts and lists; they never
touch ``AnsibleModule``, so they can be unit-tested with a fake ``pynvml`` module.

Error policy:

* ``nvmlInit`` failing (no library, no driver, no permission...) is not an error of the
  module: the result says ``driver_present: false`` and gives the reason.
* A query the device or the driver does not support (``NVMLError_NotSupported``,
  ``NVMLError_FunctionNotFound``, or a function this ``pynvml`` does not have) yields
  ``None`` for that field.
* Any other NVML error on a device stops the queries of that device only: its entry
  keeps what was read so far, gets an ``error`` string, and the error is listed in
  ``errors``. The other devices are still queried.
* ``nvmlShutdown`` is always called after a successful ``nvmlInit``.
"""

from __future__ import annotations

import os
import traceback

try:
    import pynvml
except ImportError:
    pynvml = None
    HAS_PYNVML = False
    PYNVML_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_PYNVML = True
    PYNVML_IMPORT_ERROR = None


MIB = 1024 * 1024

# nvmlGpuTopologyLevel_t -> the value of ``pcie`` / ``link`` in a topology entry.
# Fallback numbers are the ones of nvml.h, for a pynvml that lacks the constants.
_TOPOLOGY_LEVELS = (
    ('NVML_TOPOLOGY_INTERNAL', 0, 'pcie_internal'),
    ('NVML_TOPOLOGY_SINGLE', 10, 'pcie_single'),
    ('NVML_TOPOLOGY_MULTIPLE', 20, 'pcie_multiple'),
    ('NVML_TOPOLOGY_HOSTBRIDGE', 30, 'pcie_hostbridge'),
    ('NVML_TOPOLOGY_NODE', 40, 'pcie_node'),
    ('NVML_TOPOLOGY_SYSTEM', 50, 'pcie_system'),
)

# nvmlIntNvLinkDeviceType_t -> the value of ``remote_device_type`` of an NVLink.
_NVLINK_DEVICE_TYPES = (
    ('NVML_NVLINK_DEVICE_TYPE_GPU', 0x00, 'gpu'),
    ('NVML_NVLINK_DEVICE_TYPE_IBMNPU', 0x01, 'ibmnpu'),
    ('NVML_NVLINK_DEVICE_TYPE_SWITCH', 0x02, 'switch'),
    ('NVML_NVLINK_DEVICE_TYPE_UNKNOWN', 0xFF, 'unknown'),
)

# nvmlClockType_t for the ``clocks`` dict: (key prefix, constant name, fallback value).
_CLOCKS = (
    ('graphics', 'NVML_CLOCK_GRAPHICS', 0),
    ('sm', 'NVML_CLOCK_SM', 1),
    ('memory', 'NVML_CLOCK_MEM', 2),
)

# The keys of a GPU entry, all present in every entry (None when unknown).
GPU_KEYS = (
    'index', 'uuid', 'name', 'pci_bus_id',
    'memory_total_bytes', 'memory_used_bytes', 'memory_total_mib', 'memory_used_mib',
    'compute_capability', 'persistence_mode',
    'ecc_mode_current', 'ecc_mode_pending', 'ecc_errors_uncorrected_volatile', 'ecc_errors_uncorrected_aggregate',
    'mig_mode_current', 'mig_mode_pending',
    'power_limit_w', 'temperature_c', 'clocks',
    'nvlink_active_links', 'nvlinks', 'error',
)

# PCI vendor id of NVIDIA and the PCI classes of GPUs (VGA controller, 3D controller).
PCI_VENDOR_NVIDIA = 0x10de
PCI_GPU_CLASSES = (0x0300, 0x0302)
SYSFS_PCI_DEVICES = '/sys/bus/pci/devices'

NVSWITCH_BY_REMOTE_DEVICE_TYPE = 'remote_device_type'
NVSWITCH_BY_SHARED_NON_GPU_PEER = 'shared_non_gpu_peer'


class NvmlCallError(Exception):
    """An NVML call failed with an error that is not 'unsupported'."""

    def __init__(self, function, error):
        super().__init__('%s: %s' % (function, describe_error(error)))
        self.function = function
        self.error = error


def _const(name, default):
    return getattr(pynvml, name, default)


def describe_error(error):
    """Return 'message (NVMLError_Class)' for an NVMLError, str(error) otherwise."""
    message = str(error)
    name = type(error).__name__
    if name.startswith('NVMLError'):
        return '%s (%s)' % (message, name)
    return message


def _error_classes(*names):
    return tuple(getattr(pynvml, name) for name in names if isinstance(getattr(pynvml, name, None), type))


def _is_unsupported(error):
    """NotSupported from the device, or FunctionNotFound from an older driver."""
    return isinstance(error, _error_classes('NVMLError_NotSupported', 'NVMLError_FunctionNotFound'))


def _text(value):
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return value


def call(function, *args):
    """Call ``pynvml.<function>(*args)``.

    Return None when the query is unsupported (by the device, the driver or this pynvml);
    raise NvmlCallError for any other NVMLError.
    """
    func = getattr(pynvml, function, None)
    if func is None:
        return None
    try:
        return func(*args)
    except pynvml.NVMLError as exc:
        if _is_unsupported(exc):
            return None
        raise NvmlCallError(function, exc) from exc


def call_first(functions, *args):
    """Like call() over several equivalent functions: the first that is available answers."""
    for function in functions:
        func = getattr(pynvml, function, None)
        if func is None:
            continue
        try:
            return func(*args)
        except pynvml.NVMLError as exc:
            # A versioned entry point whose struct version this driver does not take: try the next one.
            if _is_unsupported(exc) or isinstance(exc, _error_classes('NVMLError_ArgumentVersionMismatch')):
                continue
            raise NvmlCallError(function, exc) from exc
    return None


def format_cuda_version(version):
    """12040 -> '12.4' (nvmlSystemGetCudaDriverVersion encodes major * 1000 + minor * 10)."""
    if version is None:
        return None
    version = int(version)
    return '%d.%d' % (version // 1000, (version % 1000) // 10)


def normalize_bus_id(bus_id):
    """Canonical form of a PCI bus id for comparisons ('00000000:17:00.0' -> '0000:17:00.0').

    Return None for an empty or all-zero id (what NVML may report for an unknown peer).
    """
    text = _text(bus_id)
    if not text:
        return None
    text = text.strip().lower()
    parts = text.split(':')
    if len(parts) == 3:
        try:
            domain = int(parts[0], 16)
            bus = int(parts[1], 16)
            dev, dummy, fn = parts[2].partition('.')
            device = int(dev, 16)
            function = int(fn or '0', 16)
        except ValueError:
            return text
        if domain == bus == device == function == 0:
            return None
        return '%04x:%02x:%02x.%x' % (domain, bus, device, function)
    return text


def _enabled(value):
    if value is None:
        return None
    return bool(value == _const('NVML_FEATURE_ENABLED', 1))


def _mig_enabled(value):
    if value is None:
        return None
    return bool(value == _const('NVML_DEVICE_MIG_ENABLE', 1))


def _pair(value):
    if value is None:
        return None, None
    return value[0], value[1]


def topology_level_name(level):
    """nvmlGpuTopologyLevel_t -> 'pcie_single', ... (None for None or an unknown level)."""
    if level is None:
        return None
    for name, default, label in _TOPOLOGY_LEVELS:
        if level == _const(name, default):
            return label
    return None


def nvlink_device_type_name(device_type):
    if device_type is None:
        return None
    for name, default, label in _NVLINK_DEVICE_TYPES:
        if device_type == _const(name, default):
            return label
    return 'unknown'


def empty_result():
    return {
        'driver_present': False,
        'reason': None,
        'driver_version': None,
        'cuda_driver_version': None,
        'gpu_count': 0,
        'gpus': [],
        'topology': [],
        'nvswitch_present': False,
        'nvswitch_detection': None,
        'errors': [],
        'pci_devices': [],
    }


def empty_gpu(index):
    gpu = dict((key, None) for key in GPU_KEYS)
    gpu['index'] = index
    gpu['clocks'] = {
        'graphics_mhz': None, 'sm_mhz': None, 'memory_mhz': None,
        'graphics_max_mhz': None, 'sm_max_mhz': None, 'memory_max_mhz': None,
    }
    gpu['nvlinks'] = []
    return gpu


def _error_entry(gpu_index, exc):
    return {'gpu_index': gpu_index, 'function': exc.function, 'message': describe_error(exc.error)}


def query_nvlinks(handle):
    """Return (active link count or None when the device has no NVLink, list of active links)."""
    invalid_argument = _error_classes('NVMLError_InvalidArgument')
    get_state = getattr(pynvml, 'nvmlDeviceGetNvLinkState', None)
    if get_state is None:
        return None, []
    supported = False
    links = []
    for link in range(_const('NVML_NVLINK_MAX_LINKS', 18)):
        try:
            state = get_state(handle, link)
        except pynvml.NVMLError as exc:
            # Links past the device's own link count answer NotSupported or InvalidArgument.
            if _is_unsupported(exc) or isinstance(exc, invalid_argument):
                continue
            raise NvmlCallError('nvmlDeviceGetNvLinkState', exc) from exc
        supported = True
        if state != _const('NVML_FEATURE_ENABLED', 1):
            continue
        pci = call('nvmlDeviceGetNvLinkRemotePciInfo', handle, link)
        remote_bus_id = _text(pci.busId) if pci is not None else None
        if normalize_bus_id(remote_bus_id) is None:
            remote_bus_id = None
        links.append({
            'link': link,
            'remote_pci_bus_id': remote_bus_id,
            'remote_device_type': nvlink_device_type_name(call('nvmlDeviceGetNvLinkRemoteDeviceType', handle, link)),
            'remote_gpu_index': None,
        })
    if not supported:
        return None, []
    return len(links), links


def query_gpu(handle, gpu):
    """Fill the GPU entry ``gpu`` in place from NVML; raise NvmlCallError on the first real error."""
    gpu['uuid'] = _text(call('nvmlDeviceGetUUID', handle))
    gpu['name'] = _text(call('nvmlDeviceGetName', handle))
    pci = call_first(('nvmlDeviceGetPciInfo_v3', 'nvmlDeviceGetPciInfo'), handle)
    gpu['pci_bus_id'] = _text(pci.busId) if pci is not None else None

    memory = call('nvmlDeviceGetMemoryInfo', handle)
    if memory is not None:
        gpu['memory_total_bytes'] = int(memory.total)
        gpu['memory_used_bytes'] = int(memory.used)
        gpu['memory_total_mib'] = int(memory.total) // MIB
        gpu['memory_used_mib'] = int(memory.used) // MIB

    capability = call('nvmlDeviceGetCudaComputeCapability', handle)
    if capability is not None:
        gpu['compute_capability'] = '%d.%d' % (capability[0], capability[1])

    gpu['persistence_mode'] = _enabled(call('nvmlDeviceGetPersistenceMode', handle))

    ecc_current, ecc_pending = _pair(call('nvmlDeviceGetEccMode', handle))
    gpu['ecc_mode_current'] = _enabled(ecc_current)
    gpu['ecc_mode_pending'] = _enabled(ecc_pending)
    uncorrected = _const('NVML_MEMORY_ERROR_TYPE_UNCORRECTED', 1)
    gpu['ecc_errors_uncorrected_volatile'] = call(
        'nvmlDeviceGetTotalEccErrors', handle, uncorrected, _const('NVML_VOLATILE_ECC', 0))
    gpu['ecc_errors_uncorrected_aggregate'] = call(
        'nvmlDeviceGetTotalEccErrors', handle, uncorrected, _const('NVML_AGGREGATE_ECC', 1))

    mig_current, mig_pending = _pair(call('nvmlDeviceGetMigMode', handle))
    gpu['mig_mode_current'] = _mig_enabled(mig_current)
    gpu['mig_mode_pending'] = _mig_enabled(mig_pending)

    power_mw = call('nvmlDeviceGetEnforcedPowerLimit', handle)
    gpu['power_limit_w'] = power_mw / 1000.0 if power_mw is not None else None

    gpu['temperature_c'] = call_first(
        ('nvmlDeviceGetTemperatureV', 'nvmlDeviceGetTemperature'), handle, _const('NVML_TEMPERATURE_GPU', 0))

    for key, name, default in _CLOCKS:
        clock_type = _const(name, default)
        gpu['clocks'][key + '_mhz'] = call('nvmlDeviceGetClockInfo', handle, clock_type)
        gpu['clocks'][key + '_max_mhz'] = call('nvmlDeviceGetMaxClockInfo', handle, clock_type)

    gpu['nvlink_active_links'], gpu['nvlinks'] = query_nvlinks(handle)


def link_remote_gpus(gpus):
    """Set ``remote_gpu_index`` of every NVLink whose remote PCI bus id is one of the GPUs."""
    by_bus = {}
    for gpu in gpus:
        bus = normalize_bus_id(gpu['pci_bus_id'])
        if bus is not None:
            by_bus[bus] = gpu['index']
    for gpu in gpus:
        for link in gpu['nvlinks']:
            link['remote_gpu_index'] = by_bus.get(normalize_bus_id(link['remote_pci_bus_id']))


def detect_nvswitch(gpus):
    """Return (nvswitch_present, how it was detected, set of switch bus ids found by the fallback).

    1. Authoritative: an active NVLink whose remote device type (nvmlDeviceGetNvLinkRemoteDeviceType)
       is NVML_NVLINK_DEVICE_TYPE_SWITCH.
    2. Fallback, only over links whose remote type NVML could not report (old driver or pynvml):
       a remote PCI device that is not one of the GPUs and that active NVLinks of at least two
       different GPUs reach is taken to be an NVSwitch. A GPU hidden from NVML (for example by a
       container's device list) could in principle look the same; the detection method is returned
       so that callers can tell the two cases apart.
    """
    for gpu in gpus:
        for link in gpu['nvlinks']:
            if link['remote_device_type'] == 'switch':
                return True, NVSWITCH_BY_REMOTE_DEVICE_TYPE, set()
    reached_by = {}
    for gpu in gpus:
        for link in gpu['nvlinks']:
            if link['remote_device_type'] is not None or link['remote_gpu_index'] is not None:
                continue
            bus = normalize_bus_id(link['remote_pci_bus_id'])
            if bus is not None:
                reached_by.setdefault(bus, set()).add(gpu['index'])
    switches = set(bus for bus, reached in reached_by.items() if len(reached) >= 2)
    if switches:
        return True, NVSWITCH_BY_SHARED_NON_GPU_PEER, switches
    return False, None, set()


def _is_switch_link(link, fallback_switches):
    if link['remote_device_type'] == 'switch':
        return True
    return link['remote_device_type'] is None and normalize_bus_id(link['remote_pci_bus_id']) in fallback_switches


def build_topology(handles, gpus, fallback_switches, errors):
    """Return the list of GPU pairs with their link kind.

    ``handles`` maps a GPU index to its NVML handle (GPUs without a handle are left out).
    Direct NVLinks are counted from both ends (the larger count wins). Two GPUs that both
    have NVLinks to NVSwitches are taken to share the host's NVSwitch fabric; their
    ``nvlink_count`` adds the smaller of their two switch link counts (the NV18 of
    ``nvidia-smi topo -m`` on an 8x H100 SXM board).
    """
    by_index = dict((gpu['index'], gpu) for gpu in gpus)
    switch_links = {}
    for gpu in gpus:
        switch_links[gpu['index']] = sum(1 for link in gpu['nvlinks'] if _is_switch_link(link, fallback_switches))

    def direct(src, dst):
        return sum(1 for link in by_index[src]['nvlinks'] if link['remote_gpu_index'] == dst)

    indexes = sorted(handles)
    topology = []
    for pos, gpu_a in enumerate(indexes):
        for gpu_b in indexes[pos + 1:]:
            try:
                level = call('nvmlDeviceGetTopologyCommonAncestor', handles[gpu_a], handles[gpu_b])
            except NvmlCallError as exc:
                level = None
                entry = _error_entry(gpu_a, exc)
                entry['message'] = 'with GPU %d: %s' % (gpu_b, entry['message'])
                errors.append(entry)
            pcie = topology_level_name(level)
            via_nvswitch = switch_links[gpu_a] > 0 and switch_links[gpu_b] > 0
            nvlink_count = max(direct(gpu_a, gpu_b), direct(gpu_b, gpu_a))
            if via_nvswitch:
                nvlink_count += min(switch_links[gpu_a], switch_links[gpu_b])
            if nvlink_count:
                link = 'nvlink'
            else:
                link = pcie or 'unknown'
            topology.append({
                'gpu_a': gpu_a,
                'gpu_b': gpu_b,
                'link': link,
                'nvlink_count': nvlink_count,
                'via_nvswitch': via_nvswitch,
                'pcie': pcie,
            })
    return topology


def _read_sysfs(path):
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read().strip()
    except OSError:
        return None


def list_nvidia_pci_devices(root=None):
    """NVIDIA GPUs on the PCI bus, read from sysfs: works without any NVIDIA driver.

    Returns a list of {pci_bus_id, device_id, driver} sorted by bus id; empty where ``root``
    does not exist (not Linux, no sysfs).
    """
    root = root or SYSFS_PCI_DEVICES
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    devices = []
    for name in names:
        path = os.path.join(root, name)
        vendor = _read_sysfs(os.path.join(path, 'vendor'))
        pci_class = _read_sysfs(os.path.join(path, 'class'))
        try:
            if int(vendor, 16) != PCI_VENDOR_NVIDIA or (int(pci_class, 16) >> 8) not in PCI_GPU_CLASSES:
                continue
        except (TypeError, ValueError):
            continue
        driver_link = os.path.join(path, 'driver')
        driver = os.path.basename(os.path.realpath(driver_link)) if os.path.islink(driver_link) else None
        devices.append({
            'pci_bus_id': name,
            'device_id': _read_sysfs(os.path.join(path, 'device')),
            'driver': driver,
        })
    return devices


def _query_initialised(result, include_topology):
    errors = result['errors']
    try:
        result['driver_version'] = _text(call('nvmlSystemGetDriverVersion'))
    except NvmlCallError as exc:
        errors.append(_error_entry(None, exc))
    try:
        result['cuda_driver_version'] = format_cuda_version(
            call_first(('nvmlSystemGetCudaDriverVersion_v2', 'nvmlSystemGetCudaDriverVersion')))
    except NvmlCallError as exc:
        errors.append(_error_entry(None, exc))

    try:
        count = call('nvmlDeviceGetCount')
    except NvmlCallError as exc:
        errors.append(_error_entry(None, exc))
        count = None
    result['gpu_count'] = int(count or 0)

    handles = {}
    for index in range(result['gpu_count']):
        gpu = empty_gpu(index)
        result['gpus'].append(gpu)
        try:
            handle = call('nvmlDeviceGetHandleByIndex', index)
            if handle is None:
                raise NvmlCallError('nvmlDeviceGetHandleByIndex', 'no handle returned')
            handles[index] = handle
            query_gpu(handle, gpu)
        except NvmlCallError as exc:
            gpu['error'] = str(exc)
            errors.append(_error_entry(index, exc))

    link_remote_gpus(result['gpus'])
    present, detection, fallback_switches = detect_nvswitch(result['gpus'])
    result['nvswitch_present'] = present
    result['nvswitch_detection'] = detection
    if include_topology:
        result['topology'] = build_topology(handles, result['gpus'], fallback_switches, errors)


def query(include_topology=True, pci_root=None):
    """Query NVML and return the module result (without ``changed``).

    The caller must have checked HAS_PYNVML. ``pci_root`` is the sysfs directory that
    ``pci_devices`` is read from (default SYSFS_PCI_DEVICES).
    """
    result = empty_result()
    result['pci_devices'] = list_nvidia_pci_devices(pci_root)
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        result['reason'] = 'nvmlInit failed: %s' % describe_error(exc)
        return result
    result['driver_present'] = True
    try:
        _query_initialised(result, include_topology)
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError as exc:
            result['errors'].append(_error_entry(None, NvmlCallError('nvmlShutdown', exc)))
    return result
