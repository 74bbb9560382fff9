# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The NVIDIA driver <-> CUDA toolkit <-> PyTorch wheel compatibility matrix.

Pure Python, no third-party import: used by the filter ``onprem.deepseek.gpu_stack_check``
(roles nvidia_driver and python_env) and unit-tested in tests/unit/plugins/module_utils.

Sources of the data (checked against the published tables; keep them in sync when adding a row):

* ``CUDA_MIN_DRIVER``: CUDA Toolkit Release Notes, table "CUDA Toolkit and Corresponding Driver
  Versions", column "Toolkit Driver Version, Linux x86_64", GA release of each minor version
  (docs.nvidia.com/cuda/cuda-toolkit-release-notes). Example: CUDA 12.4 GA >= 550.54.14,
  CUDA 12.8 GA >= 570.26, CUDA 13.0 GA >= 580.65.06.
* ``TORCH_CUDA_WHEELS``: the CUDA variants of the official wheels of each PyTorch release
  (pytorch.org "Previous PyTorch Versions" and RELEASE.md "Release Compatibility Matrix").
  Releases newer than the table are unknown to it: the operator adds them through the
  ``extra_torch`` argument (variable ``*_torch_cuda_wheels``) rather than the check guessing.
* ``ARCH_MIN_CUDA`` / ``ARCH_MAX_CUDA``: first CUDA release that compiles for an architecture
  (Hopper sm_90: 11.8, Blackwell sm_100/sm_120: 12.8) and the last one that still supports the
  pre-Turing ones (CUDA 13.0 removed Maxwell, Pascal and Volta: the last is 12.9).
* ``OPEN_MODULES_MIN_CC`` / ``PROPRIETARY_MAX_CC``: NVIDIA's open GPU kernel modules support
  Turing (7.5) and newer only; Blackwell (10.x, 12.x) is supported by the open modules only
  (NVIDIA driver installation guide, "Open GPU kernel modules").
"""

from __future__ import annotations

import re

# CUDA minor version -> minimum Linux x86_64 driver of its GA release.
CUDA_MIN_DRIVER = {
    '11.8': '520.61.05',
    '12.0': '525.60.13',
    '12.1': '530.30.02',
    '12.2': '535.54.03',
    '12.3': '545.23.06',
    '12.4': '550.54.14',
    '12.5': '555.42.02',
    '12.6': '560.28.03',
    '12.8': '570.26',
    '12.9': '575.51.03',
    '13.0': '580.65.06',
}

# PyTorch minor release -> CUDA versions of its official wheels (the wheel tag is cu + digits).
TORCH_CUDA_WHEELS = {
    '2.3': ['11.8', '12.1'],
    '2.4': ['11.8', '12.1', '12.4'],
    '2.5': ['11.8', '12.1', '12.4'],
    '2.6': ['11.8', '12.4', '12.6'],
    '2.7': ['11.8', '12.6', '12.8'],
    '2.8': ['12.6', '12.8', '12.9'],
    '2.9': ['12.6', '12.8', '13.0'],
}

# Compute capability (major) -> first CUDA release that supports it.
ARCH_MIN_CUDA = {9: '11.8', 10: '12.8', 12: '12.8'}
# Compute capabilities below 7.5 (Maxwell, Pascal, Volta) are gone from CUDA 13.0.
ARCH_MAX_CUDA = ((7, 5), '12.9')
OPEN_MODULES_MIN_CC = (7, 5)
PROPRIETARY_MAX_CC = (9, 9)

_VERSION_RE = re.compile(r'^\d+(\.\d+)*$')


class MatrixError(ValueError):
    """An argument that cannot be read (not an incompatibility: those are returned as problems)."""


def parse_version(value, what):
    """'550.54.14' -> (550, 54, 14); raises MatrixError naming ``what`` on anything else."""
    text = str(value).strip()
    if not _VERSION_RE.match(text):
        raise MatrixError('%s must be a dotted version such as 12.8, got %r' % (what, value))
    return tuple(int(part) for part in text.split('.'))


def cuda_minor(value, what='cuda'):
    """'12.8.1' -> '12.8'."""
    parts = parse_version(value, what)
    if len(parts) < 2:
        raise MatrixError('%s must name at least major.minor (such as 12.8), got %r' % (what, value))
    return '%d.%d' % parts[:2]


def torch_minor(value):
    """'2.6.0+cu124' -> '2.6'."""
    text = str(value).split('+', 1)[0]
    parts = parse_version(text, 'torch')
    if len(parts) < 2:
        raise MatrixError('torch must name at least major.minor (such as 2.6.0), got %r' % (value,))
    return '%d.%d' % parts[:2]


def wheel_tag(cuda):
    """'12.8' -> 'cu128'; '' or None -> 'cpu'."""
    if not cuda:
        return 'cpu'
    major, minor = parse_version(cuda_minor(cuda), 'cuda')[:2]
    return 'cu%d%d' % (major, minor)


def package_suffix(cuda):
    """'12.8' -> '12-8' (cuda-toolkit-12-8, the package name in NVIDIA's repositories)."""
    return cuda_minor(cuda).replace('.', '-')


def driver_satisfies(driver, minimum):
    """Whether a driver (full version such as 570.124.06, or a branch such as 570) meets ``minimum``.

    A branch alone is compared by its number: every production release of branch N postdates the CUDA
    GA that first required branch N, so branch 570 satisfies CUDA 12.8 (570.26).
    """
    have = parse_version(driver, 'driver')
    need = parse_version(minimum, 'minimum driver')
    if len(have) == 1:
        return have[0] >= need[0]
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def _cc(value):
    if isinstance(value, (list, tuple)):
        parts = tuple(int(v) for v in value)
    else:
        parts = parse_version(value, 'compute capability')
    if len(parts) != 2:
        raise MatrixError('a compute capability is major.minor (such as 9.0), got %r' % (value,))
    return parts


def check(driver=None, cuda=None, torch=None, compute_capabilities=None, kernel_modules=None, extra_torch=None,
          extra_cuda=None):
    """Check a driver / CUDA / PyTorch / GPU combination.

    Returns a dict: ``ok`` (bool), ``problems`` (list of sentences, empty when ok), ``cuda`` (major.minor
    or None), ``wheel_tag`` (cu128 or cpu), ``cuda_package_suffix`` (12-8 or None), ``driver_minimum``
    (minimum driver of that CUDA or None), ``torch_cuda_wheels`` (the CUDA versions PyTorch ships for
    that torch release, or None when unknown). Raises MatrixError on unreadable input.
    """
    min_driver = dict(CUDA_MIN_DRIVER)
    min_driver.update(dict((cuda_minor(k, 'extra_cuda key'), str(v)) for k, v in (extra_cuda or {}).items()))
    torch_table = dict(TORCH_CUDA_WHEELS)
    for key, values in (extra_torch or {}).items():
        torch_table[torch_minor(key)] = [cuda_minor(v, 'extra_torch value') for v in (values or [])]

    problems = []
    result = {
        'ok': True, 'problems': problems, 'cuda': None, 'wheel_tag': 'cpu', 'cuda_package_suffix': None,
        'driver_minimum': None, 'torch_cuda_wheels': None,
    }
    cuda_mm = cuda_minor(cuda) if cuda else None
    if cuda_mm:
        result['cuda'] = cuda_mm
        result['wheel_tag'] = wheel_tag(cuda_mm)
        result['cuda_package_suffix'] = package_suffix(cuda_mm)
        if cuda_mm not in min_driver:
            problems.append('CUDA %s is not in the compatibility matrix (known: %s)'
                            % (cuda_mm, ', '.join(sorted(min_driver, key=lambda v: parse_version(v, 'cuda')))))
        else:
            result['driver_minimum'] = min_driver[cuda_mm]
            if driver and not driver_satisfies(driver, min_driver[cuda_mm]):
                problems.append('CUDA %s needs NVIDIA driver >= %s on Linux, driver %s is older'
                                % (cuda_mm, min_driver[cuda_mm], driver))
    elif driver:
        parse_version(driver, 'driver')

    if torch:
        minor = torch_minor(torch)
        wheels = torch_table.get(minor)
        result['torch_cuda_wheels'] = wheels
        if cuda_mm:
            if wheels is None:
                problems.append('PyTorch %s is not in the compatibility matrix: list its CUDA wheels in extra_torch'
                                % minor)
            elif cuda_mm not in wheels:
                problems.append('PyTorch %s has no CUDA %s wheel (its wheels: %s)'
                                % (minor, cuda_mm, ', '.join(wheel_tag(w) for w in wheels) or 'none'))

    ccs = [_cc(v) for v in (compute_capabilities or [])]
    for cc in sorted(set(ccs)):
        label = '%d.%d' % cc
        if cuda_mm:
            need = ARCH_MIN_CUDA.get(cc[0])
            if need and parse_version(cuda_mm, 'cuda') < parse_version(need, 'cuda'):
                problems.append('GPUs of compute capability %s need CUDA >= %s, not %s' % (label, need, cuda_mm))
            if cc < ARCH_MAX_CUDA[0] and parse_version(cuda_mm, 'cuda') > parse_version(ARCH_MAX_CUDA[1], 'cuda'):
                problems.append('CUDA %s dropped compute capability %s (Maxwell, Pascal, Volta): use CUDA <= %s'
                                % (cuda_mm, label, ARCH_MAX_CUDA[1]))
        if kernel_modules == 'open' and cc < OPEN_MODULES_MIN_CC:
            problems.append('the open kernel modules need Turing or newer (compute capability >= 7.5), not %s'
                            % label)
        if kernel_modules == 'proprietary' and cc > PROPRIETARY_MAX_CC:
            problems.append('GPUs of compute capability %s (Blackwell) need the open kernel modules' % label)
    if kernel_modules not in (None, '', 'open', 'proprietary'):
        raise MatrixError("kernel_modules must be 'open' or 'proprietary', got %r" % (kernel_modules,))

    result['ok'] = not problems
    return result
