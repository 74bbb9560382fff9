#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: gluster_peer
short_description: Manage the trusted storage pool of GlusterFS
version_added: 0.1.0
description:
  - Probes nodes into, or detaches them from, the GlusterFS trusted storage pool of the host it runs on.
  - The current pool is read with C(gluster --xml peer status); a node counts as a member when its name is the
    peer's hostname or one of the peer's other known hostnames. A name under which this host itself is known
    (its hostname, FQDN or one of their addresses) is skipped.
  - Probing a member under a new name records that name for it (the way to replace the IP address that
    glusterd records for the first server); the module then reports a change once, and no change afterwards.
  - After a probe, the module waits until every probed node is C(Peer in Cluster) and connected.
  - In check mode the module reports the nodes it would probe or detach and runs no changing command.
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
  nodes:
    description:
      - Host names or addresses of the nodes that must be (or must not be) in the pool.
    type: list
    elements: str
    required: true
  state:
    description:
      - V(present) probes the nodes that are not members yet, V(absent) detaches the members listed.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - Pass C(force) to C(gluster peer detach) (detach a node that still holds bricks or is unreachable).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait, after a probe, for the probed nodes to be C(Peer in Cluster) and connected.
      - The module fails when they are not by then.
    type: int
    default: 60
seealso:
  - module: onprem.deepseek.gluster_volume
"""

EXAMPLES = r"""
- name: Ensure the three storage servers form a trusted pool
  onprem.deepseek.gluster_peer:
    nodes: [gluster1, gluster2, gluster3]
  run_once: true

- name: Ensure gluster1 is known by name on gluster2 (not by the IP address it probed from)
  onprem.deepseek.gluster_peer:
    nodes: [gluster1]
  delegate_to: gluster2
  run_once: true

- name: Ensure a retired node has left the pool
  onprem.deepseek.gluster_peer:
    nodes: [gluster4]
    state: absent
"""

RETURN = r"""
probed:
  description: Nodes probed (or that would be probed in check mode).
  returned: always
  type: list
  elements: str
  sample: [gluster2, gluster3]
detached:
  description: Nodes detached (or that would be detached in check mode).
  returned: always
  type: list
  elements: str
  sample: []
peers:
  description: The peers of this host after the change (C(gluster peer status)); this host is not listed.
  returned: always
  type: list
  elements: dict
  contains:
    uuid:
      description: UUID of the peer.
      type: str
    hostname:
      description: The name glusterd uses for the peer.
      type: str
    hostnames:
      description: Every name known for the peer.
      type: list
      elements: str
    connected:
      description: Whether the peer is connected.
      type: bool
    state:
      description: The peer state, C(Peer in Cluster) when it is a member.
      type: str
  sample:
    - uuid: 7a1a4a33-5d1c-4a8c-9d0a-1d7f1c3c2b11
      hostname: gluster2
      hostnames: [gluster2]
      connected: true
      state: Peer in Cluster
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.deepseek.plugins.module_utils._gluster import (
    GlusterCli,
    GlusterError,
    is_local,
    local_names,
    wait_for,
)


def find_peer(peers, node):
    for peer in peers:
        if node in peer['hostnames']:
            return peer
    return None


def plan(peers, nodes, state, names):
    """Decide which nodes to probe or detach. Pure: no command runs here."""
    probe, detach = [], []
    for node in nodes:
        if is_local(node, names):
            continue
        peer = find_peer(peers, node)
        if state == 'present' and peer is None and node not in probe:
            probe.append(node)
        if state == 'absent' and peer is not None and node not in detach:
            detach.append(node)
    return probe, detach


def in_cluster(peers, nodes):
    for node in nodes:
        peer = find_peer(peers, node)
        if peer is None or not peer['connected'] or peer['state'] != 'Peer in Cluster':
            return False
    return True


def joined(cli, nodes):
    """The current peers when every node is in the cluster and connected, else None."""
    peers = cli.peers()
    return peers if in_cluster(peers, nodes) else None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            nodes=dict(type='list', elements='str', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            force=dict(type='bool', default=False),
            wait_timeout=dict(type='int', default=60),
        ),
        supports_check_mode=True,
    )
    nodes = [node.strip() for node in module.params['nodes'] if node and node.strip()]
    cli = GlusterCli(module)
    try:
        peers = cli.peers()
        probe, detach = plan(peers, nodes, module.params['state'], local_names())
        if not module.check_mode:
            for node in probe:
                cli.peer_probe(node)
            for node in detach:
                cli.peer_detach(node, force=module.params['force'])
            if probe:
                peers = wait_for(lambda: joined(cli, probe), module.params['wait_timeout'])
                if not peers:
                    peers = cli.peers()
                    module.fail_json(msg='probed nodes are not all "Peer in Cluster" and connected after %d s: %s'
                                     % (module.params['wait_timeout'], ', '.join(probe)), peers=peers,
                                     probed=probe, detached=detach)
            elif detach:
                peers = cli.peers()
    except GlusterError as exc:
        module.fail_json(**exc.fail_kwargs())
    module.exit_json(changed=bool(probe or detach), probed=probe, detached=detach, peers=peers)


if __name__ == '__main__':
    main()
