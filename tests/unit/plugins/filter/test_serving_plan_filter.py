# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The serving_plan filter: its wiring and its errors (the planning itself: module_utils/test_serving_plan.py)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.filter.serving_plan import FilterModule, serving_plan

A30 = {'name': 'NVIDIA A30', 'memory_total_mib': 24576, 'compute_capability': '8.0'}


def test_registered():
    assert FilterModule().filters()['serving_plan'] is serving_plan


def test_nvml_result_input():
    result = serving_plan({'gpus': [A30, A30], 'nvswitch_present': False}, 'deepseek-r1-distill-qwen-7b')
    assert result['fits'] and result['tensor_parallel_size'] == 2


def test_input_error_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match='serving_plan: unknown model'):
        serving_plan([A30], 'gpt-5')
