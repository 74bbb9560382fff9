#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: ceph_osd
short_description: Prepare a BlueStore OSD on a raw device or a file, without LVM or ceph-volume
version_added: 0.1.0
description:
  - Prepares one BlueStore OSD identified by O(uuid) the way C(ceph-volume raw prepare) does, without
    LVM. It allocates the OSD id and its cephx key with C(ceph osd new) (as C(client.bootstrap-osd)),
    writes the data directory C(/var/lib/ceph/osd/CLUSTER-ID) with its keyring, points C(block) at
    O(device) (or lets BlueStore create a sparse file of O(block_size) bytes when no device is given)
    and runs C(ceph-osd --mkfs).
  - An OSD whose data directory already holds O(uuid) and a completed mkfs is left alone, so the
    module is idempotent. It does not start the daemon (C(ceph-osd@ID) does).
  - File-backed OSDs are for tests and labs; production OSDs use O(device).
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
  uuid:
    description: OSD uuid, stable - derive it from the host and the device or file name.
    type: str
    required: true
  device:
    description: Raw block device of the OSD. It must not hold data (its first MiB must be zero) unless O(force).
    type: path
  block_size:
    description: Size in bytes of the sparse block file when no O(device) is given.
    type: int
    default: 10737418240
  force:
    description: Use O(device) even when it is not blank.
    type: bool
    default: false
  data_root:
    description: Parent of the OSD data directories.
    type: path
    default: /var/lib/ceph/osd
  cluster:
    description: Cluster name.
    type: str
    default: ceph
  auth_name:
    description: Identity that allocates the OSD.
    type: str
    default: client.bootstrap-osd
  auth_keyring:
    description: Keyring of O(auth_name).
    type: path
    default: /var/lib/ceph/bootstrap-osd/ceph.keyring
  connect_timeout:
    description: Seconds to wait for the monitors.
    type: int
    default: 30
  owner:
    description: User that owns the data directory (the daemon's user).
    type: str
    default: ceph
'''

EXAMPLES = r'''
- name: Prepare an OSD backed by a 10 GiB sparse file (tests)
  onprem.deepseek.ceph_osd:
    uuid: "{{ (inventory_hostname ~ '-osd-a') | ansible.builtin.to_uuid }}"
  register: osd

- name: Start the OSD
  ansible.builtin.systemd_service:
    name: "ceph-osd@{{ osd.osd_id }}"
    state: started
    enabled: true
'''

RETURN = r'''
osd_id:
  description: The OSD id (null in check mode for an OSD not prepared yet).
  returned: always
  type: int
  sample: 3
data_dir:
  description: The OSD data directory.
  returned: always
  type: str
  sample: /var/lib/ceph/osd/ceph-3
commands:
  description: Commands run (or planned in check mode); no secrets.
  returned: always
  type: list
  elements: str
'''

import glob
import json
import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.onprem.deepseek.plugins.module_utils._ceph import CephCli, CephError, quote_command, render_keyring

MARKER = 'onprem_mkfs_done'


def find_osd(data_root, cluster, uuid):
    """(osd_id, data_dir, prepared) of the data directory holding uuid, or (None, None, False)."""
    for fsid_file in sorted(glob.glob(os.path.join(data_root, '%s-*' % cluster, 'fsid'))):
        try:
            with open(fsid_file) as handle:
                found = handle.read().strip()
        except (IOError, OSError):
            continue
        if found == uuid:
            data_dir = os.path.dirname(fsid_file)
            osd_id = int(data_dir.rsplit('-', 1)[1])
            return osd_id, data_dir, os.path.exists(os.path.join(data_dir, MARKER))
    return None, None, False


def device_is_blank(path):
    with open(path, 'rb') as handle:
        return handle.read(1024 * 1024).strip(b'\0') == b''


def write_file(path, content, mode=0o600):
    with open(path, 'wb') as handle:
        handle.write(to_bytes(content))
    os.chmod(path, mode)


def chown_tree(path, owner):
    entry = pwd.getpwnam(owner)
    for root, dirs, files in os.walk(path):
        os.lchown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            uuid=dict(type='str', required=True),
            device=dict(type='path'),
            block_size=dict(type='int', default=10 * 1024 ** 3),
            force=dict(type='bool', default=False),
            data_root=dict(type='path', default='/var/lib/ceph/osd'),
            cluster=dict(type='str', default='ceph'),
            auth_name=dict(type='str', default='client.bootstrap-osd'),
            auth_keyring=dict(type='path', default='/var/lib/ceph/bootstrap-osd/ceph.keyring'),
            connect_timeout=dict(type='int', default=30),
            owner=dict(type='str', default='ceph'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    uuid = params['uuid'].lower()
    cli = CephCli.from_module(module)
    result = dict(changed=False, osd_id=None, data_dir=None, commands=[])

    osd_id, data_dir, prepared = find_osd(params['data_root'], params['cluster'], uuid)
    result.update(osd_id=osd_id, data_dir=data_dir)
    if prepared:
        module.exit_json(**result)

    device = params['device']
    if device:
        if not os.path.exists(device):
            module.fail_json(msg='ceph_osd: device %s does not exist' % device, **result)
        if not params['force'] and not device_is_blank(device):
            module.fail_json(msg='ceph_osd: device %s is not blank (its first MiB holds data); wipe it or set force'
                             % device, **result)

    result['changed'] = True
    if module.check_mode:
        result['commands'] = ['ceph osd new %s' % uuid, 'ceph-osd --mkfs --osd-uuid %s' % uuid]
        module.exit_json(**result)

    try:
        rc, secret, err = module.run_command(['ceph-authtool', '--gen-print-key'], check_rc=True)
        secret = secret.strip()
        if osd_id is None:
            rc, out, err = cli.run(['osd', 'new', uuid], data=json.dumps({'cephx_secret': secret}), record=True)
            osd_id = int(out.strip())
            data_dir = os.path.join(params['data_root'], '%s-%d' % (params['cluster'], osd_id))
        else:
            # A half-prepared OSD of an interrupted run: keep its id, give it a fresh key.
            with open(os.path.join(data_dir, 'keyring')) as handle:
                secret = handle.read().split('key = ', 1)[1].split()[0]
        result.update(osd_id=osd_id, data_dir=data_dir)
        if not os.path.isdir(data_dir):
            os.makedirs(data_dir, 0o755)
        write_file(os.path.join(data_dir, 'fsid'), uuid + '\n', 0o644)
        write_file(os.path.join(data_dir, 'keyring'), render_keyring('osd.%d' % osd_id, secret))
        write_file(os.path.join(data_dir, 'type'), 'bluestore\n', 0o644)
        block = os.path.join(data_dir, 'block')
        mkfs = ['ceph-osd', '--cluster', params['cluster'], '--mkfs', '-i', str(osd_id), '--osd-uuid', uuid,
                '--osd-data', data_dir, '--keyring', os.path.join(data_dir, 'keyring'),
                '--osd-objectstore', 'bluestore', '--setuser', params['owner'], '--setgroup', params['owner']]
        if device:
            if os.path.lexists(block):
                os.remove(block)
            os.symlink(device, block)
        else:
            mkfs += ['--bluestore_block_create', '--bluestore_block_size=%d' % params['block_size']]
        chown_tree(data_dir, params['owner'])
        if device:
            entry = pwd.getpwnam(params['owner'])
            os.chown(device, entry.pw_uid, entry.pw_gid)
        result['commands'].append(quote_command(mkfs))
        rc, out, err = module.run_command(mkfs)
        if rc != 0:
            module.fail_json(msg='ceph-osd --mkfs failed for osd.%d: %s' % (osd_id, (err or out).strip()), rc=rc,
                             stdout=out, stderr=err, **result)
        chown_tree(data_dir, params['owner'])
        write_file(os.path.join(data_dir, MARKER), 'done\n', 0o644)
    except CephError as exc:
        result.update(exc.fail_kwargs())
        module.fail_json(**result)
    except (IOError, OSError, KeyError, ValueError, IndexError) as exc:
        module.fail_json(msg='ceph_osd %s: %s' % (uuid, to_native(exc)), **result)
    result['commands'] = cli.executed + result['commands']
    module.exit_json(**result)


if __name__ == '__main__':
    main()
