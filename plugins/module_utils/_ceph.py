# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Shared code of the ceph_* modules.

Every ceph CLI command runs through ``CephCli._run_command`` (one funnel, which the unit tests
monkeypatch). Read commands ask for ``--format json``; a non-zero exit raises ``CephError`` with
ceph's own message. Secrets (cephx keys) are passed on stdin or in files, never in argv, so
the ``commands`` the modules return are safe to print.
"""

from __future__ import annotations

import errno
import json
import shlex

CEPH_COMMON_ARGS = dict(
    cluster=dict(type='str', default='ceph'),
    auth_name=dict(type='str', default='client.admin'),
    auth_keyring=dict(type='path'),
    connect_timeout=dict(type='int', default=30),
)


class CephError(Exception):
    """A ceph command failed."""

    def __init__(self, msg, cmd=None, rc=None, stdout=None, stderr=None):
        super(CephError, self).__init__(msg)
        self.msg = msg
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def fail_kwargs(self):
        return dict(msg=self.msg, cmd=self.cmd, rc=self.rc, stdout=self.stdout, stderr=self.stderr)


def quote_command(argv):
    return ' '.join(shlex.quote(str(arg)) for arg in argv)


class CephCli(object):
    """Runs ``ceph`` as one identity (auth_name + auth_keyring) against one cluster."""

    def __init__(self, module, cluster='ceph', auth_name='client.admin', auth_keyring=None, connect_timeout=30):
        self.module = module
        self.cluster = cluster
        self.auth_name = auth_name
        self.auth_keyring = auth_keyring
        self.connect_timeout = connect_timeout
        self.executed = []

    @classmethod
    def from_module(cls, module):
        params = module.params
        return cls(module, params['cluster'], params['auth_name'], params['auth_keyring'], params['connect_timeout'])

    def _run_command(self, argv, data=None):
        """The single funnel through which every command runs (monkeypatched by the unit tests)."""
        return self.module.run_command(argv, data=data, binary_data=True)

    def base(self):
        argv = ['ceph', '--cluster', self.cluster, '--name', self.auth_name,
                '--connect-timeout', str(self.connect_timeout)]
        if self.auth_keyring:
            argv += ['--keyring', self.auth_keyring]
        return argv

    def run(self, args, data=None, ok_rcs=(0,), record=False):
        """Run ``ceph ARGS``; return (rc, stdout, stderr). record=True lists it in ``executed`` (changes)."""
        argv = self.base() + list(args)
        if data is not None:
            argv[len(self.base()):len(self.base())] = ['-i', '-']
        rc, out, err = self._run_command(argv, data=data)
        if record:
            self.executed.append(quote_command(['ceph'] + list(args)))
        if rc not in ok_rcs:
            message = (err or out or '').strip() or 'ceph %s failed with exit code %d' % (' '.join(args), rc)
            raise CephError(message, cmd=quote_command(argv), rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def json(self, args, missing_ok=False):
        """Run a read command with --format json; None when missing_ok and ceph says ENOENT."""
        ok = (0, errno.ENOENT) if missing_ok else (0,)
        rc, out, err = self.run(list(args) + ['--format', 'json'], ok_rcs=ok)
        if rc == errno.ENOENT:
            return None
        try:
            return json.loads(out) if out.strip() else None
        except ValueError as exc:
            raise CephError('ceph did not answer with JSON: %s' % exc, cmd=quote_command(args), stdout=out, stderr=err)

    def osd_count(self):
        """Number of OSDs in the OSD map (ceph osd stat)."""
        stat = self.json(['osd', 'stat'])
        # pacific: {"epoch": 12, "num_osds": 4, "num_up_osds": 4, ...}; older: nested under "osdmap".
        stat = stat.get('osdmap', stat)
        return int(stat.get('num_osds', 0))


def normalize_caps(caps):
    """Caps as a dict of non-empty, whitespace-normalised strings."""
    return dict((str(k), ' '.join(str(v).split())) for k, v in (caps or {}).items() if v is not None and str(v).strip())


def caps_argv(caps):
    """Caps dict -> ['mds', 'allow rw', 'mon', 'allow r', ...] in a stable order."""
    argv = []
    for daemon in sorted(caps):
        argv += [daemon, caps[daemon]]
    return argv


def render_keyring(entity, key, caps=None):
    """The keyring file text that ``ceph auth get`` writes for one entity."""
    lines = ['[%s]' % entity, '\tkey = %s' % key]
    for daemon in sorted(caps or {}):
        lines.append('\tcaps %s = "%s"' % (daemon, caps[daemon]))
    return '\n'.join(lines) + '\n'
