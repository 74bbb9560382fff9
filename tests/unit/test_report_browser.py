# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The site report in a real browser: tests/report/browser_check.py opens the page rendered from the unit tests'
sample site in headless Chromium with no network, validates it with tidy, and reads its DOM. The same check must fail
on a page that loads something from outside or runs a script. Needs chromium and tidy (make tools installs them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.onprem.deepseek.plugins.module_utils import _site_report as sr

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'plugins', 'module_utils'))
import test_site_report as sample  # noqa: E402  pylint: disable=wrong-import-position

CHECK = os.path.join(os.path.dirname(__file__), '..', 'report', 'browser_check.py')


def check(page, outdir, *expect):
    result = subprocess.run([sys.executable, CHECK, str(page), str(outdir)] + list(expect), capture_output=True,
                            text=True, timeout=300, check=False)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(name='page')
def page_fixture(tmp_path):
    report = sr.build_report(sample.hosts(), sample.OPERATIONS, site_name='prod',
                             tiers=['inference_light', 'training_distributed'], now=sample.NOW)
    path = tmp_path / 'site-report.html'
    path.write_text(sr.render_html(report))
    return path


def test_page_in_chromium(page, tmp_path):
    rc, out = check(page, tmp_path / 'out', '--expect-hosts', '6', '--expect-status', 'train-d-02=unreachable',
                    '--expect-status', 'infer-l-02=fail', '--expect-status', 'infer-l-01=ok',
                    '--expect-revision', 'infer-l-01=0123abcd', '--expect-alert', 'TargetDown@10.0.2.12')
    assert rc == 0, out
    summary = json.loads((tmp_path / 'out' / 'dom-summary.json').read_text())
    assert summary['network_requests'] == []
    assert os.path.getsize(summary['screenshot']) > 10000
    # The expectations are checked against the DOM: a wrong one fails.
    rc, out = check(page, tmp_path / 'wrong', '--expect-status', 'infer-l-01=fail')
    assert rc == 1 and 'infer-l-01: status ok, expected fail' in out


@pytest.mark.parametrize('insert, message', [
    ('<img alt="x" src="http://10.255.255.1/pixel.png">', 'CSP violation'),
    ('<script>document.title = "x"</script>', 'script'),
])
def test_a_page_that_reaches_out_fails(page, tmp_path, insert, message):
    text = page.read_text().replace('<main>', '<main>' + insert, 1)
    tampered = tmp_path / 'tampered.html'
    tampered.write_text(text)
    rc, out = check(tampered, tmp_path / 'out')
    assert rc == 1, out
    assert message in out


def test_a_page_without_csp_that_loads_an_image_is_caught_by_the_netlog(page, tmp_path):
    text = page.read_text()
    text = '\n'.join(line for line in text.splitlines() if 'Content-Security-Policy' not in line)
    text = text.replace('<main>', '<main><img alt="x" src="http://10.255.255.1/pixel.png">', 1)
    tampered = tmp_path / 'no-csp.html'
    tampered.write_text(text)
    rc, out = check(tampered, tmp_path / 'out')
    assert rc == 1, out
    assert 'network requests in the NetLog' in out and '10.255.255.1' in out
