# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared code of the gluster_peer and gluster_volume modules.

Every gluster CLI command runs through ``GlusterCli._run_command`` (one funnel, which the unit
tests monkeypatch). Commands run with ``--mode=script`` (no prompts) and ``--xml``; the XML
answer is parsed here into plain dicts, and a non-zero ``opRet`` raises ``GlusterError`` with
gluster's own message.
"""

from __future__ import annotations

import socket
import time
from xml.etree import ElementTree


class GlusterError(Exception):
    """A gluster command failed (non-zero exit or non-zero opRet)."""

    def __init__(self, msg, cmd=None, rc=None, stdout=None, stderr=None):
        super(GlusterError, self).__init__(msg)
        self.msg = msg
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def fail_kwargs(self):
        return dict(msg=self.msg, cmd=self.cmd, rc=self.rc, stdout=self.stdout, stderr=self.stderr)


def _text(element, path, default=None):
    found = element.find(path)
    if found is None or found.text is None:
        return default
    return found.text.strip()


def _int(element, path, default=0):
    value = _text(element, path)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_cli_output(stdout):
    """Return the <cliOutput> root of a gluster --xml answer; raise GlusterError when opRet != 0."""
    try:
        root = ElementTree.fromstring(stdout)
    except ElementTree.ParseError as exc:
        raise GlusterError('gluster did not answer with XML: %s' % exc, stdout=stdout)
    if root.tag != 'cliOutput':
        raise GlusterError('unexpected XML root <%s> in the gluster answer' % root.tag, stdout=stdout)
    # Some answers (volume heal ... info) carry no opRet at all: the exit code decides for them.
    op_ret = _int(root, 'opRet', default=0)
    if op_ret != 0:
        message = _text(root, 'opErrstr') or 'gluster failed with opRet %d (opErrno %s)' % (op_ret, _text(root, 'opErrno'))
        raise GlusterError(message, stdout=stdout)
    return root


def parse_peers(root):
    """Peers of a <peerStatus> answer (peer status or pool list) as a list of dicts."""
    peers = []
    for peer in root.findall('./peerStatus/peer'):
        hostnames = [h.text.strip() for h in peer.findall('./hostnames/hostname') if h.text]
        hostname = _text(peer, 'hostname')
        if hostname and hostname not in hostnames:
            hostnames.insert(0, hostname)
        peers.append(dict(
            uuid=_text(peer, 'uuid'),
            hostname=hostname,
            hostnames=hostnames,
            connected=_int(peer, 'connected') == 1,
            state=_text(peer, 'stateStr'),
        ))
    return peers


def parse_volumes(root):
    """Volumes of a <volInfo> answer, keyed by name."""
    volumes = {}
    for volume in root.findall('./volInfo/volumes/volume'):
        name = _text(volume, 'name')
        bricks = []
        arbiters = []
        for brick in volume.findall('./bricks/brick'):
            brick_name = _text(brick, 'name') or (brick.text or '').strip()
            bricks.append(brick_name)
            if _int(brick, 'isArbiter') == 1:
                arbiters.append(brick_name)
        options = {}
        for option in volume.findall('./options/option'):
            options[_text(option, 'name')] = _text(option, 'value', default='')
        volumes[name] = dict(
            name=name,
            id=_text(volume, 'id'),
            status=_text(volume, 'statusStr'),
            type=_text(volume, 'typeStr'),
            brick_count=_int(volume, 'brickCount'),
            replica=_int(volume, 'replicaCount', default=1),
            arbiter=_int(volume, 'arbiterCount'),
            bricks=bricks,
            arbiter_bricks=arbiters,
            options=options,
        )
    return volumes


def parse_heal_info(root):
    """Per-brick pending heal entries of a `volume heal VOL info` answer."""
    bricks = []
    for brick in root.findall('./healInfo/bricks/brick'):
        entries = _text(brick, 'numberOfEntries')
        if entries is None:
            entries = _text(brick, 'totalNumberOfEntries')
        try:
            count = int(entries)
        except (TypeError, ValueError):
            count = None  # '-' when the brick is not connected
        bricks.append(dict(name=_text(brick, 'name'), status=_text(brick, 'status'), entries=count))
    return bricks


def split_brick(brick):
    """'host:/path' -> ('host', '/path'); raise ValueError for anything else."""
    host, sep, path = brick.rpartition(':')
    if not sep or not host or not path.startswith('/'):
        raise ValueError("brick %r is not of the form HOST:/ABSOLUTE/PATH" % brick)
    return host, path.rstrip('/') or '/'


def normalize_brick(brick):
    host, path = split_brick(brick)
    return '%s:%s' % (host, path)


def local_names():
    """Names and addresses under which this host may appear in a node list."""
    names = set(['localhost', '127.0.0.1', '::1'])
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name)
            names.add(name.split('.')[0])
            try:
                for info in socket.getaddrinfo(name, None):
                    names.add(info[4][0])
            except socket.gaierror:
                pass
    return names


def is_local(node, names):
    if node in names or node.split('.')[0] in names:
        return True
    try:
        addresses = set(info[4][0] for info in socket.getaddrinfo(node, None))
    except socket.gaierror:
        return False
    return bool(addresses & names)


class GlusterCli(object):
    """The gluster CLI. Every command goes through _run_command."""

    def __init__(self, module, gluster_bin=None):
        self.module = module
        self.gluster_bin = gluster_bin or module.get_bin_path('gluster', required=True)

    def _run_command(self, args):
        """The single place where a gluster command runs. Returns (rc, stdout, stderr)."""
        cmd = [self.gluster_bin, '--mode=script', '--xml'] + list(args)
        return self.module.run_command(cmd)

    def run(self, args):
        """Run one command and return the parsed <cliOutput> root."""
        rc, stdout, stderr = self._run_command(args)
        cmd = ' '.join(['gluster'] + list(args))
        try:
            root = parse_cli_output(stdout)
        except GlusterError as exc:
            message = exc.msg
            if rc != 0 and not (stdout or '').strip():
                message = (stderr or stdout or '').strip() or 'gluster exited with %d' % rc
            raise GlusterError('%s failed: %s' % (cmd, message), cmd=cmd, rc=rc, stdout=stdout, stderr=stderr)
        if rc != 0:
            raise GlusterError('%s failed with exit code %d' % (cmd, rc), cmd=cmd, rc=rc, stdout=stdout, stderr=stderr)
        return root

    # --- reads ---------------------------------------------------------------------------------

    def peers(self):
        return parse_peers(self.run(['peer', 'status']))

    def volumes(self):
        return parse_volumes(self.run(['volume', 'info', 'all']))

    def heal_info(self, volume):
        return parse_heal_info(self.run(['volume', 'heal', volume, 'info']))

    # --- changes -------------------------------------------------------------------------------

    def peer_probe(self, node):
        self.run(['peer', 'probe', node])

    def peer_detach(self, node, force=False):
        self.run(['peer', 'detach', node] + (['force'] if force else []))

    def volume_create(self, name, bricks, replica=1, arbiter=0, transport='tcp', force=False):
        args = ['volume', 'create', name]
        if replica > 1:
            args += ['replica', str(replica)]
            if arbiter:
                args += ['arbiter', str(arbiter)]
        args += ['transport', transport] + list(bricks)
        if force:
            args.append('force')
        self.run(args)

    def volume_add_brick(self, name, bricks, replica=1, force=False):
        args = ['volume', 'add-brick', name]
        if replica > 1:
            args += ['replica', str(replica)]
        args += list(bricks)
        if force:
            args.append('force')
        self.run(args)

    def volume_start(self, name, force=False):
        self.run(['volume', 'start', name] + (['force'] if force else []))

    def volume_stop(self, name):
        self.run(['volume', 'stop', name])

    def volume_delete(self, name):
        self.run(['volume', 'delete', name])

    def volume_set(self, name, key, value):
        self.run(['volume', 'set', name, key, value])

    def volume_reset(self, name, key):
        self.run(['volume', 'reset', name, key])


def wait_for(predicate, timeout, interval=1.0, sleep=time.sleep, clock=time.monotonic):
    """Call predicate() until it returns a true value or timeout seconds pass; return its last value."""
    deadline = clock() + timeout
    while True:
        value = predicate()
        if value or clock() >= deadline:
            return value
        sleep(interval)
