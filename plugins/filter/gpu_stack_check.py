# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: gpu_stack_check
short_description: Check an NVIDIA driver, CUDA toolkit and PyTorch combination against the compatibility matrix
version_added: 0.1.0
description:
  - Checks the input (a mapping) against the collection's driver <-> CUDA <-> PyTorch matrix and returns a verdict
    with every problem found, so that a role can refuse an incompatible combination before it changes anything.
  - The minimum driver of each CUDA release is the Linux x86_64 "Toolkit Driver Version" of its GA release in NVIDIA's
    CUDA Toolkit Release Notes (for example CUDA 12.4 >= 550.54.14, 12.8 >= 570.26, 13.0 >= 580.65.06).
  - The CUDA variants of each PyTorch release are those of its official wheels (PyTorch "Previous Versions" page and
    RELEASE.md), from 2.3 to 2.9 (for example torch 2.6 has cu118, cu124 and cu126). Newer releases are added by the
    caller with O(_input.extra_torch); a PyTorch release the matrix does not know is a problem, never a guess.
  - A driver given as a branch only (V(570)) is compared by branch number with the minimum driver.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
options:
  _input:
    description:
      - The combination. Keys (all optional) C(driver) (V(570.124.06) or a branch V(570)), C(cuda) (V(12.8)),
        C(torch) (V(2.7.1)), C(compute_capabilities) (list such as V([9.0])), C(kernel_modules)
        (V(open) or V(proprietary)), C(extra_torch) (torch minor -> list of CUDA versions) and C(extra_cuda)
        (CUDA minor -> minimum driver).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse an incompatible driver, CUDA and PyTorch combination
  vars:
    __verdict: "{{ {'driver': '550', 'cuda': '12.8', 'torch': '2.7.1'} | onprem.deepseek.gpu_stack_check }}"
  ansible.builtin.assert:
    that: __verdict.ok
    fail_msg: "{{ __verdict.problems | join('; ') }}"
"""

RETURN = r"""
_value:
  description: The verdict.
  type: dict
  contains:
    ok:
      description: Whether no problem was found.
      type: bool
    problems:
      description: One sentence per incompatibility.
      type: list
      elements: str
      sample: ["CUDA 12.8 needs NVIDIA driver >= 570.26 on Linux, driver 550 is older"]
    cuda:
      description: The CUDA major.minor, or V(null) when none was given.
      type: str
      sample: "12.8"
    wheel_tag:
      description: The PyTorch wheel variant, V(cpu) when no CUDA was given.
      type: str
      sample: cu128
    cuda_package_suffix:
      description: Suffix of NVIDIA's versioned package names (C(cuda-toolkit-12-8)), or V(null).
      type: str
      sample: 12-8
    driver_minimum:
      description: Minimum driver of that CUDA release, or V(null).
      type: str
      sample: "570.26"
    torch_cuda_wheels:
      description: CUDA versions of the official wheels of that PyTorch release, or V(null) when unknown.
      type: list
      elements: str
      sample: ["11.8", "12.6", "12.8"]
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.module_utils._cuda_matrix import MatrixError, check

_KEYS = ('driver', 'cuda', 'torch', 'compute_capabilities', 'kernel_modules', 'extra_torch', 'extra_cuda')


def gpu_stack_check(combination):
    """Check a driver / CUDA / PyTorch combination; see DOCUMENTATION."""
    if not isinstance(combination, dict):
        raise AnsibleFilterError('gpu_stack_check expects a mapping, got %s' % type(combination).__name__)
    unknown = sorted(set(combination) - set(_KEYS))
    if unknown:
        raise AnsibleFilterError('gpu_stack_check: unknown key(s) %s (known: %s)' % (', '.join(unknown), ', '.join(_KEYS)))
    kwargs = dict((key, value if value not in ('', None) else None) for key, value in combination.items())
    try:
        return check(**kwargs)
    except MatrixError as exc:
        raise AnsibleFilterError('gpu_stack_check: %s' % exc) from exc


class FilterModule(object):
    """Driver <-> CUDA <-> PyTorch compatibility matrix."""

    def filters(self):
        return {'gpu_stack_check': gpu_stack_check}
