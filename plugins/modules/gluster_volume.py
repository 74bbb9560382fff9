#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gluster_volume
short_description: Manage GlusterFS volumes, their bricks and options
version_added: 0.1.0
description:
  - Creates, starts, stops, expands and deletes a GlusterFS volume and sets its options, from any server of
    the trusted pool (run it once per volume, for example with C(run_once)).
  - The current state is read with C(gluster --xml volume info all); the module compares it with the requested
    state and runs only the commands needed, so a second run reports no change.
  - All inputs are checked before any command that changes something runs. The module fails with a clear message
    when the replica count is larger than the number of bricks, when the number of bricks is not a multiple of the
    replica count, when a brick host is not in the trusted pool, when an existing volume would need a different
    replica count or would lose bricks (shrinking is not automated, it moves data and needs an operator).
  - New bricks of an existing volume are added with C(gluster volume add-brick) in whole replica sets
    (a replicated volume becomes distributed-replicated). Rebalancing afterwards is left to the operator.
  - In check mode the module reports the commands it would run (RV(commands)) and runs none of them.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
requirements:
  - the C(gluster) CLI and a running C(glusterd) on the managed host
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
    description: Name of the volume.
    type: str
    required: true
    aliases: [volume]
  state:
    description:
      - V(present) - the volume exists and is started.
      - V(stopped) - the volume exists and is stopped.
      - V(absent) - the volume is stopped and deleted (the data stays in the brick directories).
    type: str
    choices: [present, stopped, absent]
    default: present
  bricks:
    description:
      - Bricks as C(HOST:/PATH), in order. With O(replica=N), each run of N consecutive bricks is one replica set,
        so put the N bricks of a set on N different hosts.
      - Required to create a volume. For an existing volume, bricks not in it yet are added; omitting O(bricks)
        leaves the bricks as they are.
    type: list
    elements: str
  replica:
    description: Replica count (copies of each file). V(1) makes a distributed volume.
    type: int
    default: 1
  arbiter:
    description: Number of arbiter bricks per replica set (V(0) or V(1), only with O(replica=3)).
    type: int
    default: 0
    choices: [0, 1]
  transport:
    description: Transport of a new volume.
    type: str
    choices: [tcp, rdma, "tcp,rdma"]
    default: tcp
  options:
    description:
      - Volume options, by their full name (C(performance.cache-size), not C(cache-size)), set with
        C(gluster volume set). Booleans become C(on)/C(off); other values are compared as strings with the value
        shown by C(gluster volume info).
      - Options not listed are left as they are.
    type: dict
    default: {}
  force:
    description:
      - Pass C(force) to C(volume create) and C(volume add-brick). Gluster needs it for bricks on the root file
        system and for several bricks of one replica set on the same host. Do not use it to hide a real layout
        error.
    type: bool
    default: false
seealso:
  - module: onprem.deepseek.gluster_peer
"""

EXAMPLES = r"""
- name: Ensure the replica-3 volume models exists and is started
  onprem.deepseek.gluster_volume:
    name: models
    replica: 3
    bricks:
      - gluster1:/srv/gluster/models/brick
      - gluster2:/srv/gluster/models/brick
      - gluster3:/srv/gluster/models/brick
    options:
      performance.cache-size: 256MB
      cluster.favorite-child-policy: mtime
  run_once: true

- name: Ensure a distributed-replicated volume (2 x 3) exists
  onprem.deepseek.gluster_volume:
    name: checkpoints
    replica: 3
    bricks: "{{ ['/data/b1', '/data/b2'] | product(['gluster1', 'gluster2', 'gluster3'])
                | map('reverse') | map('join', ':') | list }}"
  run_once: true

- name: Ensure the scratch volume is gone
  onprem.deepseek.gluster_volume:
    name: scratch
    state: absent
  run_once: true
"""

RETURN = r"""
commands:
  description: The gluster commands run (in check mode, the ones that would run), in order.
  returned: always
  type: list
  elements: str
  sample: ["gluster volume create models replica 3 transport tcp g1:/b g2:/b g3:/b", "gluster volume start models"]
volume:
  description: The volume after the change (before it, in check mode); V(null) when it does not exist.
  returned: always
  type: dict
  contains:
    name:
      description: Volume name.
      type: str
    id:
      description: Volume UUID.
      type: str
    status:
      description: C(Created), C(Started) or C(Stopped).
      type: str
    type:
      description: C(Distribute), C(Replicate), C(Distributed-Replicate), ...
      type: str
    brick_count:
      description: Number of bricks.
      type: int
    replica:
      description: Replica count.
      type: int
    arbiter:
      description: Arbiter bricks per replica set.
      type: int
    bricks:
      description: Bricks as C(HOST:/PATH), in order.
      type: list
      elements: str
    arbiter_bricks:
      description: The bricks that are arbiters.
      type: list
      elements: str
    options:
      description: The reconfigured options (as C(gluster volume info) shows them).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.deepseek.plugins.module_utils._gluster import (
    GlusterCli,
    GlusterError,
    is_local,
    local_names,
    normalize_brick,
    split_brick,
)


class PlanError(Exception):
    pass


def option_value(value):
    if isinstance(value, bool):
        return 'on' if value else 'off'
    return str(value)


def validate_layout(bricks, replica, arbiter):
    """Check a brick list against the replica count. Raise PlanError with the reason."""
    if replica < 1:
        raise PlanError('replica must be at least 1, not %d' % replica)
    if arbiter and replica != 3:
        raise PlanError('an arbiter needs replica 3, not replica %d' % replica)
    if bricks is None:
        return
    if not bricks:
        raise PlanError('bricks must not be empty')
    if len(set(bricks)) != len(bricks):
        raise PlanError('bricks are listed twice: %s' % ', '.join(sorted(set(b for b in bricks if bricks.count(b) > 1))))
    if replica > len(bricks):
        raise PlanError('replica count %d is larger than the number of bricks (%d): a replica-%d volume needs at least '
                        '%d bricks on %d different servers' % (replica, len(bricks), replica, replica, replica))
    if len(bricks) % replica:
        raise PlanError('the number of bricks (%d) is not a multiple of the replica count %d'
                        % (len(bricks), replica))


def plan(current, params):
    """Decide the commands that bring the volume to the requested state.

    ``current`` is the parsed volume (or None). Returns a list of (verb, args...) tuples. Pure: no command
    runs here, so check mode and the unit tests see exactly what would run.
    """
    state = params['state']
    replica = params['replica']
    arbiter = params['arbiter']
    bricks = params['bricks']
    actions = []
    if state == 'absent':
        if current is None:
            return actions
        if current['status'] == 'Started':
            actions.append(('stop',))
        actions.append(('delete',))
        return actions

    validate_layout(bricks, replica, arbiter)
    wanted_options = dict((key, option_value(value)) for key, value in (params['options'] or {}).items())
    if current is None:
        if bricks is None:
            raise PlanError('volume %s does not exist: bricks are required to create it' % params['name'])
        actions.append(('create', bricks))
        current_options = {}
        status = 'Created'
    else:
        if current['replica'] != replica:
            raise PlanError('volume %s has replica %d, not %d: changing the replica count is not automated'
                            % (params['name'], current['replica'], replica))
        if bricks is not None:
            missing = [b for b in current['bricks'] if b not in bricks]
            if missing:
                raise PlanError('volume %s has bricks that are not listed: %s; removing bricks moves data and is '
                                'not automated (use gluster volume remove-brick)' % (params['name'], ', '.join(missing)))
            new = [b for b in bricks if b not in current['bricks']]
            if new:
                if len(new) % replica:
                    raise PlanError('%d new bricks cannot be added to volume %s: add whole replica sets of %d'
                                    % (len(new), params['name'], replica))
                actions.append(('add-brick', new))
        current_options = current['options']
        status = current['status']
    for key in sorted(wanted_options):
        if current_options.get(key) != wanted_options[key]:
            actions.append(('set', key, wanted_options[key]))
    if state == 'present' and status != 'Started':
        actions.append(('start',))
    if state == 'stopped' and status == 'Started':
        actions.append(('stop',))
    return actions


def describe(name, action, params):
    verb = action[0]
    force = ['force'] if params['force'] else []
    if verb == 'create':
        words = ['volume', 'create', name]
        if params['replica'] > 1:
            words += ['replica', str(params['replica'])]
            if params['arbiter']:
                words += ['arbiter', str(params['arbiter'])]
        words += ['transport', params['transport']] + list(action[1]) + force
    elif verb == 'add-brick':
        words = ['volume', 'add-brick', name] + (['replica', str(params['replica'])] if params['replica'] > 1 else [])
        words += list(action[1]) + force
    elif verb == 'set':
        words = ['volume', 'set', name, action[1], action[2]]
    else:
        words = ['volume', verb, name]
    return ' '.join(['gluster'] + words)


def execute(cli, name, action, params):
    verb = action[0]
    if verb == 'create':
        cli.volume_create(name, action[1], replica=params['replica'], arbiter=params['arbiter'],
                          transport=params['transport'], force=params['force'])
    elif verb == 'add-brick':
        cli.volume_add_brick(name, action[1], replica=params['replica'], force=params['force'])
    elif verb == 'set':
        cli.volume_set(name, action[1], action[2])
    elif verb == 'start':
        cli.volume_start(name)
    elif verb == 'stop':
        cli.volume_stop(name)
    elif verb == 'delete':
        cli.volume_delete(name)


def check_hosts(bricks, peers, names):
    """Every brick host must be this host or a connected member of the pool."""
    members = {}
    for peer in peers:
        for hostname in peer['hostnames']:
            members[hostname] = peer
    problems = []
    for brick in bricks:
        host = split_brick(brick)[0]
        if is_local(host, names):
            continue
        peer = members.get(host)
        if peer is None:
            problems.append('%s is not in the trusted pool' % host)
        elif peer['state'] != 'Peer in Cluster' or not peer['connected']:
            problems.append('%s is %s%s' % (host, peer['state'], '' if peer['connected'] else ' and disconnected'))
    if problems:
        raise PlanError('brick hosts not ready: %s (probe them first with onprem.deepseek.gluster_peer)'
                        % '; '.join(sorted(set(problems))))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True, aliases=['volume']),
            state=dict(type='str', choices=['present', 'stopped', 'absent'], default='present'),
            bricks=dict(type='list', elements='str'),
            replica=dict(type='int', default=1),
            arbiter=dict(type='int', default=0, choices=[0, 1]),
            transport=dict(type='str', choices=['tcp', 'rdma', 'tcp,rdma'], default='tcp'),
            options=dict(type='dict', default={}),
            force=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params)
    name = params['name']
    try:
        if params['bricks'] is not None:
            params['bricks'] = [normalize_brick(brick.strip()) for brick in params['bricks']]
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    cli = GlusterCli(module)
    commands = []
    try:
        current = cli.volumes().get(name)
        actions = plan(current, params)
        if any(action[0] in ('create', 'add-brick') for action in actions):
            check_hosts(params['bricks'], cli.peers(), local_names())
        commands = [describe(name, action, params) for action in actions]
        if actions and not module.check_mode:
            for action in actions:
                execute(cli, name, action, params)
            current = cli.volumes().get(name)
    except PlanError as exc:
        module.fail_json(msg=str(exc), commands=commands)
    except GlusterError as exc:
        module.fail_json(commands=commands, **exc.fail_kwargs())
    module.exit_json(changed=bool(commands), commands=commands, volume=current)


if __name__ == '__main__':
    main()
