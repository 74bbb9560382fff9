#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: site_report
short_description: Write the site report - one self-contained HTML page and its JSON twin
version_added: 0.2.0
description:
  - Builds the site report from what every host returned (onprem.deepseek.host_report and the GPU probe) and from the
    monitoring server (alerts firing, range queries), and writes three files into O(dest).
  - C(site-report.html) is one page with inline CSS and SVG, no script and no external request (its
    Content-Security-Policy forbids any).
  - C(site-report.json) holds the same data, and C(site-report.schema.json) the JSON schema it follows.
  - A host that could not be reached, or whose collection failed, is a red row with the reason; the page still renders.
  - Each file is written atomically, and only when its content changed.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module reports whether the files would change and writes nothing.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  hosts:
    description:
      - One entry per inventory host, keyed by its name, with C(groups), C(addresses), C(unreachable), C(error),
        C(gpu_expected), C(report) (the result of onprem.deepseek.host_report) and C(gpu) (the GPU probe's result).
    type: dict
    required: true
  operations:
    description: C(alerts) (a list of C(name), C(instance), C(severity), C(since), C(summary)), C(series) (a mapping of
      key to C(title), C(unit), C(query), C(points) and C(error)) and C(errors) (what could not be read).
    type: dict
    default: {}
  dest:
    description: Folder the files are written to; made when missing.
    type: path
    required: true
  site_name:
    description: The site's name in the page's title.
    type: str
    default: site
  tiers:
    description: Inventory groups that are tiers, in the order a host's tier is chosen from its groups.
    type: list
    elements: str
    default: [inference_light, training_medium, training_distributed, cpu_sandbox]
  cert_warn_days:
    description:
      - A certificate that expires within this many days turns its host's row amber.
      - The roles renew their certificates 10 days before expiry (for example C(monitoring_tls_renew_days)), so the
        default of 7 marks a certificate whose renewal did not happen, not every 30-day certificate after day 20.
    type: int
    default: 7
  tls_minimum:
    description:
      - The site's lowest acceptable TLS version. A port that accepts an older one turns its host amber; one that
        accepts TLS 1.1 or older turns it red whatever this is.
    type: str
    choices: [TLSv1.2, TLSv1.3]
    default: TLSv1.3
  testssl_dir:
    description:
      - Folder of C(testssl.sh --jsonfile) results, one file or more per host named C(<host>*.json); their findings are
        counted per severity on the host's row. Without it, or without a file for a host, nothing is shown.
    type: path
  mode:
    description: Mode of the written files.
    type: raw
    default: '0640'
"""

EXAMPLES = r"""
- name: Write the site report
  onprem.deepseek.site_report:
    hosts: "{{ __report_hosts }}"
    operations: "{{ __report_operations }}"
    dest: /var/lib/onprem-deepseek/report
    site_name: prod
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
html:
  description: Path of the page.
  returned: always
  type: str
  sample: /var/lib/onprem-deepseek/report/site-report.html
json:
  description: Path of the JSON twin.
  returned: always
  type: str
  sample: /var/lib/onprem-deepseek/report/site-report.json
summary:
  description: Number of hosts per status and number of alerts firing.
  returned: always
  type: dict
  sample: {"hosts": 15, "ok": 13, "warn": 1, "fail": 0, "unreachable": 1, "alerts_firing": 1}
failing:
  description: The host name and its reasons, one string per host whose status is C(fail) or C(unreachable).
  returned: always
  type: list
  elements: str
"""

import glob
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.onprem.deepseek.plugins.module_utils import _site_report


def testssl_summary(folder, hosts):
    """Findings per severity of each host's testssl.sh JSON files (flat or pretty format)."""
    found = {}
    if not folder or not os.path.isdir(folder):
        return found
    for host in hosts:
        counts = {}
        paths = glob.glob(os.path.join(folder, glob.escape(host) + '*.json'))
        for path in sorted(paths):
            with open(path) as handle:
                data = json.load(handle)
            findings = data if isinstance(data, list) else [
                f for scan in data.get('scanResult', []) for section in scan.values() if isinstance(section, list)
                for f in section]
            for finding in findings:
                if isinstance(finding, dict) and finding.get('severity'):
                    counts[finding['severity']] = counts.get(finding['severity'], 0) + 1
        if paths:
            found[host] = counts
    return found


def write_if_changed(module, path, content, mode):
    data = to_bytes(content)
    if os.path.exists(path):
        with open(path, 'rb') as handle:
            if handle.read() == data:
                return False
    if module.check_mode:
        return True
    handle, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.' + os.path.basename(path) + '.')
    with os.fdopen(handle, 'wb') as out:
        out.write(data)
    module.atomic_move(tmp, path)
    module.set_mode_if_different(path, mode, False)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type='dict', required=True),
            operations=dict(type='dict', default={}),
            dest=dict(type='path', required=True),
            site_name=dict(type='str', default='site'),
            tiers=dict(type='list', elements='str',
                       default=['inference_light', 'training_medium', 'training_distributed', 'cpu_sandbox']),
            cert_warn_days=dict(type='int', default=7),
            tls_minimum=dict(type='str', choices=['TLSv1.2', 'TLSv1.3'], default='TLSv1.3'),
            testssl_dir=dict(type='path'),
            mode=dict(type='raw', default='0640'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        testssl = testssl_summary(params['testssl_dir'], sorted(params['hosts']))
    except (OSError, ValueError) as exc:
        module.fail_json(msg='cannot read the testssl results in %s: %s' % (params['testssl_dir'], exc))
    report = _site_report.build_report(params['hosts'], params['operations'], site_name=params['site_name'],
                                       tiers=params['tiers'], cert_warn_days=params['cert_warn_days'], testssl=testssl,
                                       tls_minimum=params['tls_minimum'])
    files = {
        'site-report.html': _site_report.render_html(report),
        'site-report.json': _site_report.render_json(report),
        'site-report.schema.json': json.dumps(_site_report.SCHEMA, indent=2, sort_keys=True) + '\n',
    }
    if not os.path.isdir(params['dest']) and not module.check_mode:
        os.makedirs(params['dest'], 0o750)
    changed = False
    for name, content in files.items():
        changed = write_if_changed(module, os.path.join(params['dest'], name), content, params['mode']) or changed
    failing = ['%s: %s' % (h['name'], '; '.join(h['reasons'])) for h in report['hosts']
               if h['status'] in ('fail', 'unreachable')]
    module.exit_json(changed=changed, html=os.path.join(params['dest'], 'site-report.html'),
                     json=os.path.join(params['dest'], 'site-report.json'), summary=report['summary'], failing=failing)


if __name__ == '__main__':
    main()
