# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The real pynvml (nvidia-ml-py, ctypes) against a stub libnvidia-ml.so.1 compiled here.

The fake pynvml of tests/unit/plugins/modules/conftest.py checks the logic; this checks that the
code also works with pynvml's real return types (ctypes structures, decoded strings, lists and
tuples), real C symbol names (``nvmlDeviceGetCount_v2``, ``nvmlDeviceGetPciInfo_v3``...) and real
error mapping (an absent C symbol becomes NVMLError_FunctionNotFound). The stub is a small C
library with two H100-like GPUs; when ``nvml.h`` is found (``NVML_INCLUDE_DIR``, the
``nvidia-nvml-dev`` wheel, /usr/include, /usr/local/cuda/include) the stub is compiled against it,
so its signatures and structures are checked by the compiler.

Each query runs in a child process: pynvml loads libnvidia-ml.so.1 once per process, from
LD_LIBRARY_PATH. Skipped where gcc or nvidia-ml-py is missing.
"""

from __future__ import annotations

import glob
import importlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

MODULE_UTILS = 'ansible_collections.onprem.deepseek.plugins.module_utils._nvml'


def _collections_root():
    """The directory holding ansible_collections/onprem/deepseek (as imported, symlinks kept)."""
    path = importlib.import_module(MODULE_UTILS).__file__
    for dummy in range(6):  # _nvml.py, module_utils, plugins, deepseek, onprem, ansible_collections
        path = os.path.dirname(path)
    return path


COLLECTIONS = _collections_root()

STUB_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef USE_NVML_H
#include <nvml.h>
#else
typedef int nvmlReturn_t;
typedef int nvmlEnableState_t;
typedef int nvmlMemoryErrorType_t;
typedef int nvmlEccCounterType_t;
typedef int nvmlTemperatureSensors_t;
typedef int nvmlClockType_t;
typedef int nvmlGpuTopologyLevel_t;
typedef int nvmlIntNvLinkDeviceType_t;
typedef struct nvmlPciInfo_st {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;
typedef struct nvmlMemory_st { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
#endif

struct nvmlDevice_st { int index; const char *name, *uuid, *bus; unsigned long long memory; };
static struct nvmlDevice_st gpus[2] = {
    {0, "NVIDIA H100 80GB HBM3", "GPU-00000000-0000-4000-8000-000000000000", "00000000:18:00.0", 85520809984ULL},
    {1, "NVIDIA H100 80GB HBM3", "GPU-00000000-0000-4000-8000-000000000001", "00000000:2A:00.0", 85520809984ULL},
};
static int initialised = 0;

static int mode_is(const char *mode) {
    const char *env = getenv("STUB_NVML_MODE");
    return env != NULL && strcmp(env, mode) == 0;
}

static void log_call(const char *what) {
    const char *path = getenv("STUB_NVML_LOG");
    if (path != NULL) {
        FILE *log = fopen(path, "a");
        if (log != NULL) { fprintf(log, "%s\n", what); fclose(log); }
    }
}

#define NEED_INIT if (!initialised) return 1 /* NVML_ERROR_UNINITIALIZED */

static void fill_pci(nvmlPciInfo_t *pci, const char *bus) {
    memset(pci, 0, sizeof(*pci));
    snprintf(pci->busId, sizeof(pci->busId), "%s", bus);
    snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%s", bus + 4);
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    log_call("init");
    if (mode_is("nodriver")) return 9; /* NVML_ERROR_DRIVER_NOT_LOADED */
    initialised++;
    return 0;
}
nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlShutdown(void) { log_call("shutdown"); NEED_INIT; initialised--; return 0; }
const char *nvmlErrorString(nvmlReturn_t result) { (void)result; return "stub error"; }

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    NEED_INIT; snprintf(version, length, "550.54.15"); return 0;
}
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version) { NEED_INIT; *version = 12040; return 0; }
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) { NEED_INIT; *count = 2; return 0; }
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    NEED_INIT; if (index >= 2) return 2; *device = &gpus[index]; return 0;
}
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    NEED_INIT; snprintf(uuid, length, "%s", device->uuid); return 0;
}
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    NEED_INIT; snprintf(name, length, "%s", device->name); return 0;
}
nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci) {
    NEED_INIT; fill_pci(pci, device->bus); return 0;
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    NEED_INIT;
    if (mode_is("lost") && device->index == 1) return 15; /* NVML_ERROR_GPU_IS_LOST */
    memory->total = device->memory; memory->used = 1048576ULL * 534; memory->free = memory->total - memory->used;
    return 0;
}
nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor) {
    NEED_INIT; (void)device; *major = 9; *minor = 0; return 0;
}
nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, nvmlEnableState_t *mode) {
    NEED_INIT; (void)device; *mode = 1; return 0;
}
nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t device, nvmlEnableState_t *current, nvmlEnableState_t *pending) {
    NEED_INIT; (void)device; *current = 1; *pending = 1; return 0;
}
nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t device, nvmlMemoryErrorType_t type, nvmlEccCounterType_t counter,
                                         unsigned long long *count) {
    NEED_INIT; (void)device;
    /* uncorrected (1) aggregate (1): 2; corrected: 99, which must never show up as uncorrected */
    *count = type == 1 ? (counter == 1 ? 2 : 0) : 99;
    return 0;
}
nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending) {
    NEED_INIT; *current = device->index == 1; *pending = device->index == 1; return 0;
}
nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit) {
    NEED_INIT; if (device->index == 1) return 3; /* NVML_ERROR_NOT_SUPPORTED */
    *limit = 700000; return 0;
}
/* nvmlDeviceGetTemperatureV is left out on purpose: an older driver. pynvml raises FunctionNotFound. */
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensor, unsigned int *temp) {
    NEED_INIT; if (sensor != 0) return 2; *temp = 40 + device->index; return 0;
}
nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock) {
    static const unsigned int clocks[] = {345, 345, 2619, 765};
    NEED_INIT; (void)device; if (type < 0 || type > 3) return 2; *clock = clocks[type]; return 0;
}
nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int *clock) {
    static const unsigned int clocks[] = {1980, 1980, 2619, 1545};
    NEED_INIT; (void)device; if (type < 0 || type > 3) return 2; *clock = clocks[type]; return 0;
}
/* 18 links; links 0-3 active, to the other GPU. */
nvmlReturn_t nvmlDeviceGetNvLinkState(nvmlDevice_t device, unsigned int link, nvmlEnableState_t *active) {
    NEED_INIT; (void)device; if (link >= 18) return 2; *active = link < 4; return 0;
}
nvmlReturn_t nvmlDeviceGetNvLinkRemotePciInfo_v2(nvmlDevice_t device, unsigned int link, nvmlPciInfo_t *pci) {
    NEED_INIT; if (link >= 18) return 2; fill_pci(pci, gpus[1 - device->index].bus); return 0;
}
nvmlReturn_t nvmlDeviceGetNvLinkRemoteDeviceType(nvmlDevice_t device, unsigned int link, nvmlIntNvLinkDeviceType_t *type) {
    NEED_INIT; (void)device; if (link >= 18) return 2; *type = 0; /* GPU */ return 0;
}
nvmlReturn_t nvmlDeviceGetTopologyCommonAncestor(nvmlDevice_t a, nvmlDevice_t b, nvmlGpuTopologyLevel_t *level) {
    NEED_INIT; (void)a; (void)b; *level = 40; /* NVML_TOPOLOGY_NODE */ return 0;
}
"""

QUERY = (
    'import json, sys\n'
    'sys.path.insert(0, sys.argv[1])\n'
    'from %s import query\n'
    'print(json.dumps(query()))\n' % MODULE_UTILS
)


def _find_nvml_h():
    candidates = []
    if os.environ.get('NVML_INCLUDE_DIR'):
        candidates.append(os.environ['NVML_INCLUDE_DIR'])
    for paths_key in ('purelib', 'platlib'):
        candidates.extend(glob.glob(os.path.join(sysconfig.get_paths()[paths_key], 'nvidia', '*', 'include')))
        candidates.append(os.path.join(sysconfig.get_paths()[paths_key], 'nvidia', 'include'))
    candidates.extend(['/usr/include', '/usr/local/cuda/include'])
    for directory in candidates:
        if os.path.isfile(os.path.join(directory, 'nvml.h')):
            return directory
    return None


@pytest.fixture(scope='module')
def stub_library(tmp_path_factory):
    """Compile the stub into DIR/libnvidia-ml.so.1 and return DIR."""
    gcc = shutil.which('gcc') or shutil.which('cc')
    if gcc is None:
        pytest.skip('no C compiler to build the libnvidia-ml stub')
    try:
        import pynvml  # pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        pytest.skip('nvidia-ml-py is not installed')
    directory = tmp_path_factory.mktemp('nvml-stub')
    source = directory / 'stub.c'
    source.write_text(STUB_C)
    cmd = [gcc, '-shared', '-fPIC', '-Wall', '-Werror', '-Wno-deprecated-declarations', '-o',
           str(directory / 'libnvidia-ml.so.1'), str(source)]
    include = _find_nvml_h()
    if include:
        cmd[1:1] = ['-DUSE_NVML_H', '-I', include]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout
    return directory


def _query(stub_dir, mode):
    env = dict(os.environ)
    env['LD_LIBRARY_PATH'] = str(stub_dir) + os.pathsep + env.get('LD_LIBRARY_PATH', '')
    env['STUB_NVML_MODE'] = mode
    log = stub_dir / ('calls-%s.log' % mode)
    if log.exists():
        log.unlink()
    env['STUB_NVML_LOG'] = str(log)
    proc = subprocess.run([sys.executable, '-c', QUERY, COLLECTIONS], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().split() if log.exists() else []
    return json.loads(proc.stdout), calls


def test_stub_is_built_as_nvml(stub_library):
    assert (stub_library / 'libnvidia-ml.so.1').is_file()


def test_real_pynvml_two_gpus(stub_library):
    result, calls = _query(stub_library, 'ok')
    assert calls == ['init', 'shutdown']
    assert result['driver_present'] is True
    assert result['errors'] == []
    assert result['driver_version'] == '550.54.15'
    assert result['cuda_driver_version'] == '12.4'
    assert result['gpu_count'] == 2
    gpu0, gpu1 = result['gpus']
    assert gpu0['name'] == 'NVIDIA H100 80GB HBM3'
    assert gpu0['uuid'] == 'GPU-00000000-0000-4000-8000-000000000000'
    assert gpu0['pci_bus_id'] == '00000000:18:00.0'
    assert gpu0['memory_total_mib'] == 81559
    assert gpu0['memory_used_mib'] == 534
    assert gpu0['compute_capability'] == '9.0'
    assert gpu0['persistence_mode'] is True
    assert gpu0['ecc_mode_current'] is True
    assert (gpu0['ecc_errors_uncorrected_volatile'], gpu0['ecc_errors_uncorrected_aggregate']) == (0, 2)
    assert (gpu0['mig_mode_current'], gpu1['mig_mode_current']) == (False, True)
    # NotSupported from the C library -> null, no error.
    assert (gpu0['power_limit_w'], gpu1['power_limit_w']) == (700.0, None)
    # nvmlDeviceGetTemperatureV missing from the library -> FunctionNotFound -> the older call answers.
    assert (gpu0['temperature_c'], gpu1['temperature_c']) == (40, 41)
    assert gpu0['clocks'] == {'graphics_mhz': 345, 'sm_mhz': 345, 'memory_mhz': 2619,
                              'graphics_max_mhz': 1980, 'sm_max_mhz': 1980, 'memory_max_mhz': 2619}
    assert gpu0['nvlink_active_links'] == 4
    assert gpu0['nvlinks'][0] == {'link': 0, 'remote_pci_bus_id': '00000000:2A:00.0', 'remote_device_type': 'gpu',
                                  'remote_gpu_index': 1}
    assert result['topology'] == [{'gpu_a': 0, 'gpu_b': 1, 'link': 'nvlink', 'nvlink_count': 4,
                                   'via_nvswitch': False, 'pcie': 'pcie_node'}]
    assert result['nvswitch_present'] is False


def test_real_pynvml_gpu_lost(stub_library):
    result, calls = _query(stub_library, 'lost')
    assert calls == ['init', 'shutdown']
    assert result['errors'] == [{'gpu_index': 1, 'function': 'nvmlDeviceGetMemoryInfo',
                                 'message': 'GPU is lost (NVMLError_GpuIsLost)'}]
    assert result['gpus'][1]['error'] == 'nvmlDeviceGetMemoryInfo: GPU is lost (NVMLError_GpuIsLost)'
    assert result['gpus'][1]['uuid'] == 'GPU-00000000-0000-4000-8000-000000000001'
    assert result['gpus'][1]['memory_total_mib'] is None
    assert result['gpus'][0]['error'] is None
    assert result['gpus'][0]['memory_total_mib'] == 81559


def test_real_pynvml_driver_not_loaded(stub_library):
    result, calls = _query(stub_library, 'nodriver')
    assert calls == ['init']  # no nvmlShutdown after a failed nvmlInit
    assert result['driver_present'] is False
    assert result['reason'] == 'nvmlInit failed: Driver Not Loaded (NVMLError_DriverNotLoaded)'
    assert result['gpu_count'] == 0


def test_real_module_through_ansible(stub_library, tmp_path):
    """The module end to end (AnsiballZ, module_utils shipped with it) with the real pynvml and the stub."""
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    if not os.access(ansible, os.X_OK):
        pytest.skip('no ansible command next to %s' % sys.executable)
    env = dict(os.environ)
    env.update({
        'LD_LIBRARY_PATH': str(stub_library),
        'STUB_NVML_MODE': 'ok',
        'ANSIBLE_COLLECTIONS_PATH': COLLECTIONS,
        'ANSIBLE_STDOUT_CALLBACK': 'minimal',
        'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1',
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_LOCALHOST_WARNING': '0',
        'ANSIBLE_INVENTORY_UNPARSED_WARNING': '0',
        'ANSIBLE_CONFIG': str(tmp_path / 'none.cfg'),
    })
    proc = subprocess.run(
        [ansible, 'localhost', '-i', 'localhost,', '-c', 'local', '-m', 'onprem.deepseek.nvml_info', '-a', 'include_topology=false',
         '-e', 'ansible_python_interpreter=%s' % sys.executable],
        cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index('=> ') + 3:])[0]
    assert result['changed'] is False
    assert result['gpu_count'] == 2
    assert result['topology'] == []
    assert [gpu['nvlink_active_links'] for gpu in result['gpus']] == [4, 4]
