# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of gluster_peer, gluster_volume and module_utils._gluster.

The boundary is the single command funnel GlusterCli._run_command, monkeypatched with a fake that
answers with XML captured from a real GlusterFS 10.3 pool and records every command.
"""

from __future__ import annotations


import pytest

from ansible.module_utils import basic

from ansible_collections.onprem.deepseek.plugins.module_utils import _gluster
from ansible_collections.onprem.deepseek.plugins.modules import gluster_peer, gluster_volume

# Outputs of `gluster --mode=script --xml ...` captured from GlusterFS 10.3 (Debian 12) in the
# molecule scenario glusterfs (three servers glusterfs-srv1..3), unedited.
XML = {}
XML['peer_status_empty'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <peerStatus/>
</cliOutput>
'''
XML['peer_status_2'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <peerStatus>
    <peer>
      <uuid>5f46df10-7ef3-4f9d-8276-49a8a480a0ec</uuid>
      <hostname>glusterfs-srv2</hostname>
      <hostnames>
        <hostname>glusterfs-srv2</hostname>
      </hostnames>
      <connected>1</connected>
      <state>3</state>
      <stateStr>Peer in Cluster</stateStr>
    </peer>
    <peer>
      <uuid>c263685e-de39-4cef-a3e4-b2cd6da07dcd</uuid>
      <hostname>glusterfs-srv3</hostname>
      <hostnames>
        <hostname>glusterfs-srv3</hostname>
      </hostnames>
      <connected>1</connected>
      <state>3</state>
      <stateStr>Peer in Cluster</stateStr>
    </peer>
  </peerStatus>
</cliOutput>
'''
XML['peer_status_on2_ip'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <peerStatus>
    <peer>
      <uuid>8ef3a655-09ba-4c3f-81d4-33bc4f46b8fe</uuid>
      <hostname>glusterfs-srv1.molecule-glusterfs</hostname>
      <hostnames>
        <hostname>glusterfs-srv1.molecule-glusterfs</hostname>
      </hostnames>
      <connected>1</connected>
      <state>3</state>
      <stateStr>Peer in Cluster</stateStr>
    </peer>
    <peer>
      <uuid>c263685e-de39-4cef-a3e4-b2cd6da07dcd</uuid>
      <hostname>glusterfs-srv3</hostname>
      <hostnames>
        <hostname>glusterfs-srv3</hostname>
      </hostnames>
      <connected>1</connected>
      <state>3</state>
      <stateStr>Peer in Cluster</stateStr>
    </peer>
  </peerStatus>
</cliOutput>
'''
XML['peer_status_on2_named'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <peerStatus>
    <peer>
      <uuid>8ef3a655-09ba-4c3f-81d4-33bc4f46b8fe</uuid>
      <hostname>glusterfs-srv1.molecule-glusterfs</hostname>
      <hostnames>
        <hostname>glusterfs-srv1.molecule-glusterfs</hostname>
        <hostname>glusterfs-srv1</hostname>
      </hostnames>
      <connected>1</connected>
      <state>3</state>
      <stateStr>Peer in Cluster</stateStr>
    </peer>
    <peer>
      <uuid>c263685e-de39-4cef-a3e4-b2cd6da07dcd</uuid>
      <hostname>glusterfs-srv3</hostname>
      <hostnames>
        <hostname>glusterfs-srv3</hostname>
      </hostnames>
      <connected>1</connected>
      <state>3</state>
      <stateStr>Peer in Cluster</stateStr>
    </peer>
  </peerStatus>
</cliOutput>
'''
XML['probe_ok'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <output>success</output>
</cliOutput>
'''
XML['probe_self'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>1</opErrno>
  <opErrstr/>
  <output>Probe on localhost not needed</output>
</cliOutput>
'''
XML['probe_bad'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>-1</opRet>
  <opErrno>107</opErrno>
  <opErrstr>Probe returned with Transport endpoint is not connected</opErrstr>
</cliOutput>
'''
XML['probe_existing_newname'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <output>success</output>
</cliOutput>
'''
XML['create_ok'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr>/srv/b is already part of a volume</opErrstr>
  <volCreate>
    <volume>
      <name>models</name>
      <id>4e931444-53a8-473b-abcc-2c74c77cb2b2</id>
    </volume>
  </volCreate>
</cliOutput>
'''
XML['create_rootfs_noforce'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>-1</opRet>
  <opErrno>30800</opErrno>
  <opErrstr>The brick glusterfs-srv1:/srv/b is being created in the root partition. \
It is recommended that you don't use the system's root partition for storage backend. \
Or use 'force' at the end of the command if you want to override this behavior.</opErrstr>
</cliOutput>
'''
XML['start'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <volStart>
    <volume>
      <name>models</name>
      <id>4e931444-53a8-473b-abcc-2c74c77cb2b2</id>
    </volume>
  </volStart>
</cliOutput>
'''
XML['set'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <cliOp>volSet</cliOp>
  <output>Set volume successful</output>
</cliOutput>
'''
XML['volume_info_none'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <volInfo>
    <volumes>
      <count>0</count>
    </volumes>
  </volInfo>
</cliOutput>
'''
XML['volume_info_created'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <volInfo>
    <volumes>
      <volume>
        <name>models</name>
        <id>4e931444-53a8-473b-abcc-2c74c77cb2b2</id>
        <status>0</status>
        <statusStr>Created</statusStr>
        <snapshotCount>0</snapshotCount>
        <brickCount>3</brickCount>
        <distCount>1</distCount>
        <replicaCount>3</replicaCount>
        <arbiterCount>0</arbiterCount>
        <disperseCount>0</disperseCount>
        <redundancyCount>0</redundancyCount>
        <type>2</type>
        <typeStr>Replicate</typeStr>
        <transport>0</transport>
        <bricks>
          <brick uuid="8ef3a655-09ba-4c3f-81d4-33bc4f46b8fe">glusterfs-srv1:/srv/b\
<name>glusterfs-srv1:/srv/b</name>\
<hostUuid>8ef3a655-09ba-4c3f-81d4-33bc4f46b8fe</hostUuid><isArbiter>0</isArbiter></brick>
          <brick uuid="5f46df10-7ef3-4f9d-8276-49a8a480a0ec">glusterfs-srv2:/srv/b\
<name>glusterfs-srv2:/srv/b</name>\
<hostUuid>5f46df10-7ef3-4f9d-8276-49a8a480a0ec</hostUuid><isArbiter>0</isArbiter></brick>
          <brick uuid="c263685e-de39-4cef-a3e4-b2cd6da07dcd">glusterfs-srv3:/srv/b\
<name>glusterfs-srv3:/srv/b</name>\
<hostUuid>c263685e-de39-4cef-a3e4-b2cd6da07dcd</hostUuid><isArbiter>0</isArbiter></brick>
        </bricks>
        <optCount>5</optCount>
        <options>
          <option>
            <name>cluster.granular-entry-heal</name>
            <value>on</value>
          </option>
          <option>
            <name>storage.fips-mode-rchecksum</name>
            <value>on</value>
          </option>
          <option>
            <name>transport.address-family</name>
            <value>inet</value>
          </option>
          <option>
            <name>nfs.disable</name>
            <value>on</value>
          </option>
          <option>
            <name>performance.client-io-threads</name>
            <value>off</value>
          </option>
        </options>
      </volume>
      <count>1</count>
    </volumes>
  </volInfo>
</cliOutput>
'''
XML['volume_info_started'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
  <volInfo>
    <volumes>
      <volume>
        <name>models</name>
        <id>4e931444-53a8-473b-abcc-2c74c77cb2b2</id>
        <status>1</status>
        <statusStr>Started</statusStr>
        <snapshotCount>0</snapshotCount>
        <brickCount>3</brickCount>
        <distCount>1</distCount>
        <replicaCount>3</replicaCount>
        <arbiterCount>0</arbiterCount>
        <disperseCount>0</disperseCount>
        <redundancyCount>0</redundancyCount>
        <type>2</type>
        <typeStr>Replicate</typeStr>
        <transport>0</transport>
        <bricks>
          <brick uuid="8ef3a655-09ba-4c3f-81d4-33bc4f46b8fe">glusterfs-srv1:/srv/b\
<name>glusterfs-srv1:/srv/b</name>\
<hostUuid>8ef3a655-09ba-4c3f-81d4-33bc4f46b8fe</hostUuid><isArbiter>0</isArbiter></brick>
          <brick uuid="5f46df10-7ef3-4f9d-8276-49a8a480a0ec">glusterfs-srv2:/srv/b\
<name>glusterfs-srv2:/srv/b</name>\
<hostUuid>5f46df10-7ef3-4f9d-8276-49a8a480a0ec</hostUuid><isArbiter>0</isArbiter></brick>
          <brick uuid="c263685e-de39-4cef-a3e4-b2cd6da07dcd">glusterfs-srv3:/srv/b\
<name>glusterfs-srv3:/srv/b</name>\
<hostUuid>c263685e-de39-4cef-a3e4-b2cd6da07dcd</hostUuid><isArbiter>0</isArbiter></brick>
        </bricks>
        <optCount>6</optCount>
        <options>
          <option>
            <name>performance.cache-size</name>
            <value>64MB</value>
          </option>
          <option>
            <name>cluster.granular-entry-heal</name>
            <value>on</value>
          </option>
          <option>
            <name>storage.fips-mode-rchecksum</name>
            <value>on</value>
          </option>
          <option>
            <name>transport.address-family</name>
            <value>inet</value>
          </option>
          <option>
            <name>nfs.disable</name>
            <value>on</value>
          </option>
          <option>
            <name>performance.client-io-threads</name>
            <value>off</value>
          </option>
        </options>
      </volume>
      <count>1</count>
    </volumes>
  </volInfo>
</cliOutput>
'''
XML['volume_info_missing'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>-1</opRet>
  <opErrno>30806</opErrno>
  <opErrstr>Volume does not exist</opErrstr>
  <volInfo>
    <volumes>
      <count>0</count>
    </volumes>
  </volInfo>
</cliOutput>
'''
XML['heal_info'] = '''\
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <healInfo>
    <bricks>
      <brick hostUuid="8ef3a655-09ba-4c3f-81d4-33bc4f46b8fe">
        <name>glusterfs-srv1:/srv/b</name>
        <status>Connected</status>
        <numberOfEntries>0</numberOfEntries>
      </brick>
      <brick hostUuid="5f46df10-7ef3-4f9d-8276-49a8a480a0ec">
        <name>glusterfs-srv2:/srv/b</name>
        <status>Connected</status>
        <numberOfEntries>0</numberOfEntries>
      </brick>
      <brick hostUuid="c263685e-de39-4cef-a3e4-b2cd6da07dcd">
        <name>glusterfs-srv3:/srv/b</name>
        <status>Connected</status>
        <numberOfEntries>0</numberOfEntries>
      </brick>
    </bricks>
  </healInfo>
  <opRet>0</opRet>
  <opErrno>0</opErrno>
  <opErrstr/>
</cliOutput>
'''

BRICKS = ['glusterfs-srv1:/srv/b', 'glusterfs-srv2:/srv/b', 'glusterfs-srv3:/srv/b']
LOCAL = set(['glusterfs-srv1', 'localhost', '127.0.0.1', '172.18.0.2'])


def started_volume(**changes):
    volume = _gluster.parse_volumes(_gluster.parse_cli_output(XML['volume_info_started']))['models']
    volume.update(changes)
    return volume


# --- parsing --------------------------------------------------------------------------------------

def test_parse_peers_two_members():
    peers = _gluster.parse_peers(_gluster.parse_cli_output(XML['peer_status_2']))
    assert [p['hostname'] for p in peers] == ['glusterfs-srv2', 'glusterfs-srv3']
    assert all(p['connected'] and p['state'] == 'Peer in Cluster' for p in peers)
    assert peers[0]['uuid'] == '5f46df10-7ef3-4f9d-8276-49a8a480a0ec'


def test_parse_peers_empty():
    assert _gluster.parse_peers(_gluster.parse_cli_output(XML['peer_status_empty'])) == []


def test_parse_peers_keeps_every_hostname():
    before = _gluster.parse_peers(_gluster.parse_cli_output(XML['peer_status_on2_ip']))
    after = _gluster.parse_peers(_gluster.parse_cli_output(XML['peer_status_on2_named']))
    assert before[0]['hostnames'] == ['glusterfs-srv1.molecule-glusterfs']
    assert after[0]['hostnames'] == ['glusterfs-srv1.molecule-glusterfs', 'glusterfs-srv1']


@pytest.mark.parametrize('name, status', [('volume_info_created', 'Created'), ('volume_info_started', 'Started')])
def test_parse_volumes(name, status):
    volumes = _gluster.parse_volumes(_gluster.parse_cli_output(XML[name]))
    assert list(volumes) == ['models']
    volume = volumes['models']
    assert volume['status'] == status
    assert volume['type'] == 'Replicate'
    assert volume['replica'] == 3
    assert volume['brick_count'] == 3
    assert volume['bricks'] == BRICKS
    assert volume['arbiter_bricks'] == []
    assert volume['options']['cluster.granular-entry-heal'] == 'on'


def test_parse_volumes_none():
    assert _gluster.parse_volumes(_gluster.parse_cli_output(XML['volume_info_none'])) == {}


def test_parse_heal_info_without_opret_first():
    bricks = _gluster.parse_heal_info(_gluster.parse_cli_output(XML['heal_info']))
    assert [b['name'] for b in bricks] == BRICKS
    assert [b['entries'] for b in bricks] == [0, 0, 0]
    assert all(b['status'] == 'Connected' for b in bricks)


@pytest.mark.parametrize('name, message', [
    ('probe_bad', 'Probe returned with Transport endpoint is not connected'),
    ('create_rootfs_noforce', 'is being created in the root partition'),
    ('volume_info_missing', 'Volume does not exist'),
])
def test_parse_cli_output_errors(name, message):
    with pytest.raises(_gluster.GlusterError) as exc:
        _gluster.parse_cli_output(XML[name])
    assert message in exc.value.msg


@pytest.mark.parametrize('text', ['', 'Connection failed. Please check if gluster daemon is operational.', '<other/>'])
def test_parse_cli_output_not_gluster_xml(text):
    with pytest.raises(_gluster.GlusterError):
        _gluster.parse_cli_output(text)


@pytest.mark.parametrize('brick, expected', [
    ('h1:/srv/b', ('h1', '/srv/b')),
    ('h1:/srv/b/', ('h1', '/srv/b')),
    ('fe80::1:/srv/b', ('fe80::1', '/srv/b')),
])
def test_split_brick(brick, expected):
    assert _gluster.split_brick(brick) == expected


@pytest.mark.parametrize('brick', ['h1', '/srv/b', 'h1:srv/b', ':/srv/b'])
def test_split_brick_rejects(brick):
    with pytest.raises(ValueError):
        _gluster.split_brick(brick)


def test_wait_for_is_bounded():
    clock = [0.0]
    calls = []

    def sleep(seconds):
        clock[0] += seconds

    result = _gluster.wait_for(lambda: calls.append(1), 5, interval=1, sleep=sleep, clock=lambda: clock[0])
    assert result is None
    assert len(calls) == 6


# --- decisions (pure) -------------------------------------------------------------------------------

PEERS_2 = _gluster.parse_peers(_gluster.parse_cli_output(XML['peer_status_2']))
PEERS_NAMED = _gluster.parse_peers(_gluster.parse_cli_output(XML['peer_status_on2_named']))


@pytest.mark.parametrize('peers, nodes, state, probe, detach', [
    ([], ['glusterfs-srv1', 'glusterfs-srv2', 'glusterfs-srv3'], 'present', ['glusterfs-srv2', 'glusterfs-srv3'], []),
    (PEERS_2, ['glusterfs-srv1', 'glusterfs-srv2', 'glusterfs-srv3'], 'present', [], []),
    (PEERS_2, ['glusterfs-srv2', 'glusterfs-srv2', 'glusterfs-srv4'], 'present', ['glusterfs-srv4'], []),
    (PEERS_NAMED, ['glusterfs-srv1'], 'present', [], []),
    (PEERS_2, ['glusterfs-srv3', 'glusterfs-srv4'], 'absent', [], ['glusterfs-srv3']),
    (PEERS_2, ['localhost'], 'absent', [], []),
])
def test_peer_plan(monkeypatch, peers, nodes, state, probe, detach):
    monkeypatch.setattr(_gluster.socket, 'getaddrinfo', fake_getaddrinfo)
    assert gluster_peer.plan(peers, nodes, state, LOCAL) == (probe, detach)


def fake_getaddrinfo(host, port):
    addresses = {'glusterfs-srv1': '172.18.0.2', 'glusterfs-srv2': '172.18.0.3', 'glusterfs-srv3': '172.18.0.4',
                 'srv1.example': '172.18.0.2'}
    if host not in addresses:
        raise _gluster.socket.gaierror('unknown host')
    return [(2, 1, 6, '', (addresses[host], 0))]


@pytest.mark.parametrize('node, local', [
    ('glusterfs-srv1', True), ('srv1.example', True), ('glusterfs-srv2', False), ('unknown', False),
])
def test_is_local(monkeypatch, node, local):
    monkeypatch.setattr(_gluster.socket, 'getaddrinfo', fake_getaddrinfo)
    assert _gluster.is_local(node, LOCAL) is local


def volume_params(**changes):
    params = dict(name='models', state='present', bricks=list(BRICKS), replica=3, arbiter=0, transport='tcp',
                  options={}, force=False)
    params.update(changes)
    return params


@pytest.mark.parametrize('current, params, actions', [
    (None, volume_params(), [('create', BRICKS), ('start',)]),
    (None, volume_params(options={'performance.cache-size': '64MB', 'features.read-only': False}),
     [('create', BRICKS), ('set', 'features.read-only', 'off'), ('set', 'performance.cache-size', '64MB'), ('start',)]),
    (None, volume_params(state='stopped'), [('create', BRICKS)]),
    (None, volume_params(state='absent'), []),
    (started_volume(), volume_params(), []),
    (started_volume(), volume_params(bricks=None), []),
    (started_volume(), volume_params(options={'performance.cache-size': '64MB', 'nfs.disable': True}), []),
    (started_volume(), volume_params(options={'performance.cache-size': '128MB'}),
     [('set', 'performance.cache-size', '128MB')]),
    (started_volume(status='Stopped'), volume_params(), [('start',)]),
    (started_volume(), volume_params(state='stopped'), [('stop',)]),
    (started_volume(), volume_params(state='absent'), [('stop',), ('delete',)]),
    (started_volume(status='Stopped'), volume_params(state='absent'), [('delete',)]),
    (started_volume(), volume_params(bricks=BRICKS + [b + '2' for b in BRICKS]),
     [('add-brick', [b + '2' for b in BRICKS])]),
])
def test_volume_plan(current, params, actions):
    assert gluster_volume.plan(current, params) == actions


@pytest.mark.parametrize('current, params, message', [
    (None, volume_params(replica=4), 'replica count 4 is larger than the number of bricks (3)'),
    (None, volume_params(replica=2), 'the number of bricks (3) is not a multiple of the replica count 2'),
    (None, volume_params(bricks=None), 'bricks are required to create it'),
    (None, volume_params(bricks=[]), 'bricks must not be empty'),
    (None, volume_params(bricks=BRICKS[:2] + BRICKS[:1]), 'bricks are listed twice: glusterfs-srv1:/srv/b'),
    (None, volume_params(replica=2, arbiter=1, bricks=BRICKS[:2]), 'an arbiter needs replica 3'),
    (None, volume_params(replica=0), 'replica must be at least 1'),
    (started_volume(), volume_params(replica=1), 'has replica 3, not 1'),
    (started_volume(), volume_params(bricks=BRICKS[:2] + ['glusterfs-srv4:/srv/b']), 'glusterfs-srv3:/srv/b'),
    (started_volume(), volume_params(replica=3, bricks=BRICKS + ['glusterfs-srv1:/srv/c', 'glusterfs-srv2:/srv/c',
                                                                 'glusterfs-srv3:/srv/c', 'glusterfs-srv1:/srv/d',
                                                                 'glusterfs-srv2:/srv/d', 'glusterfs-srv3:/srv/d']), None),
])
def test_volume_plan_refuses(current, params, message):
    if message is None:  # two whole replica sets at once are fine
        assert gluster_volume.plan(current, params)[0][0] == 'add-brick'
        return
    with pytest.raises(gluster_volume.PlanError) as exc:
        gluster_volume.plan(current, params)
    assert message in str(exc.value)


@pytest.mark.parametrize('action, params, expected', [
    (('create', BRICKS), volume_params(force=True),
     'gluster volume create models replica 3 transport tcp %s force' % ' '.join(BRICKS)),
    (('create', BRICKS), volume_params(arbiter=1),
     'gluster volume create models replica 3 arbiter 1 transport tcp %s' % ' '.join(BRICKS)),
    (('create', BRICKS[:1]), volume_params(replica=1), 'gluster volume create models transport tcp %s' % BRICKS[0]),
    (('add-brick', BRICKS), volume_params(), 'gluster volume add-brick models replica 3 %s' % ' '.join(BRICKS)),
    (('set', 'a.b', 'on'), volume_params(), 'gluster volume set models a.b on'),
    (('delete',), volume_params(), 'gluster volume delete models'),
])
def test_describe(action, params, expected):
    assert gluster_volume.describe('models', action, params) == expected


# --- main() through the monkeypatched command funnel ---------------------------------------------

class FakeGluster:
    """Answers gluster commands from a script {args tuple: [answer, ...]}; the last answer repeats."""

    def __init__(self, script):
        self.script = dict((tuple(k.split()), list(v)) for k, v in script.items())
        self.calls = []

    def __call__(self, cli, args):  # pylint: disable=unused-argument
        args = tuple(args)
        self.calls.append(' '.join(args))
        if args not in self.script:
            raise AssertionError('unexpected gluster command: %s' % ' '.join(args))
        answers = self.script[args]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return 0, XML[answer], ''


@pytest.fixture
def run(monkeypatch, call_main):
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda self, name, required=False: '/usr/sbin/gluster')
    monkeypatch.setattr(_gluster, 'local_names', lambda: set(LOCAL))
    monkeypatch.setattr(gluster_peer, 'local_names', lambda: set(LOCAL))
    monkeypatch.setattr(gluster_volume, 'local_names', lambda: set(LOCAL))
    monkeypatch.setattr(_gluster.socket, 'getaddrinfo', fake_getaddrinfo)

    def _run(module, args, script, check_mode=False):
        fake = FakeGluster(script)

        def funnel(cli, args):
            return fake(cli, args)

        monkeypatch.setattr(_gluster.GlusterCli, '_run_command', funnel)
        return call_main(module.main, args, check_mode), fake.calls
    return _run


NODES = ['glusterfs-srv1', 'glusterfs-srv2', 'glusterfs-srv3']


def test_peer_main_probes_then_waits(run):
    result, calls = run(gluster_peer, dict(nodes=NODES), {
        'peer status': ['peer_status_empty', 'peer_status_2'],
        'peer probe glusterfs-srv2': ['probe_ok'],
        'peer probe glusterfs-srv3': ['probe_ok'],
    })
    assert result['changed'] is True
    assert result['probed'] == ['glusterfs-srv2', 'glusterfs-srv3']
    assert calls == ['peer status', 'peer probe glusterfs-srv2', 'peer probe glusterfs-srv3', 'peer status']
    assert len(result['peers']) == 2


@pytest.mark.parametrize('check_mode', [False, True])
def test_peer_main_no_change(run, check_mode):
    result, calls = run(gluster_peer, dict(nodes=NODES), {'peer status': ['peer_status_2']}, check_mode=check_mode)
    assert result['changed'] is False
    assert calls == ['peer status']


def test_peer_main_check_mode_runs_no_probe(run):
    result, calls = run(gluster_peer, dict(nodes=NODES), {'peer status': ['peer_status_empty']}, check_mode=True)
    assert result['changed'] is True
    assert result['probed'] == ['glusterfs-srv2', 'glusterfs-srv3']
    assert calls == ['peer status']


def test_peer_main_probe_failure(run):
    result, calls = run(gluster_peer, dict(nodes=['glusterfs-srv1', 'nosuchhost']), {
        'peer status': ['peer_status_empty'],
        'peer probe nosuchhost': ['probe_bad'],
    })
    assert result['failed']
    assert result['msg'] == 'gluster peer probe nosuchhost failed: Probe returned with Transport endpoint is not connected'
    assert calls == ['peer status', 'peer probe nosuchhost']


CREATE = 'volume create models replica 3 transport tcp %s force' % ' '.join(BRICKS)


def test_volume_main_creates_and_starts(run):
    result, calls = run(gluster_volume, dict(name='models', replica=3, bricks=BRICKS, force=True,
                                             options={'performance.cache-size': '64MB'}), {
        'volume info all': ['volume_info_none', 'volume_info_started'],
        'peer status': ['peer_status_2'],
        CREATE: ['create_ok'],
        'volume set models performance.cache-size 64MB': ['set'],
        'volume start models': ['start'],
    })
    assert result['changed'] is True
    assert calls == ['volume info all', 'peer status', CREATE, 'volume set models performance.cache-size 64MB',
                     'volume start models', 'volume info all']
    assert result['commands'][0] == 'gluster ' + CREATE
    assert result['volume']['status'] == 'Started'


def test_volume_main_check_mode_runs_nothing(run):
    result, calls = run(gluster_volume, dict(name='models', replica=3, bricks=BRICKS, force=True), {
        'volume info all': ['volume_info_none'],
        'peer status': ['peer_status_2'],
    }, check_mode=True)
    assert result['changed'] is True
    assert result['commands'] == ['gluster ' + CREATE, 'gluster volume start models']
    assert calls == ['volume info all', 'peer status']
    assert result['volume'] is None


def test_volume_main_second_run_is_unchanged(run):
    result, calls = run(gluster_volume, dict(name='models', replica=3, bricks=BRICKS, force=True,
                                             options={'performance.cache-size': '64MB'}), {
        'volume info all': ['volume_info_started'],
    })
    assert result['changed'] is False
    assert result['commands'] == []
    assert calls == ['volume info all']


def test_volume_main_replica_larger_than_bricks_changes_nothing(run):
    result, calls = run(gluster_volume, dict(name='models', replica=4, bricks=BRICKS), {
        'volume info all': ['volume_info_none'],
    })
    assert result['failed']
    assert 'replica count 4 is larger than the number of bricks (3)' in result['msg']
    assert calls == ['volume info all']


def test_volume_main_brick_host_not_in_pool(run):
    result, calls = run(gluster_volume, dict(name='models', replica=3, bricks=BRICKS), {
        'volume info all': ['volume_info_none'],
        'peer status': ['peer_status_empty'],
    })
    assert result['failed']
    assert result['msg'].startswith('brick hosts not ready: glusterfs-srv2 is not in the trusted pool; '
                                    'glusterfs-srv3 is not in the trusted pool')
    assert calls == ['volume info all', 'peer status']


def test_volume_main_gluster_refuses_root_brick(run):
    create = 'volume create models replica 3 transport tcp %s' % ' '.join(BRICKS)
    result, calls = run(gluster_volume, dict(name='models', replica=3, bricks=BRICKS), {
        'volume info all': ['volume_info_none'],
        'peer status': ['peer_status_2'],
        create: ['create_rootfs_noforce'],
    })
    assert result['failed']
    assert 'is being created in the root partition' in result['msg']
    assert calls[-1] == create


def test_volume_main_bad_brick(run):
    result, calls = run(gluster_volume, dict(name='models', replica=1, bricks=['srv1/b']), {})
    assert result['failed']
    assert 'is not of the form HOST:/ABSOLUTE/PATH' in result['msg']
    assert calls == []
