# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of ceph_key, ceph_pool, ceph_osd and module_utils._ceph.

The boundary is the single command funnel CephCli._run_command (and AnsibleModule.run_command for
the ceph-authtool / ceph-osd calls of ceph_osd), monkeypatched with a fake cluster that answers with
JSON shaped like Ceph 16.2 (pacific) and records every command.
"""

from __future__ import annotations

import errno
import json
import os

import pytest

from ansible.module_utils import basic

from ansible_collections.onprem.deepseek.plugins.module_utils import _ceph
from ansible_collections.onprem.deepseek.plugins.modules import ceph_key, ceph_osd, ceph_pool

SECRET = 'AQBxY2VwaAAAABAAaGVsbG8td29ybGQtc2VjcmV0IQ=='


class FakeCluster(object):
    """Enough of the ceph CLI: auth get/get-or-create/caps/del, osd stat, pool ls/create/set, osd new."""

    def __init__(self, entities=None, pools=None, num_osds=4):
        self.entities = dict(entities or {})
        self.pools = dict(pools or {})
        self.num_osds = num_osds
        self.calls = []
        self.next_osd = num_osds

    def __call__(self, cli, argv, data=None):
        base = cli.base()
        assert argv[:len(base)] == base
        args = [a for a in argv[len(base):] if a not in ('--format', 'json')]
        if args[:2] == ['-i', '-']:
            args = args[2:]
        self.calls.append((args, data))
        if args[:2] == ['auth', 'get']:
            entity = self.entities.get(args[2])
            if entity is None:
                return errno.ENOENT, '', 'Error ENOENT: failed to find %s in keyring' % args[2]
            return 0, json.dumps([dict(entity=args[2], key=entity['key'], caps=entity['caps'])]), ''
        if args[:2] == ['auth', 'get-or-create']:
            caps = dict(zip(args[3::2], args[4::2]))
            self.entities.setdefault(args[2], dict(key=SECRET, caps=caps))
            return 0, '', ''
        if args[:2] == ['auth', 'caps']:
            self.entities[args[2]]['caps'] = dict(zip(args[3::2], args[4::2]))
            return 0, '', 'updated caps for %s' % args[2]
        if args[:2] == ['auth', 'del']:
            del self.entities[args[2]]
            return 0, '', 'updated'
        if args[:2] == ['osd', 'stat']:
            return 0, json.dumps(dict(epoch=20, num_osds=self.num_osds, num_up_osds=self.num_osds, num_in_osds=self.num_osds)), ''
        if args[:4] == ['osd', 'pool', 'ls', 'detail']:
            return 0, json.dumps([dict(pool_id=i + 1, pool_name=name, **pool) for i, (name, pool) in enumerate(self.pools.items())]), ''
        if args[:3] == ['osd', 'pool', 'create']:
            pg = int(args[4]) if len(args) > 4 else 32
            self.pools[args[3]] = dict(size=3, min_size=2, pg_num=pg, pg_num_target=pg, pg_autoscale_mode='on',
                                       application_metadata={})
            return 0, '', "pool '%s' created" % args[3]
        if args[:3] == ['osd', 'pool', 'set']:
            value = args[5]
            self.pools[args[3]][args[4]] = value if args[4] == 'pg_autoscale_mode' else int(value)
            if args[4] == 'pg_num':
                self.pools[args[3]]['pg_num_target'] = int(value)
            return 0, '', 'set pool'
        if args[:4] == ['osd', 'pool', 'application', 'enable']:
            self.pools[args[4]]['application_metadata'][args[5]] = {}
            return 0, '', "enabled application '%s'" % args[5]
        if args[:3] == ['osd', 'pool', 'rm']:
            del self.pools[args[3]]
            return 0, '', 'removed'
        if args[:2] == ['osd', 'new']:
            assert json.loads(data)['cephx_secret'] == SECRET
            osd_id = self.next_osd
            self.next_osd += 1
            return 0, '%d\n' % osd_id, ''
        raise AssertionError('unexpected ceph command %s' % args)

    def changes(self):
        return [args for args, data in self.calls if args[:2] not in (['auth', 'get'], ['osd', 'stat'])
                and args[:4] != ['osd', 'pool', 'ls', 'detail']]


@pytest.fixture
def cluster(monkeypatch):
    def _make(**kwargs):
        fake = FakeCluster(**kwargs)
        monkeypatch.setattr(_ceph.CephCli, '_run_command', lambda self, argv, data=None: fake(self, argv, data))
        return fake
    return _make


# --- module_utils -------------------------------------------------------------------------------

def test_render_keyring_matches_ceph_auth_get_layout():
    text = _ceph.render_keyring('client.models', SECRET, {'osd': 'allow rw pool=models', 'mon': 'allow r'})
    assert text == ('[client.models]\n\tkey = %s\n\tcaps mon = "allow r"\n\tcaps osd = "allow rw pool=models"\n' % SECRET)


@pytest.mark.parametrize('caps, expected', [
    ({'mon': ' allow   r '}, {'mon': 'allow r'}),
    ({'mon': 'allow r', 'mds': ''}, {'mon': 'allow r'}),
    (None, {}),
])
def test_normalize_caps(caps, expected):
    assert _ceph.normalize_caps(caps) == expected


def test_failed_command_raises_with_ceph_message(monkeypatch):
    cli = _ceph.CephCli(module=None)
    monkeypatch.setattr(cli, '_run_command', lambda argv, data=None: (13, '', 'Error EACCES: access denied\n'))
    with pytest.raises(_ceph.CephError) as info:
        cli.run(['osd', 'stat'])
    assert info.value.msg == 'Error EACCES: access denied'
    assert info.value.rc == 13


# --- ceph_key -----------------------------------------------------------------------------------

CAPS = {'mon': 'allow r fsname=cephfs', 'mds': 'allow rw fsname=cephfs', 'osd': 'allow rw tag cephfs data=cephfs'}


def test_key_created_and_keyring_written(cluster, call_main, tmp_path):
    fake = cluster()
    dest = str(tmp_path / 'ceph.client.models.keyring')
    result = call_main(ceph_key.main, dict(name='client.models', caps=CAPS, dest=dest, mode='0600'))
    assert result['changed']
    assert result['commands'] == ["ceph auth get-or-create client.models mds 'allow rw fsname=cephfs' "
                                  "mon 'allow r fsname=cephfs' osd 'allow rw tag cephfs data=cephfs'"]
    assert SECRET not in json.dumps(result)
    with open(dest) as handle:
        assert handle.read() == _ceph.render_keyring('client.models', SECRET, CAPS)
    assert oct(os.stat(dest).st_mode & 0o777) == '0o600'
    assert fake.entities['client.models']['caps'] == CAPS


def test_key_unchanged_when_caps_and_file_match(cluster, call_main, tmp_path):
    fake = cluster(entities={'client.models': dict(key=SECRET, caps=CAPS)})
    dest = tmp_path / 'k'
    dest.write_text(_ceph.render_keyring('client.models', SECRET, CAPS))
    os.chmod(str(dest), 0o600)
    result = call_main(ceph_key.main, dict(name='client.models', caps=CAPS, dest=str(dest), mode='0600'))
    assert not result['changed']
    assert fake.changes() == []


def test_key_caps_replaced_exactly(cluster, call_main):
    fake = cluster(entities={'client.objects': dict(key=SECRET, caps={'mon': 'allow *', 'osd': 'allow *', 'mgr': 'allow *'})})
    result = call_main(ceph_key.main, dict(name='client.objects', caps={'mon': 'allow r', 'osd': 'allow rw pool=objects'}))
    assert result['changed']
    assert fake.changes() == [['auth', 'caps', 'client.objects', 'mon', 'allow r', 'osd', 'allow rw pool=objects']]
    assert fake.entities['client.objects']['caps'] == {'mon': 'allow r', 'osd': 'allow rw pool=objects'}


def test_key_check_mode_plans_without_acting(cluster, call_main, tmp_path):
    fake = cluster(entities={'client.objects': dict(key=SECRET, caps={'mon': 'allow r'})})
    dest = str(tmp_path / 'k')
    result = call_main(ceph_key.main, dict(name='client.objects', caps={'mon': 'allow r', 'osd': 'allow rwx'}, dest=dest),
                       check_mode=True)
    assert result['changed']
    assert result['commands'] == ["ceph auth caps client.objects mon 'allow r' osd 'allow rwx'"]
    assert fake.changes() == []
    assert not os.path.exists(dest)


def test_key_absent(cluster, call_main):
    fake = cluster(entities={'client.old': dict(key=SECRET, caps={'mon': 'allow r'})})
    result = call_main(ceph_key.main, dict(name='client.old', state='absent'))
    assert result['changed'] and 'client.old' not in fake.entities
    result = call_main(ceph_key.main, dict(name='client.old', state='absent'))
    assert not result['changed']


@pytest.mark.parametrize('args, message', [
    (dict(name='models', caps={'mon': 'allow r'}), 'is not an entity name'),
    (dict(name='client.x', caps={'mon': ''}), 'caps must give at least one capability'),
])
def test_key_bad_input(cluster, call_main, args, message):
    fake = cluster()
    result = call_main(ceph_key.main, args)
    assert result['failed'] and message in result['msg']
    assert fake.calls == []


# --- ceph_pool ----------------------------------------------------------------------------------

def test_pool_created_with_size_and_application(cluster, call_main):
    fake = cluster()
    result = call_main(ceph_pool.main, dict(name='objects', size=2, min_size=1, pg_num=16, application='rados'))
    assert result['changed']
    assert result['commands'] == ['ceph osd pool create objects 16', 'ceph osd pool set objects size 2',
                                  'ceph osd pool set objects min_size 1', 'ceph osd pool application enable objects rados']
    assert result['pool'] == dict(name='objects', size=2, min_size=1, pg_num=16, pg_autoscale_mode='on', applications=['rados'])
    again = call_main(ceph_pool.main, dict(name='objects', size=2, min_size=1, pg_num=16, application='rados'))
    assert not again['changed'] and again['commands'] == []
    assert len(fake.changes()) == 4


def test_pool_pg_num_left_to_the_autoscaler(cluster, call_main):
    fake = cluster(pools={'objects': dict(size=2, min_size=1, pg_num=32, pg_num_target=32, pg_autoscale_mode='on',
                                          application_metadata={'rados': {}})})
    result = call_main(ceph_pool.main, dict(name='objects', size=2, min_size=1, pg_num=16))
    assert not result['changed']
    result = call_main(ceph_pool.main, dict(name='objects', pg_num=16, pg_autoscale_mode='off'))
    assert result['commands'] == ['ceph osd pool set objects pg_autoscale_mode off', 'ceph osd pool set objects pg_num 16']
    assert fake.pools['objects']['pg_num'] == 16


def test_pool_size_one_needs_confirmation_flag(cluster, call_main):
    cluster(pools={'scratch': dict(size=3, min_size=2, pg_num=8, pg_autoscale_mode='on', application_metadata={})})
    result = call_main(ceph_pool.main, dict(name='scratch', size=1, min_size=1))
    assert result['commands'][0] == 'ceph osd pool set scratch size 1 --yes-i-really-mean-it'


@pytest.mark.parametrize('args, message', [
    (dict(name='toobig', size=5), 'pool toobig: size 5 needs at least 5 OSDs; the cluster has 4'),
    (dict(name='p', size=2, min_size=3), 'pool p: min_size 3 is larger than size 2'),
    (dict(name='p', size=0), 'size must be at least 1'),
])
def test_pool_bad_input_fails_before_any_change(cluster, call_main, args, message):
    fake = cluster()
    result = call_main(ceph_pool.main, args)
    assert result['failed'] and message in result['msg']
    assert fake.changes() == [] and fake.pools == {}


def test_pool_check_mode(cluster, call_main):
    fake = cluster()
    result = call_main(ceph_pool.main, dict(name='objects', size=2, application='rbd'), check_mode=True)
    assert result['changed'] and fake.pools == {}
    assert result['pool']['size'] == 2 and result['pool']['applications'] == ['rbd']


def test_pool_absent(cluster, call_main):
    fake = cluster(pools={'old': dict(size=2, min_size=1, pg_num=8, pg_autoscale_mode='on', application_metadata={})})
    result = call_main(ceph_pool.main, dict(name='old', state='absent'))
    assert result['commands'] == ['ceph osd pool rm old old --yes-i-really-really-mean-it'] and fake.pools == {}


# --- ceph_osd -----------------------------------------------------------------------------------

UUID = '0b5c3a52-5e0f-5d0b-9a8e-1f6c0a7d2e11'


@pytest.fixture
def osd_env(cluster, monkeypatch, tmp_path):
    """A fake cluster plus fake ceph-authtool / ceph-osd (the latter writes what mkfs writes) and chown."""
    fake = cluster()
    local = []

    def run_command(self, argv, check_rc=False, data=None, **kwargs):  # pylint: disable=unused-argument
        local.append(list(argv))
        if argv[0] == 'ceph-authtool':
            return 0, SECRET + '\n', ''
        if argv[0] == 'ceph-osd':
            data_dir = argv[argv.index('--osd-data') + 1]
            with open(os.path.join(data_dir, 'block'), 'w') as handle:
                handle.write('')
            return 0, '', 'created object store %s for osd.%s fsid x' % (data_dir, argv[argv.index('-i') + 1])
        raise AssertionError('unexpected command %s' % argv)

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(ceph_osd, 'chown_tree', lambda path, owner: None)
    root = tmp_path / 'osd'
    root.mkdir()
    return fake, local, str(root)


def test_osd_prepared_once(osd_env, call_main):
    fake, local, root = osd_env
    args = dict(uuid=UUID, data_root=root, block_size=4294967296)
    result = call_main(ceph_osd.main, args)
    assert result['changed'] and result['osd_id'] == 4
    assert result['data_dir'] == os.path.join(root, 'ceph-4')
    assert fake.changes() == [['osd', 'new', UUID]]
    mkfs = local[-1]
    assert '--bluestore_block_create' in mkfs and '--bluestore_block_size=4294967296' in mkfs
    with open(os.path.join(root, 'ceph-4', 'keyring')) as handle:
        assert handle.read() == '[osd.4]\n\tkey = %s\n' % SECRET
    assert SECRET not in json.dumps(result)
    again = call_main(ceph_osd.main, args)
    assert not again['changed'] and again['osd_id'] == 4
    assert fake.changes() == [['osd', 'new', UUID]]


def test_osd_check_mode_acts_on_nothing(osd_env, call_main):
    fake, local, root = osd_env
    result = call_main(ceph_osd.main, dict(uuid=UUID, data_root=root), check_mode=True)
    assert result['changed'] and result['osd_id'] is None
    assert fake.calls == [] and local == [] and os.listdir(root) == []


def test_osd_refuses_a_device_with_data(osd_env, call_main, tmp_path):
    fake, local, root = osd_env
    device = tmp_path / 'disk'
    device.write_bytes(b'\0' * 4096 + b'XFSB' + b'\0' * 4096)
    result = call_main(ceph_osd.main, dict(uuid=UUID, data_root=root, device=str(device)))
    assert result['failed'] and 'is not blank' in result['msg']
    assert fake.calls == [] and local == []


def test_osd_on_blank_device_links_block(osd_env, call_main, tmp_path, monkeypatch):
    fake, local, root = osd_env
    device = tmp_path / 'disk'
    device.write_bytes(b'\0' * 8192)
    monkeypatch.setattr(ceph_osd.os, 'chown', lambda path, uid, gid: None)
    monkeypatch.setattr(ceph_osd.pwd, 'getpwnam', lambda name: type('P', (), dict(pw_uid=0, pw_gid=0))())

    def fake_mkfs(self, argv, check_rc=False, data=None, **kwargs):  # pylint: disable=unused-argument
        local.append(list(argv))
        return (0, SECRET + '\n', '') if argv[0] == 'ceph-authtool' else (0, '', '')

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', fake_mkfs)
    result = call_main(ceph_osd.main, dict(uuid=UUID, data_root=root, device=str(device)))
    assert result['changed']
    assert os.readlink(os.path.join(result['data_dir'], 'block')) == str(device)
    assert '--bluestore_block_create' not in local[-1]
