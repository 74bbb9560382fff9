#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: ceph_key
short_description: Manage a cephx entity (key and capabilities) and its keyring file
version_added: 0.1.0
description:
  - Creates a cephx entity with C(ceph auth get-or-create), sets its capabilities with
    C(ceph auth caps) when they differ (the capabilities given replace all others, for least privilege),
    or deletes it.
  - Optionally writes the entity's keyring file (O(dest)) atomically, only when its content differs.
  - The key is never returned and never appears in a command line.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    details: In check mode nothing is created or written, and a key that does not exist yet reports a change.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  name:
    description: Entity name, for example V(client.models) or V(mgr.host1).
    type: str
    required: true
  caps:
    description:
      - Capabilities by daemon type (V(mon), V(mgr), V(osd), V(mds)). Missing types get no capability.
      - Required when O(state=present).
    type: dict
  state:
    description: Whether the entity exists.
    type: str
    choices: [present, absent]
    default: present
  dest:
    description: Write the entity's keyring (key and caps) to this file. With O(state=absent) the file is removed.
    type: path
  cluster:
    description: Cluster name.
    type: str
    default: ceph
  auth_name:
    description: Identity that runs the ceph commands.
    type: str
    default: client.admin
  auth_keyring:
    description: Keyring of O(auth_name); default the one ceph finds (V(/etc/ceph/CLUSTER.client.admin.keyring)).
    type: path
  connect_timeout:
    description: Seconds to wait for the monitors.
    type: int
    default: 30
'''

EXAMPLES = r'''
- name: Ensure the CephFS client of the model store exists with read-write access to its file system only
  onprem.deepseek.ceph_key:
    name: client.models
    caps:
      mon: allow r fsname=cephfs
      mds: allow rw fsname=cephfs
      osd: allow rw tag cephfs data=cephfs
    dest: /etc/ceph/ceph.client.models.keyring
    owner: root
    group: root
    mode: "0600"
'''

RETURN = r'''
name:
  description: Entity name.
  returned: always
  type: str
  sample: client.models
caps:
  description: Capabilities of the entity after the run (empty when absent; the planned ones in check mode).
  returned: always
  type: dict
  sample: {mon: allow r, osd: allow rw pool=models}
commands:
  description: ceph commands run (or planned in check mode) to change the entity; no secrets.
  returned: always
  type: list
  elements: str
  sample: ["ceph auth caps client.models mon 'allow r' osd 'allow rw pool=models'"]
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.onprem.deepseek.plugins.module_utils._ceph import (
    CEPH_COMMON_ARGS, CephCli, CephError, caps_argv, normalize_caps, quote_command, render_keyring)


def get_entity(cli, name):
    """{'key': ..., 'caps': {...}} of an entity, or None when it does not exist."""
    answer = cli.json(['auth', 'get', name], missing_ok=True)
    if not answer:
        return None
    entry = answer[0] if isinstance(answer, list) else answer
    return dict(key=entry.get('key'), caps=normalize_caps(entry.get('caps')))


def plan(current, state, caps):
    """The ceph auth sub-commands (lists) that take the entity from current to the wanted state."""
    if state == 'absent':
        return [['auth', 'del']] if current is not None else []
    if current is None:
        return [['auth', 'get-or-create']]
    if current['caps'] != caps:
        return [['auth', 'caps']]
    return []


def read_file(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        caps=dict(type='dict'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        dest=dict(type='path'),
    )
    argument_spec.update(CEPH_COMMON_ARGS)
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[('state', 'present', ['caps'])],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    name = module.params['name']
    state = module.params['state']
    dest = module.params['dest']
    caps = normalize_caps(module.params['caps'])
    if state == 'present' and not caps:
        module.fail_json(msg='ceph_key %s: caps must give at least one capability' % name)
    if '.' not in name:
        module.fail_json(msg='ceph_key: %r is not an entity name (TYPE.ID, for example client.models)' % name)

    cli = CephCli.from_module(module)
    result = dict(changed=False, name=name, caps={}, commands=[])
    try:
        current = get_entity(cli, name)
        steps = plan(current, state, caps)
        result['commands'] = [quote_command(['ceph'] + step + [name] + (caps_argv(caps) if step[1] != 'del' else []))
                              for step in steps]
        result['changed'] = bool(steps)
        if state == 'present':
            result['caps'] = caps
        if not module.check_mode:
            for step in steps:
                cli.run(step + [name] + (caps_argv(caps) if step[1] != 'del' else []), record=True)
            if steps and state == 'present':
                current = get_entity(cli, name)
                if current is None or current['caps'] != caps:
                    module.fail_json(msg='ceph_key %s: caps after the change are %s, not %s' % (
                        name, current and current['caps'], caps), **result)

        if dest and state == 'present':
            existing = read_file(dest)
            if current is None:
                result['changed'] = True  # check mode: the key does not exist yet
            else:
                wanted = to_bytes(render_keyring(name, current['key'], caps))
                if existing != wanted:
                    result['changed'] = True
                    if not module.check_mode:
                        tmp_fd, tmp_path = _tempfile(module, dest)
                        with os.fdopen(tmp_fd, 'wb') as handle:
                            handle.write(wanted)
                        module.atomic_move(tmp_path, dest)
            if os.path.exists(dest) or not module.check_mode:
                file_args = module.load_file_common_arguments(module.params, path=dest)
                result['changed'] = module.set_fs_attributes_if_different(file_args, result['changed'])
        elif dest and state == 'absent' and os.path.exists(dest):
            result['changed'] = True
            if not module.check_mode:
                os.remove(dest)
    except CephError as exc:
        result.update(exc.fail_kwargs())
        module.fail_json(**result)
    except (IOError, OSError) as exc:
        module.fail_json(msg='ceph_key %s: cannot write %s: %s' % (name, dest, to_native(exc)), **result)
    module.exit_json(**result)


def _tempfile(module, dest):
    directory = os.path.dirname(dest) or '.'
    if not os.path.isdir(directory):
        module.fail_json(msg='ceph_key: the directory of dest %s does not exist' % dest)
    fd, path = tempfile.mkstemp(prefix='.ceph_key', dir=directory)
    os.chmod(path, 0o600)
    return fd, path


if __name__ == '__main__':
    main()
