# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Table tests of the firewall's port registry (module_utils/_ports.py) and the host_addresses filter."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.filter.host_addresses import host_addresses
from ansible_collections.onprem.deepseek.plugins.filter.port_registry import port_registry

SSH = {'port': 22, 'proto': 'tcp', 'comment': 'OpenSSH'}


def test_merge_sorts_unites_sources_and_names_layers():
    out = port_registry({
        'base_os': [SSH],
        'model_serving': [{'port': '8000', 'proto': 'tcp', 'comment': 'Model API', 'sources': ['10.0.0.7/32', '10.0.0.5']}],
        'monitoring': [{'port': 8000, 'proto': 'tcp', 'comment': 'scrape', 'sources': ['10.0.0.5', '10.0.1.0/24']}],
        'ceph': [{'port': 6800, 'port_end': 7300, 'proto': 'tcp', 'comment': 'OSD', 'sources': ['10.0.0.0/16']}],
    }, require_sources=True, exempt=['base_os'])
    assert [(e['dport'], e['proto']) for e in out] == [('22', 'tcp'), ('6800-7300', 'tcp'), ('8000', 'tcp')]
    assert out[0]['sources'] == [] and out[0]['comment'] == 'OpenSSH (base_os)'
    assert out[1]['port'] == 6800 and out[1]['port_end'] == 7300
    assert out[2]['sources'] == ['10.0.0.5', '10.0.0.7', '10.0.1.0/24']
    assert out[2]['comment'] == 'Model API (model_serving), scrape (monitoring)'


def test_sources_collapse_as_nft_lists_them():
    out = port_registry({
        'monitoring': [{'port': 9090, 'proto': 'tcp', 'sources': ['10.213.87.0/24', '10.213.87.12', 'fd00::1', 'fd00::/64']}],
        'gateway': [{'port': 9090, 'proto': 'tcp', 'sources': ['10.0.0.22', '10.0.0.23', '10.0.0.0/25']}],
    }, require_sources=True, collapse=True)
    assert out[0]['sources'] == ['10.0.0.0/25', '10.213.87.0/24', 'fd00::/64']
    out = port_registry({'glusterfs': [{'port': 24007, 'proto': 'tcp', 'sources': ['10.0.0.23', '10.0.0.22']}]}, collapse=True)
    assert out[0]['sources'] == ['10.0.0.22', '10.0.0.23']


def test_anywhere_wins_over_sources():
    out = port_registry({'a': [{'port': 443, 'proto': 'tcp', 'sources': ['10.0.0.1']}],
                         'b': [{'port': 443, 'proto': 'tcp', 'sources': []}]})
    assert out[0]['sources'] == []


@pytest.mark.parametrize('entry, message', [
    ({'port': 70000, 'proto': 'tcp', 'sources': ['10.0.0.1']}, 'port 70000 is outside 1-65535'),
    ({'port': 53, 'proto': 'sctp', 'sources': ['10.0.0.1']}, "proto 'sctp' is not tcp or udp"),
    ({'port': 'http', 'proto': 'tcp'}, "port 'http' is not a number"),
    ({'port': 80, 'proto': 'tcp', 'sources': '10.0.0.0/8'}, 'sources must be a list'),
    ({'port': 80, 'proto': 'tcp', 'sources': ['gateway']}, "source 'gateway' is not an address or network"),
    ({'port': 90, 'port_end': 80, 'proto': 'tcp', 'sources': ['10.0.0.1']}, 'port_end 80 is not between port 90'),
    ({'port': 9100, 'proto': 'tcp'}, 'port 9100/tcp has no allowed sources'),
    ({'port': 9100, 'proto': 'tcp', 'sources': []}, 'port 9100/tcp has no allowed sources'),
])
def test_bad_entries_name_the_layer(entry, message):
    with pytest.raises(AnsibleFilterError) as err:
        port_registry({'base_os': [SSH], 'telemetry': [entry]}, require_sources=True, exempt=['base_os'])
    assert message in str(err.value)
    assert 'telemetry:' in str(err.value)


def test_explicit_anywhere_passes_the_source_rule():
    out = port_registry({'gateway': [{'port': 443, 'proto': 'tcp', 'sources': ['0.0.0.0/0', '::/0']}]},
                        require_sources=True)
    assert out[0]['sources'] == ['0.0.0.0/0', '::/0']


def test_a_layer_that_is_not_a_list_is_refused():
    with pytest.raises(AnsibleFilterError, match='gateway: the ports must be a list'):
        port_registry({'gateway': {'port': 443}})


class _Vars(dict):
    def get(self, key, default=None):
        value = dict.get(self, key, default)
        if value == 'UNDEFINED':
            raise KeyError(key)
        return value


def test_host_addresses_prefers_the_declared_address_then_facts_then_an_ip_host():
    hostvars = {
        'gw': _Vars(deepseek_address='10.1.0.10', ansible_facts={'default_ipv4': {'address': '172.17.0.2'}}),
        'mon': _Vars(ansible_facts={'default_ipv4': {'address': '10.1.0.20'}}),
        'vault': _Vars(ansible_host='10.1.0.30'),
        'dup': _Vars(deepseek_address='10.1.0.10'),
        'isolated': _Vars(ansible_facts={'default_ipv4': {}, 'all_ipv4_addresses': ['127.0.0.1', '169.254.0.9', '10.1.0.40']}),
    }
    assert host_addresses(['gw', 'mon', 'vault', 'dup', 'isolated'], hostvars) == [
        '10.1.0.10', '10.1.0.20', '10.1.0.30', '10.1.0.40']


@pytest.mark.parametrize('hostvars, message', [
    ({'gw': _Vars(ansible_host='gw-01.example.internal')}, 'the address of gw is not known'),
    ({'gw': _Vars(deepseek_address='UNDEFINED')}, 'the address of gw is not known'),
    ({}, 'gw is not an inventory host'),
    ({'gw': _Vars(ansible_facts={'all_ipv4_addresses': ['10.1.0.5', '10.2.0.5']})}, 'the address of gw is not known'),
])
def test_host_addresses_fails_naming_the_host(hostvars, message):
    with pytest.raises(AnsibleFilterError, match=message):
        host_addresses(['gw'], hostvars)
