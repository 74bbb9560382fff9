# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Table tests of the tier check (module_utils/_tier_check.py, filter tier_check): the cases of the preflight scenario."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.filter.tier_check import tier_check

CATALOG = {
    'service': {'gpu_count': 0, 'gpu_memory_gb': 0, 'memory_gb': 16, 'cpu_cores': 4, 'gpu_models': []},
    'cpu_sandbox': {'gpu_count': 0, 'gpu_memory_gb': 0, 'memory_gb': 4, 'cpu_cores': 1, 'gpu_models': []},
    'inference_light': {'gpu_count': 2, 'gpu_memory_gb': 24, 'memory_gb': 128, 'cpu_cores': 16, 'gpu_models': []},
    'training_medium': {'gpu_count': 4, 'gpu_memory_gb': 80, 'memory_gb': 512, 'cpu_cores': 32, 'gpu_models': []},
}


def a30(index):
    return {'index': index, 'name': 'NVIDIA A30', 'memory_total_mib': 24576, 'error': None}


TWO_A30 = {'driver_present': True, 'gpu_count': 2, 'gpus': [a30(0), a30(1)], 'pci_devices': []}
NO_DRIVER = {'driver_present': False, 'gpu_count': 0, 'gpus': [], 'pci_devices': [], 'reason': 'NVML library not found'}


def check(tier, nvml, memory_mib=2000, cpu_cores=2, **extra):
    data = {'host': 'h1', 'tier': tier, 'catalog': CATALOG, 'nvml': nvml, 'memory_mib': memory_mib,
            'cpu_cores': cpu_cores, 'tier_groups': [tier]}
    data.update(extra)
    return tier_check(data)


def test_two_a30_meet_light_inference_with_the_host_overrides():
    verdict = check('inference_light', TWO_A30, overrides={'memory_gb': 1, 'cpu_cores': 1, 'gpu_models': ['A30']})
    assert verdict['problems'] == []
    assert verdict['found']['gpu_names'] == ['NVIDIA A30', 'NVIDIA A30']
    assert verdict['found']['gpu_memory_mib'] == [24576, 24576]
    assert verdict['required']['gpu_count'] == 2 and verdict['required']['memory_gb'] == 1


def test_two_a30_fail_medium_training_naming_what_they_lack():
    problems = check('training_medium', TWO_A30, overrides={'memory_gb': 1, 'cpu_cores': 1, 'gpu_models': ['H100']})['problems']
    assert 'expected >= 4 NVIDIA GPUs, found 2' in problems
    assert 'expected >= 80 GB on each GPU, found 24576 MiB on GPU 0 (NVIDIA A30)' in problems
    assert 'expected a GPU model in H100, found NVIDIA A30 as GPU 1' in problems


def test_a_gpu_less_host_fails_light_inference_naming_the_missing_driver_and_memory():
    problems = ' '.join(check('inference_light', NO_DRIVER)['problems'])
    assert 'expected >= 2 NVIDIA GPUs, found 0 (no NVIDIA driver: NVML library not found' in problems
    assert 'expected memory >= 128 GB' in problems
    assert 'expected >= 16 CPU cores, found 2' in problems


def test_without_a_driver_the_pci_devices_count():
    nvml = dict(NO_DRIVER, pci_devices=[{'bus_id': '0000:17:00.0'}, {'bus_id': '0000:65:00.0'}])
    verdict = check('inference_light', nvml, overrides={'memory_gb': 1, 'cpu_cores': 1})
    assert verdict['found']['gpu_count'] == 2 and verdict['problems'] == []


def test_memory_within_the_tolerance_passes():
    # 128 GB installed reports about 125 GiB: within 5%.
    assert check('cpu_sandbox', {}, memory_mib=125 * 1024 - 500, cpu_cores=1,
                 overrides={'memory_gb': 128})['problems'] == []


def test_a_host_in_two_tiers_is_refused():
    problems = check('cpu_sandbox', {}, tier_groups=['training_medium', 'inference_light'])['problems']
    assert problems[0].startswith('h1 is in 2 tier groups (inference_light, training_medium)')


def test_a_gpu_that_could_not_be_queried_is_a_problem():
    nvml = dict(TWO_A30, gpus=[a30(0), dict(a30(1), error='Unknown Error')])
    problems = check('inference_light', nvml, overrides={'memory_gb': 1, 'cpu_cores': 1})['problems']
    assert 'GPU 1 could not be queried: Unknown Error' in problems


def test_no_gpu_checks_when_the_probe_is_off():
    assert check('inference_light', {}, gpu_probe=False, overrides={'memory_gb': 1, 'cpu_cores': 1})['problems'] == []


@pytest.mark.parametrize('data, message', [
    ({'tier': 'inference_huge', 'catalog': CATALOG}, "tier 'inference_huge' is not in the tier catalogue"),
    ('not a mapping', 'tier_check expects a mapping'),
])
def test_bad_input_is_refused(data, message):
    with pytest.raises(AnsibleFilterError, match=message):
        tier_check(data)
