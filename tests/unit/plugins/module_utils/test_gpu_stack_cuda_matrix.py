# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the driver <-> CUDA <-> PyTorch matrix (module_utils/_cuda_matrix.py) and its filter."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.filter.gpu_stack_check import FilterModule
from ansible_collections.onprem.deepseek.plugins.module_utils._cuda_matrix import (
    CUDA_MIN_DRIVER, TORCH_CUDA_WHEELS, MatrixError, check, driver_satisfies, wheel_tag,
)

gpu_stack_check = FilterModule().filters()['gpu_stack_check']


@pytest.mark.parametrize('cuda, driver', [
    # CUDA Toolkit Release Notes, Linux x86_64 toolkit driver of each GA release.
    ('11.8', '520.61.05'), ('12.4', '550.54.14'), ('12.6', '560.28.03'), ('12.8', '570.26'),
    ('12.9', '575.51.03'), ('13.0', '580.65.06'),
])
def test_published_data_points(cuda, driver):
    assert CUDA_MIN_DRIVER[cuda] == driver


@pytest.mark.parametrize('torch, wheels', [
    ('2.6', ['11.8', '12.4', '12.6']), ('2.7', ['11.8', '12.6', '12.8']), ('2.8', ['12.6', '12.8', '12.9']),
])
def test_torch_wheels(torch, wheels):
    assert TORCH_CUDA_WHEELS[torch] == wheels


@pytest.mark.parametrize('driver, minimum, expected', [
    ('550.54.14', '550.54.14', True),
    ('550.54.15', '550.54.14', True),
    ('550.40.07', '550.54.14', False),
    ('545.23.08', '550.54.14', False),
    ('570', '570.26', True),           # a branch: every production 570 release postdates CUDA 12.8 GA
    ('565', '570.26', False),
    ('570.26', '570.26.0', True),
    ('580.65.06', '580.65.06', True),
    ('580.65', '580.65.06', False),
])
def test_driver_satisfies(driver, minimum, expected):
    assert driver_satisfies(driver, minimum) is expected


@pytest.mark.parametrize('combination, problem', [
    pytest.param({'driver': '550.54.14', 'cuda': '12.8'}, 'CUDA 12.8 needs NVIDIA driver >= 570.26', id='old-driver'),
    pytest.param({'driver': '575.57.08', 'cuda': '13.0'}, 'CUDA 13.0 needs NVIDIA driver >= 580.65.06', id='cuda13'),
    pytest.param({'driver': '570', 'cuda': '12.8', 'torch': '2.6.0'}, 'PyTorch 2.6 has no CUDA 12.8 wheel', id='torch-no-wheel'),
    pytest.param({'driver': '570', 'cuda': '12.8', 'torch': '2.13.0'}, 'PyTorch 2.13 is not in the compatibility matrix',
                 id='torch-unknown'),
    pytest.param({'driver': '570', 'cuda': '12.7'}, 'CUDA 12.7 is not in the compatibility matrix', id='cuda-unknown'),
    pytest.param({'driver': '560', 'cuda': '12.6', 'compute_capabilities': ['10.0']}, 'need CUDA >= 12.8', id='blackwell-old-cuda'),
    pytest.param({'driver': '525', 'cuda': '11.7', 'compute_capabilities': ['9.0']}, 'not in the compatibility matrix', id='hopper'),
    pytest.param({'driver': '580', 'cuda': '13.0', 'compute_capabilities': ['7.0']}, 'CUDA 13.0 dropped compute capability 7.0',
                 id='volta-cuda13'),
    pytest.param({'driver': '570', 'kernel_modules': 'open', 'compute_capabilities': [[7, 0]]}, 'need Turing or newer',
                 id='open-volta'),
    pytest.param({'driver': '570', 'kernel_modules': 'proprietary', 'compute_capabilities': ['12.0']},
                 'need the open kernel modules', id='proprietary-blackwell'),
])
def test_rejected(combination, problem):
    verdict = gpu_stack_check(combination)
    assert verdict['ok'] is False
    assert any(problem in p for p in verdict['problems']), verdict['problems']


@pytest.mark.parametrize('combination, tag, suffix', [
    ({'driver': '570.124.06', 'cuda': '12.8', 'torch': '2.7.1', 'compute_capabilities': ['9.0'], 'kernel_modules': 'open'},
     'cu128', '12-8'),
    ({'driver': '550.54.14', 'cuda': '12.4.1', 'torch': '2.6.0+cu124'}, 'cu124', '12-4'),
    ({'driver': '580.82.07', 'cuda': '13.0', 'torch': '2.9.0', 'compute_capabilities': ['10.0', '9.0']}, 'cu130', '13-0'),
    ({'driver': '', 'cuda': '', 'torch': '2.13.0'}, 'cpu', None),
    ({'driver': '570', 'cuda': '12.8', 'torch': '2.13.0', 'extra_torch': {'2.13': ['12.8', '13.0']}}, 'cu128', '12-8'),
])
def test_accepted(combination, tag, suffix):
    verdict = gpu_stack_check(combination)
    assert verdict['problems'] == []
    assert verdict['ok'] is True
    assert verdict['wheel_tag'] == tag
    assert verdict['cuda_package_suffix'] == suffix


def test_extra_cuda_row():
    verdict = check(driver='590.10', cuda='13.1', extra_cuda={'13.1': '590.01'})
    assert verdict['ok'] and verdict['driver_minimum'] == '590.01'


@pytest.mark.parametrize('combination, message', [
    ({'driver': 'latest'}, 'driver must be a dotted version'),
    ({'cuda': '12'}, 'at least major.minor'),
    ({'torch': 'two'}, 'torch must be a dotted version'),
    ({'kernel_modules': 'closed'}, "kernel_modules must be 'open' or 'proprietary'"),
    ({'compute_capabilities': ['9']}, 'compute capability is major.minor'),
    ({'cdua': '12.8'}, 'unknown key(s) cdua'),
])
def test_unreadable_input_fails(combination, message):
    with pytest.raises(AnsibleFilterError, match=r'.*') as exc:
        gpu_stack_check(combination)
    assert message in str(exc.value)


def test_not_a_mapping():
    with pytest.raises(AnsibleFilterError, match='expects a mapping'):
        gpu_stack_check(['12.8'])


def test_wheel_tag():
    assert wheel_tag('12.8.1') == 'cu128'
    assert wheel_tag(None) == 'cpu'
    with pytest.raises(MatrixError):
        wheel_tag('x')
