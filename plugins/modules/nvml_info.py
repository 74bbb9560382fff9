#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: nvml_info
short_description: Report NVIDIA GPUs, driver, NVLink and topology through NVML
version_added: 0.1.0
description:
  - Reads the NVIDIA Management Library (NVML) through its Python bindings (C(nvidia-ml-py), imported as C(pynvml))
    and returns, per GPU, its identity, memory, compute capability, persistence, ECC and MIG modes, power limit,
    temperature, clocks and active NVLinks; host-wide, the driver and CUDA driver versions, the GPU-to-GPU topology
    and whether the GPUs talk through an NVSwitch fabric.
  - The module only reads. It never reports C(changed) and runs the same in check mode.
  - On a host without a usable NVIDIA driver (C(nvmlInit) fails because C(libnvidia-ml.so.1) is missing, the kernel
    driver is not loaded, permission is denied, ...) the module B(succeeds) with RV(driver_present=false),
    RV(gpu_count=0) and the cause in RV(reason). Use it to decide whether a host needs the driver; RV(pci_devices)
    still lists the NVIDIA GPUs on the PCI bus (read from sysfs, no driver needed).
  - A query that the GPU or driver does not support (C(NVMLError_NotSupported), C(NVMLError_FunctionNotFound)) gives
    V(null) for that field, not an error.
  - Any other NVML error on a GPU stops the queries of that GPU only. Its entry in RV(gpus) keeps the fields read before
    the error, gets an C(error) string, and the error is added to RV(errors). The other GPUs are still reported, so
    check RV(errors) (or each GPU's C(error)) before trusting a GPU's values.
  - C(nvmlShutdown) is always called after a successful C(nvmlInit).
author:
  - onprem.deepseek maintainers (!UNKNOWN)
requirements:
  - nvidia-ml-py (the C(pynvml) module) on the managed host
  - an NVIDIA driver on the managed host, for any GPU to be reported
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: none
    details:
      - This action does not modify state.
  platform:
    support: full
    platforms: posix
options:
  include_topology:
    description:
      - Query the GPU-to-GPU topology (one C(nvmlDeviceGetTopologyCommonAncestor) call per GPU pair) and return RV(topology).
      - When V(false), RV(topology) is an empty list. NVLinks per GPU and RV(nvswitch_present) are returned either way.
    type: bool
    default: true
notes:
  - >-
    NVSwitch detection. RV(nvswitch_present) is V(true) when an active NVLink of any GPU reports the remote device type
    C(NVML_NVLINK_DEVICE_TYPE_SWITCH) (C(nvmlDeviceGetNvLinkRemoteDeviceType)); RV(nvswitch_detection) is then
    V(remote_device_type). This is authoritative and available on the drivers that support Ampere and newer GPUs.
  - >-
    Only when NVML cannot report the remote device type of a link (an old driver or an old C(pynvml)), a fallback applies:
    a remote PCI device that is not one of the GPUs and that active NVLinks of at least two different GPUs reach is taken
    to be an NVSwitch, and RV(nvswitch_detection) is V(shared_non_gpu_peer). A GPU hidden from NVML (for example by a
    container's device list) could look the same to this fallback; check RV(nvswitch_detection) when it matters.
  - >-
    GPU fabric info (C(nvmlDeviceGetGpuFabricInfoV)) is not used: it describes multi-node NVLink partitions (clique and
    cluster membership), its structure changes between driver versions, and a host with NVSwitches is already recognised
    by the remote device type of its links.
  - >-
    Topology. For each pair of GPUs, RV(topology[].pcie) is the closest common PCIe ancestor from
    C(nvmlDeviceGetTopologyCommonAncestor), mapped as V(pcie_internal) (same board), V(pcie_single) (one PCIe switch,
    C(PIX) in C(nvidia-smi topo -m)), V(pcie_multiple) (several PCIe switches, C(PXB)), V(pcie_hostbridge) (a host bridge,
    C(PHB)), V(pcie_node) (host bridges within one NUMA node, C(NODE)) and V(pcie_system) (across NUMA nodes, C(SYS)).
  - >-
    RV(topology[].nvlink_count) counts the direct NVLinks between the two GPUs (matched by the remote PCI bus id of each
    link, from both ends, the larger count wins) plus, when both GPUs have NVLinks to NVSwitches, the smaller of their
    two switch link counts (this is the C(NV18) that C(nvidia-smi topo -m) shows on an 8x H100 SXM board). All GPUs that
    reach NVSwitches are assumed to share one fabric, as on HGX and DGX boards.
  - Memory sizes come from C(nvmlDeviceGetMemoryInfo) (v1); MiB values are the byte values divided by 1048576, rounded down.
seealso:
  - name: NVML API reference
    description: The NVIDIA Management Library functions this module calls.
    link: https://docs.nvidia.com/deploy/nvml-api/
  - name: nvidia-ml-py on PyPI
    description: The Python bindings for NVML.
    link: https://pypi.org/project/nvidia-ml-py/
"""

EXAMPLES = r"""
- name: Read the GPUs of the host
  onprem.deepseek.nvml_info:
  register: __nvml

- name: Fail when a GPU could not be read completely
  ansible.builtin.assert:
    that:
      - __nvml.errors | length == 0
    fail_msg: "NVML errors: {{ __nvml.errors }}"

- name: Require eight GPUs on one NVSwitch fabric for the 8-way tensor-parallel tier
  ansible.builtin.assert:
    that:
      - __nvml.driver_present
      - __nvml.gpu_count == 8
      - __nvml.nvswitch_present
      - __nvml.topology | rejectattr('link', 'equalto', 'nvlink') | list | length == 0
    fail_msg: "{{ inventory_hostname }}: {{ __nvml.gpu_count }} GPU(s), NVSwitch {{ __nvml.nvswitch_present }}"

- name: Install the NVIDIA driver only where NVML is not usable yet
  ansible.builtin.include_role:
    name: onprem.deepseek.nvidia_driver
  when: not __nvml.driver_present

- name: List GPUs with MIG enabled or pending
  ansible.builtin.debug:
    msg: "{{ __nvml.gpus | selectattr('mig_mode_pending') | map(attribute='uuid') | list }}"

- name: Skip the pairwise topology on hosts with many GPUs
  onprem.deepseek.nvml_info:
    include_topology: false
  register: __nvml_quick
"""

RETURN = r"""
driver_present:
  description:
    - Whether NVML could be initialised (C(nvmlInit) succeeded).
    - V(false) when the NVML library is missing, the driver is not loaded, permission is denied, and so on; see RV(reason).
  returned: always
  type: bool
  sample: true
reason:
  description: Why NVML could not be initialised, with the NVML error class; V(null) when RV(driver_present) is V(true).
  returned: always
  type: str
  sample: "nvmlInit failed: NVML Shared Library Not Found (NVMLError_LibraryNotFound)"
driver_version:
  description: NVIDIA driver version (C(nvmlSystemGetDriverVersion)); V(null) without a driver.
  returned: always
  type: str
  sample: "550.54.15"
cuda_driver_version:
  description:
    - Highest CUDA version the driver supports, as C(MAJOR.MINOR) (from C(nvmlSystemGetCudaDriverVersion_v2)).
    - V(null) without a driver.
  returned: always
  type: str
  sample: "12.4"
gpu_count:
  description: Number of GPUs NVML reports (C(nvmlDeviceGetCount)); V(0) without a driver.
  returned: always
  type: int
  sample: 8
gpus:
  description:
    - One entry per GPU, in NVML index order. Every entry has all the keys below; a value NVML does not support on that
      GPU, or did not read because of an error, is V(null).
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: NVML device index.
      type: int
      returned: always
      sample: 0
    uuid:
      description: GPU UUID.
      type: str
      returned: always
      sample: "GPU-5fe4cf5c-4a7e-2a3b-8c53-10b8a7a6a1f0"
    name:
      description: Product name.
      type: str
      returned: always
      sample: "NVIDIA H100 80GB HBM3"
    pci_bus_id:
      description: PCI bus id as NVML reports it (C(DOMAIN:BUS:DEVICE.FUNCTION), eight-digit domain).
      type: str
      returned: always
      sample: "00000000:18:00.0"
    memory_total_bytes:
      description: Total framebuffer memory in bytes.
      type: int
      returned: always
      sample: 85520809984
    memory_used_bytes:
      description: Used framebuffer memory in bytes.
      type: int
      returned: always
      sample: 560529408
    memory_total_mib:
      description: Total framebuffer memory in MiB.
      type: int
      returned: always
      sample: 81559
    memory_used_mib:
      description: Used framebuffer memory in MiB.
      type: int
      returned: always
      sample: 534
    compute_capability:
      description: CUDA compute capability as C(MAJOR.MINOR).
      type: str
      returned: always
      sample: "9.0"
    persistence_mode:
      description: Whether persistence mode is enabled.
      type: bool
      returned: always
      sample: true
    ecc_mode_current:
      description: Whether ECC is enabled now.
      type: bool
      returned: always
      sample: true
    ecc_mode_pending:
      description: Whether ECC will be enabled after the next reset.
      type: bool
      returned: always
      sample: true
    ecc_errors_uncorrected_volatile:
      description: Uncorrectable ECC errors since the last driver load (volatile counter).
      type: int
      returned: always
      sample: 0
    ecc_errors_uncorrected_aggregate:
      description: Uncorrectable ECC errors over the GPU's life (aggregate counter).
      type: int
      returned: always
      sample: 0
    mig_mode_current:
      description: Whether MIG mode is enabled now; V(null) on GPUs without MIG.
      type: bool
      returned: always
      sample: false
    mig_mode_pending:
      description: Whether MIG mode will be enabled after the next GPU reset; V(null) on GPUs without MIG.
      type: bool
      returned: always
      sample: false
    power_limit_w:
      description: Enforced power limit in watts (C(nvmlDeviceGetEnforcedPowerLimit)).
      type: float
      returned: always
      sample: 700.0
    temperature_c:
      description: GPU core temperature in degrees Celsius.
      type: int
      returned: always
      sample: 34
    clocks:
      description: Current and maximum clocks in MHz (C(nvmlDeviceGetClockInfo), C(nvmlDeviceGetMaxClockInfo)).
      type: dict
      returned: always
      contains:
        graphics_mhz:
          description: Current graphics clock.
          type: int
          returned: always
          sample: 345
        sm_mhz:
          description: Current SM clock.
          type: int
          returned: always
          sample: 345
        memory_mhz:
          description: Current memory clock.
          type: int
          returned: always
          sample: 2619
        graphics_max_mhz:
          description: Maximum graphics clock.
          type: int
          returned: always
          sample: 1980
        sm_max_mhz:
          description: Maximum SM clock.
          type: int
          returned: always
          sample: 1980
        memory_max_mhz:
          description: Maximum memory clock.
          type: int
          returned: always
          sample: 2619
    nvlink_active_links:
      description:
        - Number of active NVLinks.
        - V(0) when the GPU has NVLinks but none is active (a PCIe card without bridge); V(null) when the GPU has no NVLink.
      type: int
      returned: always
      sample: 18
    nvlinks:
      description: The active NVLinks (empty when there is none).
      type: list
      elements: dict
      returned: always
      contains:
        link:
          description: Link number on this GPU.
          type: int
          returned: always
          sample: 0
        remote_pci_bus_id:
          description: PCI bus id of the device at the other end (C(nvmlDeviceGetNvLinkRemotePciInfo)); V(null) if unknown.
          type: str
          returned: always
          sample: "00000000:05:00.0"
        remote_device_type:
          description:
            - Kind of device at the other end (C(nvmlDeviceGetNvLinkRemoteDeviceType)).
            - V(null) when the driver or C(pynvml) cannot tell.
          type: str
          returned: always
          choices: [gpu, switch, ibmnpu, unknown]
          sample: switch
        remote_gpu_index:
          description: Index of the GPU at the other end, when the remote PCI bus id is one of this host's GPUs; else V(null).
          type: int
          returned: always
          sample: 1
    error:
      description:
        - >-
          The NVML error that stopped the queries of this GPU, as C(FUNCTION: MESSAGE), the message ending with the NVML
          error class in parentheses; V(null) when all queries succeeded or were merely unsupported.
      type: str
      returned: always
      sample: "nvmlDeviceGetMemoryInfo: GPU is lost (NVMLError_GpuIsLost)"
topology:
  description:
    - One entry per pair of GPUs (C(gpu_a) < C(gpu_b)); empty with O(include_topology=false) or fewer than two GPUs.
    - GPUs whose NVML handle could not be obtained are left out.
  returned: always
  type: list
  elements: dict
  contains:
    gpu_a:
      description: Index of the first GPU.
      type: int
      returned: always
      sample: 0
    gpu_b:
      description: Index of the second GPU.
      type: int
      returned: always
      sample: 1
    link:
      description:
        - V(nvlink) when RV(topology[].nvlink_count) is above zero, else the value of RV(topology[].pcie), or V(unknown)
          when that is V(null).
      type: str
      returned: always
      choices: [nvlink, pcie_internal, pcie_single, pcie_multiple, pcie_hostbridge, pcie_node, pcie_system, unknown]
      sample: nvlink
    nvlink_count:
      description: NVLinks between the two GPUs, direct or through the NVSwitch fabric (see the notes).
      type: int
      returned: always
      sample: 18
    via_nvswitch:
      description: Whether both GPUs have NVLinks to NVSwitches.
      type: bool
      returned: always
      sample: true
    pcie:
      description: Closest common PCIe ancestor of the two GPUs (see the notes); V(null) when NVML does not report it.
      type: str
      returned: always
      choices: [pcie_internal, pcie_single, pcie_multiple, pcie_hostbridge, pcie_node, pcie_system]
      sample: pcie_system
nvswitch_present:
  description: Whether the GPUs' NVLinks lead to NVSwitches (see the notes for how this is decided).
  returned: always
  type: bool
  sample: true
nvswitch_detection:
  description:
    - How RV(nvswitch_present) was decided when it is V(true); V(null) otherwise.
    - V(remote_device_type) (NVML reports an NVSwitch at the far end of a link) or V(shared_non_gpu_peer) (the fallback).
  returned: always
  type: str
  choices: [remote_device_type, shared_non_gpu_peer]
  sample: remote_device_type
pci_devices:
  description:
    - NVIDIA GPUs on the PCI bus (vendor C(0x10de), class VGA or 3D controller), read from C(/sys/bus/pci/devices) whether or
      not a driver is loaded; empty where sysfs is not available.
    - Compare its length with RV(gpu_count) to spot a GPU that is on the bus but invisible to NVML.
  returned: always
  type: list
  elements: dict
  contains:
    pci_bus_id:
      description: PCI address as sysfs names it (four-digit domain).
      type: str
      returned: always
      sample: "0000:18:00.0"
    device_id:
      description: PCI device id.
      type: str
      returned: always
      sample: "0x2330"
    driver:
      description: Kernel driver bound to the device (for example C(nvidia), C(nouveau), C(vfio-pci)); V(null) when none is.
      type: str
      returned: always
      sample: nvidia
errors:
  description: NVML errors met after a successful C(nvmlInit), per GPU or host-wide. Empty when everything was read.
  returned: always
  type: list
  elements: dict
  contains:
    gpu_index:
      description: Index of the GPU concerned; V(null) for a host-wide call.
      type: int
      returned: always
      sample: 3
    function:
      description: The NVML function that failed.
      type: str
      returned: always
      sample: nvmlDeviceGetMemoryInfo
    message:
      description: The NVML error message and error class.
      type: str
      returned: always
      sample: "GPU is lost (NVMLError_GpuIsLost)"
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.onprem.deepseek.plugins.module_utils._nvml import (
    HAS_PYNVML,
    PYNVML_IMPORT_ERROR,
    query,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            include_topology=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )

    if not HAS_PYNVML:
        module.fail_json(
            msg=missing_required_lib('nvidia-ml-py', url='https://pypi.org/project/nvidia-ml-py/'),
            exception=PYNVML_IMPORT_ERROR,
        )

    result = query(include_topology=module.params['include_topology'])
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
