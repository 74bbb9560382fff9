#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: service_ready
short_description: Wait until a service answers an HTTP health check, and stop early when its systemd unit crash-loops
version_added: 0.1.0
description:
  - Polls O(url) until it answers with one of O(status_code), for at most O(timeout) seconds.
  - With O(unit), it also watches the systemd unit between polls and fails at once, with the end of the unit's journal,
    when the unit has failed or stopped, or when systemd has restarted it more than O(max_restarts) times since the wait
    began. A server that cannot load its model is then reported after a few restarts, not after the whole O(timeout).
  - It never changes anything.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only reads, so it runs the same way in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  url:
    description: The health URL, for example V(http://127.0.0.1:8000/health).
    type: str
    required: true
  status_code:
    description: HTTP status codes that mean ready.
    type: list
    elements: int
    default: [200]
  unit:
    description: The systemd unit of the server. Without it, only the URL is polled.
    type: str
  timeout:
    description: Seconds to wait in all.
    type: int
    default: 600
  interval:
    description: Seconds between two polls.
    type: float
    default: 2.0
  request_timeout:
    description: Seconds one health request may take.
    type: int
    default: 10
  max_restarts:
    description: With O(unit), fail when systemd has restarted the unit more than this many times during the wait.
    type: int
    default: 2
  journal_lines:
    description:
      - With O(unit), lines of the server's own output in the journal returned on failure (the last few also go into the
        message). systemd's lines about the unit are left out.
    type: int
    default: 40
  validate_certs:
    description: Verify the server's certificate for an C(https) URL.
    type: bool
    default: true
  ca_path:
    description: CA file that verifies the server's certificate for an C(https) URL.
    type: path
notes:
  - The restart count is systemd's C(NRestarts) property, compared with its value when the wait began.
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.systemd_service
"""

EXAMPLES = r"""
- name: Wait for the engine after a restart, failing early if it crash-loops
  onprem.deepseek.service_ready:
    url: http://127.0.0.1:8000/health
    unit: deepseek-serving.service
    timeout: 600
    max_restarts: 2
"""

RETURN = r"""
elapsed:
  description: Seconds waited.
  returned: always
  type: float
  sample: 41.3
status:
  description: HTTP status of the last health request (-1 when no connection could be made).
  returned: always
  type: int
  sample: 200
restarts:
  description: Restarts of O(unit) by systemd during the wait.
  returned: when O(unit) is set
  type: int
  sample: 0
unit_state:
  description: The unit's last C(ActiveState), C(SubState), C(Result) and C(NRestarts).
  returned: when O(unit) is set
  type: dict
  sample: {ActiveState: active, SubState: running, Result: success, NRestarts: "0"}
journal:
  description: The last O(journal_lines) lines of the unit's journal.
  returned: on failure, when O(unit) is set
  type: list
  elements: str
  sample: ["ValueError: Unrecognized model in /var/lib/models/tiny/current"]
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url

SHOW_PROPERTIES = ('ActiveState', 'SubState', 'Result', 'NRestarts')


def parse_show(text):
    """Parse the key=value lines of ``systemctl show``."""
    state = {}
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if sep:
            state[key.strip()] = value.strip()
    return state


def restart_count(state):
    try:
        return int(state.get('NRestarts', '0') or 0)
    except ValueError:
        return 0


def verdict(state, baseline, max_restarts):
    """Return why waiting is pointless for a unit in ``state``, or None while it may still come up."""
    active = state.get('ActiveState', '')
    sub = state.get('SubState', '')
    if state.get('LoadState') == 'not-found':
        return 'the unit does not exist'
    if active == 'failed':
        return 'the unit has failed (Result=%s)' % state.get('Result', '?')
    if active == 'inactive' and sub == 'dead':
        return 'the unit is stopped (Result=%s)' % state.get('Result', '?')
    restarts = restart_count(state) - baseline
    if restarts > max_restarts:
        return 'systemd restarted the unit %d times while waiting (more than %d): it crash-loops' % (restarts, max_restarts)
    return None


class Waiter(object):
    def __init__(self, module, clock=time.monotonic, sleep=time.sleep):
        self.module = module
        self.clock = clock
        self.sleep = sleep
        self.params = module.params
        self.systemctl = module.get_bin_path('systemctl', required=True) if self.params['unit'] else None

    def unit_state(self):
        rc, out, err = self.module.run_command(
            [self.systemctl, 'show', '--property=%s' % ','.join(SHOW_PROPERTIES + ('LoadState',)), '--', self.params['unit']])
        if rc != 0:
            self.module.fail_json(msg='systemctl show %s failed: %s' % (self.params['unit'], err.strip()))
        return parse_show(out)

    def journal(self):
        journalctl = self.module.get_bin_path('journalctl')
        if not journalctl:
            return []
        unit = self.params['unit']
        if '.' not in unit:
            unit += '.service'
        # The server's own output, without systemd's lines about the unit (restart counters), which say less.
        rc, out, dummy = self.module.run_command(
            [journalctl, '_SYSTEMD_UNIT=%s' % unit, '--lines', str(self.params['journal_lines']), '--no-pager',
             '--output', 'cat'])
        return out.splitlines() if rc == 0 else []

    def probe(self):
        resp, info = fetch_url(self.module, self.params['url'], method='GET', timeout=self.params['request_timeout'],
                               ca_path=self.params['ca_path'])
        if resp is not None:
            resp.close()
        return int(info.get('status', -1))

    def run(self):
        p = self.params
        start = self.clock()
        result = dict(changed=False)
        baseline = None
        state = {}
        status = -1
        while True:
            if self.systemctl:
                state = self.unit_state()
                if baseline is None:
                    baseline = restart_count(state)
                result.update(unit_state=dict((k, state.get(k, '')) for k in SHOW_PROPERTIES),
                              restarts=restart_count(state) - baseline)
                reason = verdict(state, baseline, p['max_restarts'])
                if reason:
                    self.fail(result, start, status, '%s: %s' % (p['unit'], reason))
            status = self.probe()
            if status in p['status_code']:
                result.update(elapsed=round(self.clock() - start, 1), status=status)
                return result
            if self.clock() - start + p['interval'] > p['timeout']:
                self.fail(result, start, status, '%s did not answer %s within %d s (last status %d)'
                          % (p['url'], ' or '.join(str(c) for c in p['status_code']), p['timeout'], status))
            self.sleep(p['interval'])

    def fail(self, result, start, status, msg):
        result.update(elapsed=round(self.clock() - start, 1), status=status)
        if self.systemctl:
            result['journal'] = self.journal()
            tail = [line for line in result['journal'] if line.strip()][-5:]
            if tail:
                msg += '. End of its journal: ' + ' | '.join(tail)
        self.module.fail_json(msg=msg, **result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type='str', required=True),
            status_code=dict(type='list', elements='int', default=[200]),
            unit=dict(type='str'),
            timeout=dict(type='int', default=600),
            interval=dict(type='float', default=2.0),
            request_timeout=dict(type='int', default=10),
            max_restarts=dict(type='int', default=2),
            journal_lines=dict(type='int', default=40),
            validate_certs=dict(type='bool', default=True),
            ca_path=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**Waiter(module).run())


if __name__ == '__main__':
    main()
