#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: ceph_pool
short_description: Manage a replicated Ceph pool (size, min_size, placement groups, application)
version_added: 0.1.0
description:
  - Creates a replicated pool, sets its C(size), C(min_size), autoscale mode and, when the autoscaler is
    off, its C(pg_num); enables an application on it. Reads the pool first and changes only what differs.
  - Refuses, before any change, a O(size) larger than the number of OSDs in the cluster and a O(min_size)
    larger than O(size).
  - O(state=absent) deletes the pool (the monitors must allow it, C(mon_allow_pool_delete)).
author:
  - onprem.deepseek maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  name:
    description: Pool name.
    type: str
    required: true
  state:
    description: Whether the pool exists.
    type: str
    choices: [present, absent]
    default: present
  size:
    description: Number of replicas. Must not exceed the number of OSDs.
    type: int
  min_size:
    description: Replicas needed to serve I/O.
    type: int
  pg_num:
    description:
      - Placement groups at creation. Enforced afterwards only when O(pg_autoscale_mode=off)
        (the autoscaler owns C(pg_num) otherwise).
    type: int
  pg_autoscale_mode:
    description: Autoscale mode of the pool; unset keeps the cluster default.
    type: str
    choices: ['on', 'off', 'warn']
  application:
    description: Application to enable on the pool (V(rbd), V(rgw), V(cephfs) or a custom name).
    type: str
  cluster:
    description: Cluster name.
    type: str
    default: ceph
  auth_name:
    description: Identity that runs the ceph commands.
    type: str
    default: client.admin
  auth_keyring:
    description: Keyring of O(auth_name).
    type: path
  connect_timeout:
    description: Seconds to wait for the monitors.
    type: int
    default: 30
'''

EXAMPLES = r'''
- name: Ensure the rbd pool of the model cache has 3 replicas
  onprem.deepseek.ceph_pool:
    name: models
    size: 3
    min_size: 2
    pg_num: 32
    application: rbd
'''

RETURN = r'''
pool:
  description: The pool after the run (planned values in check mode); empty when absent.
  returned: always
  type: dict
  sample: {name: models, size: 3, min_size: 2, pg_num: 32, pg_autoscale_mode: "on", applications: [rbd]}
commands:
  description: ceph commands run (or planned in check mode).
  returned: always
  type: list
  elements: str
  sample: ["ceph osd pool create models 32", "ceph osd pool set models size 3"]
osd_count:
  description: Number of OSDs in the cluster (read when O(size) is given).
  returned: when O(size) is given
  type: int
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.deepseek.plugins.module_utils._ceph import CEPH_COMMON_ARGS, CephCli, CephError, quote_command


def read_pool(cli, name):
    """The pool as a small dict, or None when it does not exist."""
    for pool in cli.json(['osd', 'pool', 'ls', 'detail']) or []:
        if pool.get('pool_name') == name:
            return dict(
                name=name,
                size=int(pool.get('size', 0)),
                min_size=int(pool.get('min_size', 0)),
                pg_num=int(pool.get('pg_num_target', pool.get('pg_num', 0))),
                pg_autoscale_mode=pool.get('pg_autoscale_mode'),
                applications=sorted((pool.get('application_metadata') or {}).keys()),
            )
    return None


def validate(params, osd_count):
    """Error message for bad input, or None."""
    name, size, min_size = params['name'], params['size'], params['min_size']
    if size is not None and size < 1:
        return 'pool %s: size must be at least 1' % name
    if size is not None and osd_count is not None and size > osd_count:
        return ('pool %s: size %d needs at least %d OSDs; the cluster has %d. Lower the size or add OSDs first.'
                % (name, size, size, osd_count))
    if min_size is not None and size is not None and min_size > size:
        return 'pool %s: min_size %d is larger than size %d' % (name, min_size, size)
    if params['pg_num'] is not None and params['pg_num'] < 1:
        return 'pool %s: pg_num must be at least 1' % name
    return None


def plan(current, params):
    """ceph sub-commands (lists) that take the pool from current to params."""
    name = params['name']
    if params['state'] == 'absent':
        return [['osd', 'pool', 'rm', name, name, '--yes-i-really-really-mean-it']] if current else []
    steps = []
    if current is None:
        create = ['osd', 'pool', 'create', name]
        if params['pg_num'] is not None:
            create.append(str(params['pg_num']))
        steps.append(create)
        current = dict(size=None, min_size=None, pg_num=params['pg_num'], pg_autoscale_mode=None, applications=[])
    if params['pg_autoscale_mode'] is not None and current['pg_autoscale_mode'] != params['pg_autoscale_mode']:
        steps.append(['osd', 'pool', 'set', name, 'pg_autoscale_mode', params['pg_autoscale_mode']])
    if params['size'] is not None and current['size'] != params['size']:
        step = ['osd', 'pool', 'set', name, 'size', str(params['size'])]
        if params['size'] == 1:
            step.append('--yes-i-really-mean-it')
        steps.append(step)
    if params['min_size'] is not None and current['min_size'] != params['min_size']:
        steps.append(['osd', 'pool', 'set', name, 'min_size', str(params['min_size'])])
    if (params['pg_num'] is not None and params['pg_autoscale_mode'] == 'off'
            and current['pg_num'] != params['pg_num']):
        steps.append(['osd', 'pool', 'set', name, 'pg_num', str(params['pg_num'])])
    if params['application'] and params['application'] not in current['applications']:
        steps.append(['osd', 'pool', 'application', 'enable', name, params['application']])
    return steps


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        size=dict(type='int'),
        min_size=dict(type='int'),
        pg_num=dict(type='int'),
        pg_autoscale_mode=dict(type='str', choices=['on', 'off', 'warn']),
        application=dict(type='str'),
    )
    argument_spec.update(CEPH_COMMON_ARGS)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    cli = CephCli.from_module(module)
    result = dict(changed=False, pool={}, commands=[])
    try:
        osd_count = None
        if params['state'] == 'present' and params['size'] is not None:
            osd_count = cli.osd_count()
            result['osd_count'] = osd_count
        error = validate(params, osd_count)
        if error:
            module.fail_json(msg=error, **result)
        current = read_pool(cli, params['name'])
        steps = plan(current, params)
        result['commands'] = [quote_command(['ceph'] + step) for step in steps]
        result['changed'] = bool(steps)
        if not module.check_mode:
            for step in steps:
                cli.run(step, record=True)
            if steps and params['state'] == 'present':
                current = read_pool(cli, params['name'])
        if params['state'] == 'present':
            if current is None or module.check_mode:
                planned = dict(current or dict(name=params['name'], applications=[]))
                for key in ('size', 'min_size', 'pg_num', 'pg_autoscale_mode'):
                    if params[key] is not None and (key != 'pg_num' or current is None or params['pg_autoscale_mode'] == 'off'):
                        planned[key] = params[key]
                if params['application'] and params['application'] not in planned['applications']:
                    planned['applications'] = sorted(planned['applications'] + [params['application']])
                current = planned
            result['pool'] = current
    except CephError as exc:
        result.update(exc.fail_kwargs())
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
