# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""promtool unit tests of the monitoring role's alert rules, from pytest.

The rules are rendered with the role's default thresholds (tests/promtool/render_rules.py), then
``promtool test rules`` must pass on tests/promtool/deepseek_rules_test.yml and must FAIL on
tests/promtool/deepseek_rules_wrong_test.yml. promtool comes from Debian's ``prometheus`` package;
it is installed when missing and this process runs as root with apt-get. The molecule scenario
``monitoring`` runs the same tests inside its Prometheus container, where they cannot be skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PROMTOOL_DIR = os.path.join(ROOT, 'tests', 'promtool')
ALERTS = ['GPUUtilisationHigh', 'GPUMemoryHigh', 'ServingLatencyP99High', 'ModelQualityDrop',
          'TargetDown', 'DiskFilling', 'VaultSealed']


@pytest.fixture(scope='module')
def promtool():
    """promtool from PATH; the test bed (make test) puts Debian's promtool there."""
    path = shutil.which('promtool')
    if not path:
        if os.environ.get('ONPREM_TESTBED'):
            pytest.fail('promtool not found on PATH although the test bed should have provided it '
                        '(tests/testbed/ensure_tools.sh)')
        pytest.skip('promtool is not on PATH (make test provides it); '
                    'the molecule scenario "monitoring" runs these tests too')
    return path


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    work = tmp_path_factory.mktemp('promtool')
    subprocess.run([sys.executable, os.path.join(PROMTOOL_DIR, 'render_rules.py'),
                    str(work / 'deepseek.rules.yml')], check=True)
    for name in ('deepseek_rules_test.yml', 'deepseek_rules_wrong_test.yml'):
        shutil.copy(os.path.join(PROMTOOL_DIR, name), work / name)
    return work


def _run(promtool, workdir, *args):
    return subprocess.run([promtool] + list(args), cwd=str(workdir), capture_output=True, text=True, check=False)


def test_rules_are_valid(promtool, workdir):
    result = _run(promtool, workdir, 'check', 'rules', 'deepseek.rules.yml')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'SUCCESS: %d rules found' % len(ALERTS) in result.stdout


def test_every_alert_has_firing_and_quiet_cases(workdir):
    with open(str(workdir / 'deepseek_rules_test.yml')) as f:
        suite = yaml.safe_load(f)
    firing, quiet = set(), set()
    for test in suite['tests']:
        for case in test['alert_rule_test']:
            (firing if case['exp_alerts'] else quiet).add(case['alertname'])
    with open(str(workdir / 'deepseek.rules.yml')) as f:
        rules = yaml.safe_load(f)
    defined = {rule['alert'] for group in rules['groups'] for rule in group['rules']}
    assert defined == set(ALERTS)
    assert firing == defined, 'alerts without a firing case: %s' % (defined - firing)
    assert quiet == defined, 'alerts without a not-firing case: %s' % (defined - quiet)


def test_alert_unit_tests_pass(promtool, workdir):
    result = _run(promtool, workdir, 'test', 'rules', 'deepseek_rules_test.yml')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'SUCCESS' in result.stdout


def test_wrong_expectation_makes_promtool_fail(promtool, workdir):
    result = _run(promtool, workdir, 'test', 'rules', 'deepseek_rules_wrong_test.yml')
    assert result.returncode != 0, 'promtool accepted a deliberately wrong expectation'
    assert 'FAILED' in result.stdout + result.stderr
    assert 'TargetDown' in result.stdout + result.stderr
