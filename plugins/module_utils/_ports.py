# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host firewall's port registry: every layer (role) of a host registers the ports it serves, each with
the sources allowed to reach it; base_os opens exactly the union. Pure functions, no Ansible objects."""

from __future__ import annotations

import ipaddress

PROTOCOLS = ('tcp', 'udp')


class PortRegistryError(ValueError):
    """A registered entry that cannot be opened."""


def _entry_problem(entry):
    if not isinstance(entry, dict):
        return 'not a mapping'
    port = entry.get('port')
    try:
        port_number = int(str(port), 10)
    except (TypeError, ValueError):
        return 'port %r is not a number' % (port,)
    if not 1 <= port_number <= 65535:
        return 'port %d is outside 1-65535' % port_number
    if entry.get('port_end') not in (None, ''):
        try:
            end = int(str(entry['port_end']), 10)
        except (TypeError, ValueError):
            return 'port_end %r is not a number' % (entry['port_end'],)
        if not port_number <= end <= 65535:
            return 'port_end %d is not between port %d and 65535' % (end, port_number)
    if entry.get('proto') not in PROTOCOLS:
        return 'proto %r is not tcp or udp' % (entry.get('proto'),)
    sources = entry.get('sources', [])
    if sources is None:
        sources = []
    if isinstance(sources, (str, bytes)) or not isinstance(sources, (list, tuple)):
        return 'sources must be a list of addresses or networks'
    for source in sources:
        try:
            ipaddress.ip_network(str(source), strict=False)
        except ValueError:
            return 'source %r is not an address or network' % (source,)
    return None


def normalise_sources(sources, collapse=False):
    """Sorted, de-duplicated networks in their canonical text form (a host address keeps no /32).

    With ``collapse``, as ``nft list`` shows an interval set: an address or network inside another listed network is
    left out (adjacent addresses stay separate).
    """
    if collapse:
        nets = sorted({ipaddress.ip_network(str(source), strict=False) for source in sources or []},
                      key=lambda n: (n.version, n.prefixlen, n.network_address.packed))
        kept = []
        for net in nets:
            if not any(net.version == k.version and net.subnet_of(k) for k in kept):
                kept.append(net)
        kept.sort(key=lambda n: (n.version, n.network_address.packed, n.prefixlen))
        return [str(net.network_address) if net.num_addresses == 1 else str(net) for net in kept]
    out = set()
    for source in sources or []:
        net = ipaddress.ip_network(str(source), strict=False)
        out.add(str(net.network_address) if net.num_addresses == 1 else str(net))
    return sorted(out, key=lambda s: (':' in s, ipaddress.ip_network(s).network_address.packed, s))


def merge(layers, require_sources=False, exempt=(), collapse=False):
    """Validate and merge ``{layer: [entries]}`` into the ports to open.

    With ``collapse``, the sources are given as the kernel holds them (see normalise_sources).
    With ``require_sources``, an entry of a layer not in ``exempt`` must name its sources (``0.0.0.0/0`` and ``::/0``
    say "anywhere" explicitly).

    An entry may give ``port_end`` for a range ``port``-``port_end``. Returns a list of
    ``{port, proto, sources, comment}`` (and ``port_end`` for a range) sorted by port and protocol. Entries of several layers on
    the same port and protocol are merged: their sources are united, and a layer that opens the port to anywhere
    (no sources) wins. Raises PortRegistryError naming every layer and entry that is invalid.
    """
    problems = []
    merged = {}
    for layer in sorted(layers or {}):
        entries = layers[layer]
        if entries is None:
            continue
        if isinstance(entries, (str, bytes, dict)) or not isinstance(entries, (list, tuple)):
            problems.append('%s: the ports must be a list of {port, proto, comment, sources}' % layer)
            continue
        for entry in entries:
            problem = _entry_problem(entry)
            if not problem and require_sources and layer not in exempt and not entry.get('sources'):
                problem = ('port %s/%s has no allowed sources (give the addresses or networks that may reach it, '
                           'or 0.0.0.0/0 and ::/0 for anywhere)' % (entry.get('port'), entry.get('proto')))
            if problem:
                problems.append('%s: %s (%s)' % (layer, problem, entry))
                continue
            start = int(str(entry['port']), 10)
            end = int(str(entry['port_end']), 10) if entry.get('port_end') not in (None, '') else start
            key = (start, end, entry['proto'])
            sources = normalise_sources(entry.get('sources') or [], collapse)
            comment = '%s (%s)' % (entry.get('comment') or layer, layer)
            if key not in merged:
                merged[key] = {'port': start, 'port_end': end, 'proto': entry['proto'], 'sources': sources,
                               'comments': [comment]}
                continue
            current = merged[key]
            if comment not in current['comments']:
                current['comments'].append(comment)
            if not current['sources'] or not sources:
                current['sources'] = []
            else:
                current['sources'] = normalise_sources(current['sources'] + sources, collapse)
    if problems:
        raise PortRegistryError('invalid firewall entries (each needs port 1-65535, proto tcp or udp and '
                                'optional sources as a list of addresses or CIDRs): ' + '; '.join(problems))
    out = []
    for key in sorted(merged):
        entry = merged[key]
        dport = str(entry['port']) if entry['port_end'] == entry['port'] else '%d-%d' % (entry['port'], entry['port_end'])
        item = {'port': entry['port'], 'dport': dport, 'proto': entry['proto'], 'sources': entry['sources'],
                'comment': ', '.join(entry['comments'])}
        if entry['port_end'] != entry['port']:
            item['port_end'] = entry['port_end']
        out.append(item)
    return out
