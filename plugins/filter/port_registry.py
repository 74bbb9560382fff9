# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: port_registry
short_description: Merge the ports that a host's layers register into the set its firewall opens
version_added: 0.1.0
description:
  - Each layer (role) of a host registers the ports it serves with C(onprem.deepseek.base_os)'s C(ports) entry point;
    C(base_os) opens exactly the union, with the sources each entry allows.
  - Validates every entry (port 1-65535, protocol C(tcp) or C(udp), sources a list of addresses or CIDRs) and fails
    naming the layer and the entry. Entries on the same port and protocol are merged; their sources are united, and
    an entry without sources (anywhere) wins.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
options:
  _input:
    description:
      - The registered layers, a mapping of layer name to its list of C({port, proto, comment, sources}), with
        an optional C(port_end) for a range of ports.
    type: dict
    required: true
  require_sources:
    description:
      - Fail on an entry without sources (anywhere), except for the layers in O(exempt). V(0.0.0.0/0) and V(::/0)
        say "anywhere" explicitly.
    type: bool
    default: false
  exempt:
    description: Layers whose entries may omit their sources (C(base_os), whose SSH port has its own setting).
    type: list
    elements: str
    default: []
  collapse:
    description:
      - Give the sources as C(nft list) shows an interval set (an address or network inside another listed network
        left out), to compare with the rules the kernel holds.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Compute the ports to open
  ansible.builtin.set_fact:
    open_ports: >-
      {{ {'base_os': [{'port': 22, 'proto': 'tcp', 'comment': 'OpenSSH'}],
          'model_serving': [{'port': 8000, 'proto': 'tcp', 'comment': 'Model API', 'sources': ['10.0.0.5']}]}
         | onprem.deepseek.port_registry }}
"""

RETURN = r"""
_value:
  description: The ports to open, sorted by port and protocol.
  type: list
  elements: dict
  contains:
    port:
      description: The port number (the first of a range).
      type: int
    port_end:
      description: The last port of a range, only for a range.
      type: int
    dport:
      description: The port or the range as nftables and firewalld write it (V(22), V(6800-7300)).
      type: str
    proto:
      description: V(tcp) or V(udp).
      type: str
    sources:
      description: Addresses or networks allowed; empty means anywhere.
      type: list
      elements: str
    comment:
      description: What the port is for, with the layers that registered it.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.module_utils._ports import PortRegistryError, merge


def port_registry(layers, require_sources=False, exempt=None, collapse=False):
    if not isinstance(layers, dict):
        raise AnsibleFilterError('port_registry expects a mapping of layer name to its list of ports')
    try:
        return merge(layers, require_sources=bool(require_sources), exempt=tuple(exempt or ()), collapse=bool(collapse))
    except PortRegistryError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {'port_registry': port_registry}
