# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: tier_check
short_description: Check a host against the minimums of its hardware tier
version_added: 0.1.0
description:
  - Compares what a host has (the GPU probe of M(onprem.deepseek.nvml_info), memory and CPU cores from the facts)
    with the minimums of its tier, and the host's tier groups in the inventory (a host belongs to one tier).
  - Returns what was found and one sentence per unmet minimum, naming what was expected and what was found.
  - Without an NVIDIA driver the GPU count is the number of NVIDIA PCI devices, and the per-GPU memory and model
    checks wait for the driver.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
options:
  _input:
    description:
      - The host, a mapping with C(host) (its name), C(tier), C(catalog) (the tier catalogue), C(overrides) (the host's
        overrides of the tier's minimums, null for none), C(nvml) (the probe's result, or empty), C(memory_mib),
        C(cpu_cores), C(tolerance_pct) (accepted memory shortfall), C(gpu_probe) (whether GPUs are checked) and
        C(tier_groups) (the host's inventory groups that are tiers).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the host against its tier
  ansible.builtin.set_fact:
    verdict: >-
      {{ {'host': inventory_hostname, 'tier': 'inference_light', 'catalog': preflight_tier_catalog,
          'nvml': probe, 'memory_mib': ansible_facts.memtotal_mb, 'cpu_cores': ansible_facts.processor_vcpus}
         | onprem.deepseek.tier_check }}
"""

RETURN = r"""
_value:
  description: The verdict.
  type: dict
  contains:
    required:
      description: The tier's minimums with the overrides applied.
      type: dict
    found:
      description: What the host has (gpu_count, gpu_names, gpu_memory_mib, driver_present, memory_mib, cpu_cores).
      type: dict
    problems:
      description: One sentence per unmet minimum; empty when the host meets its tier.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.module_utils import _tier_check


def tier_check(data):
    if not isinstance(data, dict):
        raise AnsibleFilterError('tier_check expects a mapping')
    try:
        req = _tier_check.required(data.get('catalog'), data.get('tier'), data.get('overrides'))
        verdict = _tier_check.check(
            data.get('host', 'host'), data.get('tier'), req, nvml=data.get('nvml'),
            memory_mib=data.get('memory_mib'), cpu_cores=data.get('cpu_cores'),
            tolerance_pct=data.get('tolerance_pct', 5), gpu_probe=data.get('gpu_probe', True),
            tier_groups=data.get('tier_groups'))
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError('tier_check: %s' % exc)
    verdict['required'] = req
    return verdict


class FilterModule(object):
    def filters(self):
        return {'tier_check': tier_check}
