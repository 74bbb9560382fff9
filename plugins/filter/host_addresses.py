# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: host_addresses
short_description: The site addresses of inventory hosts, for firewall sources and peer lists
version_added: 0.1.0
description:
  - For each inventory host name, its address on the site network, in this order of preference, the host's
    C(deepseek_address) variable, the IPv4 address of its default route from the gathered facts, its only
    IPv4 address other than loopback and link-local ones (a host without a default route), or its
    C(ansible_host) when that is an IP address.
  - Fails naming the host when none is known (its facts were not gathered in this run or the fact cache, and no
    C(deepseek_address) is set), so that a firewall is never opened to a wrong address.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
options:
  _input:
    description: Inventory host names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The play's C(hostvars).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Allow the gateway hosts to reach the engine
  ansible.builtin.set_fact:
    sources: "{{ groups['gateway'] | onprem.deepseek.host_addresses(hostvars) }}"
"""

RETURN = r"""
_value:
  description: The addresses, in the order of the input, without duplicates.
  type: list
  elements: str
"""

import ipaddress

from ansible.errors import AnsibleFilterError


def _is_ip(value):
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _lookup(hostvars, host, name):
    try:
        value = hostvars[host].get(name)
    except Exception:  # an undefined template inside the variable
        return None
    return value


def host_addresses(hosts, hostvars):
    if isinstance(hosts, str):
        hosts = [hosts]
    out = []
    for host in hosts or []:
        if host not in hostvars:
            raise AnsibleFilterError('host_addresses: %s is not an inventory host' % host)
        address = _lookup(hostvars, host, 'deepseek_address')
        if not address:
            facts = _lookup(hostvars, host, 'ansible_facts') or {}
            address = (facts.get('default_ipv4') or {}).get('address')
            if not address:
                # A host without a default route (an isolated site): its only routable IPv4 address, if it has one.
                usable = [a for a in facts.get('all_ipv4_addresses') or []
                          if _is_ip(a) and not (ipaddress.ip_address(a).is_loopback or ipaddress.ip_address(a).is_link_local)]
                address = usable[0] if len(usable) == 1 else None
        if not address:
            candidate = _lookup(hostvars, host, 'ansible_host')
            address = candidate if candidate and _is_ip(candidate) else None
        if not address or not _is_ip(address):
            raise AnsibleFilterError(
                'host_addresses: the address of %s is not known (got %r): gather its facts in the same run (run '
                'without --limit, or keep the fact cache) or set deepseek_address for it in the inventory'
                % (host, address))
        if str(address) not in out:
            out.append(str(address))
    return out


class FilterModule(object):
    def filters(self):
        return {'host_addresses': host_addresses}
