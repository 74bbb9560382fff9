# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A host against the minimums of its hardware tier, and the inventory's tier groups. Pure functions."""

from __future__ import annotations

REQUIRED_KEYS = ('gpu_count', 'gpu_memory_gb', 'memory_gb', 'cpu_cores', 'gpu_models')


def required(catalog, tier, overrides=None):
    """The tier's minimums from the catalogue, with the host's non-null overrides applied."""
    if tier not in (catalog or {}):
        raise ValueError('tier %r is not in the tier catalogue (%s)' % (tier, ', '.join(sorted(catalog or {}))))
    out = dict(catalog[tier])
    for key, value in (overrides or {}).items():
        if value is not None:
            out[key] = value
    for key in REQUIRED_KEYS:
        out.setdefault(key, [] if key == 'gpu_models' else 0)
    return out


def _mib(gb, tolerance):
    return int(int(gb) * 1024 * tolerance)


def check(host, tier, req, nvml=None, memory_mib=0, cpu_cores=0, tolerance_pct=5, gpu_probe=True,
          tier_groups=None):
    """Return ``{'found': {...}, 'problems': [...]}``: one sentence per unmet minimum, naming what was expected and
    what was found. ``nvml`` is the result of onprem.deepseek.nvml_info (or empty when not probed)."""
    nvml = nvml or {}
    tolerance = (100 - int(tolerance_pct)) / 100.0
    driver_present = bool(nvml.get('driver_present', False))
    gpus = [gpu for gpu in nvml.get('gpus') or [] if not gpu.get('error')]
    gpu_count = int(nvml.get('gpu_count') or 0) if driver_present else len(nvml.get('pci_devices') or [])
    found = {
        'gpu_count': gpu_count,
        'gpu_names': [gpu.get('name') for gpu in gpus],
        'gpu_memory_mib': [gpu.get('memory_total_mib') for gpu in gpus],
        'driver_present': driver_present,
        'memory_mib': int(memory_mib or 0),
        'cpu_cores': int(cpu_cores or 0),
    }
    problems = []
    groups = sorted(set(tier_groups or []))
    if len(groups) > 1:
        problems.append('%s is in %d tier groups (%s): a host belongs to exactly one tier; remove it from all but one '
                        'of these groups in the inventory' % (host, len(groups), ', '.join(groups)))
    min_memory = _mib(req['memory_gb'], tolerance)
    if found['memory_mib'] < min_memory:
        problems.append('expected memory >= %s GB (at least %d MiB reported), found %d MiB'
                        % (req['memory_gb'], min_memory, found['memory_mib']))
    if found['cpu_cores'] < int(req['cpu_cores']):
        problems.append('expected >= %s CPU cores, found %d' % (req['cpu_cores'], found['cpu_cores']))
    if int(req['gpu_count']) > 0 and gpu_probe:
        if gpu_count < int(req['gpu_count']):
            why = '' if driver_present else (' (no NVIDIA driver: %s; counted NVIDIA PCI devices)'
                                             % (nvml.get('reason') or 'unknown'))
            problems.append('expected >= %s NVIDIA GPUs, found %d%s' % (req['gpu_count'], gpu_count, why))
        min_gpu_memory = _mib(req['gpu_memory_gb'], tolerance)
        models = list(req.get('gpu_models') or [])
        for gpu in gpus:
            if int(gpu.get('memory_total_mib') or 0) < min_gpu_memory:
                problems.append('expected >= %s GB on each GPU, found %s MiB on GPU %s (%s)'
                                % (req['gpu_memory_gb'], gpu.get('memory_total_mib'), gpu.get('index'), gpu.get('name')))
            if models and not any(model in (gpu.get('name') or '') for model in models):
                problems.append('expected a GPU model in %s, found %s as GPU %s'
                                % ('/'.join(models), gpu.get('name'), gpu.get('index')))
        for gpu in nvml.get('gpus') or []:
            if gpu.get('error'):
                problems.append('GPU %s could not be queried: %s' % (gpu.get('index'), gpu.get('error')))
    return {'found': found, 'problems': problems}
