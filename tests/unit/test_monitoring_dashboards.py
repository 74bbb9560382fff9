# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Grafana dashboards shipped by the monitoring role are valid JSON and cover the seed's panels."""

from __future__ import annotations

import glob
import json
import os

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DASHBOARDS = sorted(glob.glob(os.path.join(ROOT, 'roles', 'monitoring', 'files', 'dashboards', '*.json')))


def test_there_are_dashboards():
    assert DASHBOARDS


@pytest.mark.parametrize('path', DASHBOARDS, ids=os.path.basename)
def test_dashboard_is_valid(path):
    with open(path) as f:
        dashboard = json.load(f)
    assert dashboard['uid'] and dashboard['title']
    ids = [p['id'] for p in dashboard['panels']]
    assert len(ids) == len(set(ids)), 'duplicate panel ids'
    for panel in dashboard['panels']:
        assert panel['targets'], panel['title']
        for target in panel['targets']:
            assert target['expr'].count('(') == target['expr'].count(')'), target['expr']


def test_gpu_serving_dashboard_has_the_seed_panels():
    with open(os.path.join(ROOT, 'roles', 'monitoring', 'files', 'dashboards', 'deepseek-gpu-serving.json')) as f:
        dashboard = json.load(f)
    exprs = ' '.join(t['expr'] for p in dashboard['panels'] for t in p['targets'])
    for metric in ('DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_GPU_TEMP',
                   'vllm:e2e_request_latency_seconds_bucket', 'vllm:num_requests_waiting'):
        assert metric in exprs
