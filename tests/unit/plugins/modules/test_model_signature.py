# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""model_signature with the real model-signing library, signing with a throw-away PKI made here (cryptography).

The site's PKI is a root CA, an intermediate CA and a signer certificate with an EC P-256 key, as the Vault PKI
issues them; another PKI of the same shape plays the key of someone else.
"""

from __future__ import annotations

import base64
import datetime
import json
import os

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.onprem.deepseek.plugins.module_utils import _model_signing
from ansible_collections.onprem.deepseek.plugins.modules import model_signature


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, key, issuer, issuer_key, ca, start=None, days=30, dns=()):
    start = start or datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                            crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in dns]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(*certificates):
    return b''.join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)


class Pki(object):
    """A root CA, an intermediate CA and signer certificates, written under ``folder``."""

    def __init__(self, folder, prefix):
        folder.mkdir()
        self.folder = folder
        self.prefix = prefix
        # The CAs are a year old, as the site's are when a signer certificate is issued.
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=365)
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.root = _certificate(prefix + ' root CA', self.root_key, prefix + ' root CA', self.root_key, True,
                                 start=start, days=3650)
        self.int_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate = _certificate(prefix + ' intermediate CA', self.int_key, prefix + ' root CA',
                                         self.root_key, True, start=start, days=3650)
        self.ca_path = str(folder / 'ca.pem')
        (folder / 'ca.pem').write_bytes(_pem(self.root))

    def signer(self, name='model-signer', **kwargs):
        """(key path, certificate path) of a new signer; the certificate file holds the chain after the leaf."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(name, key, self.prefix + ' intermediate CA', self.int_key, False, **kwargs)
        key_path = self.folder / ('%s.key' % name)
        cert_path = self.folder / ('%s.crt' % name)
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        cert_path.write_bytes(_pem(cert, self.intermediate))
        return str(key_path), str(cert_path)


@pytest.fixture(scope='module')
def pkis(tmp_path_factory):
    base = tmp_path_factory.mktemp('pki')
    site = Pki(base / 'site', 'site')
    other = Pki(base / 'other', 'other')
    return {'site': site, 'site_signer': site.signer(), 'other': other, 'other_signer': other.signer()}


@pytest.fixture
def revision(tmp_path):
    root = tmp_path / 'deepseek-v3-tiny' / 'r2'
    root.mkdir(parents=True)
    (root / 'config.json').write_text('{"model_type": "deepseek_v3"}\n')
    (root / 'model.safetensors').write_bytes(bytes(range(256)) * 4000)
    (root / 'SHA256SUMS').write_text('0' * 64 + '  config.json\n')
    return root


@pytest.fixture
def run(call_main):
    def _run(check_mode=False, **args):
        return call_main(model_signature.main, args, check_mode=check_mode)
    return _run


@pytest.fixture
def sign(run, pkis):
    def _sign(path, which='site_signer', **args):
        key, cert = pkis[which]
        return run(path=str(path), state='signed', private_key_path=key, certificate_path=cert, **args)
    return _sign


@pytest.fixture
def check(run, pkis):
    def _check(path, **args):
        args.setdefault('ca_path', [pkis['site'].ca_path])
        return run(path=str(path), name='deepseek-v3-tiny/r2', **args)
    return _check


def test_signs_then_verifies_against_the_site_ca(sign, check, revision):
    result = sign(revision)
    assert result['changed'] is True and result['signed'] is True
    bundle = json.loads((revision / 'model.sig').read_text())
    assert bundle['mediaType'] == 'application/vnd.dev.sigstore.bundle.v0.3+json'
    statement = json.loads(base64.b64decode(bundle['dsseEnvelope']['payload']))
    assert sorted(item['name'] for item in statement['predicate']['resources']) == [
        'SHA256SUMS', 'config.json', 'model.safetensors']
    assert len(bundle['verificationMaterial']['x509CertificateChain']['certificates']) == 2  # leaf, intermediate
    verified = check(revision)
    assert 'failed' not in verified
    assert verified['verified'] is True and verified['signed'] is True and verified['changed'] is False
    assert verified['signer']['common_name'] == 'model-signer'
    assert verified['signer']['issuer'] == 'CN=site intermediate CA'
    assert verified['files'] == 3 and verified['reason'] == '' and verified['accepted'] is True


def test_signing_is_idempotent_and_check_mode_writes_nothing(sign, revision):
    first = sign(revision, check_mode=True)
    assert first['changed'] is True and not (revision / 'model.sig').exists()
    sign(revision)
    content = (revision / 'model.sig').read_bytes()
    again = sign(revision)
    assert again['changed'] is False and (revision / 'model.sig').read_bytes() == content
    assert sign(revision, force=True)['changed'] is True


def test_signing_again_after_a_file_changed(sign, check, revision):
    sign(revision)
    (revision / 'config.json').write_text('{"model_type": "deepseek_v3", "x": 1}\n')
    result = sign(revision, check_mode=True)
    assert result['changed'] is True and 'config.json' in result['msg']
    assert sign(revision)['changed'] is True
    assert check(revision)['verified'] is True


def test_a_new_certificate_signs_again(sign, run, check, revision, pkis):
    sign(revision)
    key, cert = pkis['site'].signer('model-signer-2')
    result = run(path=str(revision), state='signed', private_key_path=key, certificate_path=cert)
    assert result['changed'] is True and 'another certificate' in result['msg']
    assert check(revision)['signer']['common_name'] == 'model-signer-2'


def test_refuses_an_unsigned_revision(check, revision):
    result = check(revision)
    assert result['failed'] is True and result['reason'] == 'unsigned' and result['signed'] is False
    assert result['accepted'] is False
    assert result['msg'].startswith('revision deepseek-v3-tiny/r2 is refused: it is not signed')


def test_accepts_an_unsigned_revision_when_not_required(check, revision):
    result = check(revision, require_signature=False)
    assert 'failed' not in result
    assert result['signed'] is False and result['verified'] is False and 'not signed' in result['msg']
    assert result['accepted'] is True


def test_still_checks_a_signature_when_not_required(sign, check, revision):
    sign(revision, which='other_signer')
    result = check(revision, require_signature=False)
    assert result['failed'] is True and result['reason'] == 'other_key'


def test_refuses_a_revision_signed_by_another_key(sign, check, revision):
    sign(revision, which='other_signer')
    result = check(revision)
    assert result['failed'] is True and result['reason'] == 'other_key'
    assert 'is signed by another key' in result['msg']
    assert 'CN=other intermediate CA' in result['msg'] and 'does not chain to the site' in result['msg']
    assert result['signer']['issuer'] == 'CN=other intermediate CA'


def test_refuses_a_self_signed_signer_that_copies_the_names(check, revision, tmp_path):
    """A certificate made up with the site's names, signed by its own key, is still another key."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate('model-signer', key, 'site intermediate CA', key, False)
    key_path, cert_path = tmp_path / 'fake.key', tmp_path / 'fake.crt'
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(_pem(cert))
    leaf, chain = _model_signing.signing_material(str(key_path), str(cert_path))
    _model_signing.sign(str(revision), str(revision / 'model.sig'), str(key_path), leaf, chain, 'model.sig')
    result = check(revision)
    assert result['failed'] is True and result['reason'] == 'other_key'


def test_refuses_a_signer_that_is_not_allowed(pkis, run, check, revision):
    key, cert = pkis['site'].signer('gateway.models.internal')
    run(path=str(revision), state='signed', private_key_path=key, certificate_path=cert)
    result = check(revision, signer_names=['model-signer'])
    assert result['failed'] is True and result['reason'] == 'other_key'
    assert 'not one of the allowed signers (model-signer)' in result['msg']


def test_allows_a_signer_by_dns_name(pkis, run, check, revision):
    key, cert = pkis['site'].signer('publisher', dns=['model-signer.models.internal'])
    run(path=str(revision), state='signed', private_key_path=key, certificate_path=cert)
    assert check(revision, signer_names=['model-signer.models.internal'])['verified'] is True


@pytest.mark.parametrize('change, files', [
    (lambda r: (r / 'config.json').write_text('{"model_type": "deepseek_v3", "evil": true}\n'),
     {'changed': ['config.json'], 'added': [], 'removed': []}),
    (lambda r: (r / 'extra.py').write_text('import os\n'), {'changed': [], 'added': ['extra.py'], 'removed': []}),
    (lambda r: os.unlink(str(r / 'SHA256SUMS')), {'changed': [], 'added': [], 'removed': ['SHA256SUMS']}),
    (lambda r: (r / '.gitattributes').write_text('*.bin filter=lfs\n'),
     {'changed': [], 'added': ['.gitattributes'], 'removed': []}),
])
def test_refuses_a_file_changed_after_signing(sign, check, revision, change, files):
    sign(revision)
    change(revision)
    result = check(revision)
    assert result['failed'] is True and result['reason'] == 'modified'
    assert result['files'] == files
    assert result['msg'].startswith('revision deepseek-v3-tiny/r2 is refused: it has files changed after signing')
    assert (files['changed'] + files['added'] + files['removed'])[0] in result['msg']


def test_refuses_a_signature_whose_bytes_were_changed(sign, check, revision):
    sign(revision)
    bundle = json.loads((revision / 'model.sig').read_text())
    raw = bytearray(base64.b64decode(bundle['dsseEnvelope']['signatures'][0]['sig']))
    raw[-3] ^= 0x01
    bundle['dsseEnvelope']['signatures'][0]['sig'] = base64.b64encode(bytes(raw)).decode()
    (revision / 'model.sig').write_text(json.dumps(bundle))
    result = check(revision)
    assert result['failed'] is True and result['reason'] == 'invalid'


def test_refuses_a_signature_that_is_not_one(check, revision):
    (revision / 'model.sig').write_text('not json')
    result = check(revision)
    assert result['failed'] is True and result['reason'] == 'invalid'


def test_a_signature_made_with_a_certificate_expired_since_still_verifies(pkis, run, check, revision):
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=40)
    key, cert = pkis['site'].signer('model-signer-old', start=start, days=30)
    run(path=str(revision), state='signed', private_key_path=key, certificate_path=cert)
    assert check(revision)['verified'] is True


def test_signing_refuses_git_paths(sign, revision):
    (revision / '.gitattributes').write_text('*.bin filter=lfs\n')
    result = sign(revision)
    assert result['failed'] is True and '.gitattributes' in result['msg']
    assert not (revision / 'model.sig').exists()


def test_signing_refuses_a_key_that_is_not_the_certificates(pkis, run, revision):
    key, dummy = pkis['other_signer']
    dummy, cert = pkis['site_signer']
    result = run(path=str(revision), state='signed', private_key_path=key, certificate_path=cert)
    assert result['failed'] is True and 'is not the key of the certificate' in result['msg']


def test_signature_name_is_a_file_name(check, revision):
    result = check(revision, signature='../x.sig')
    assert result['failed'] is True and 'file name' in result['msg']


def test_missing_library_is_reported(monkeypatch, check, revision):
    monkeypatch.setattr(model_signature, 'HAS_MODEL_SIGNING', False)
    result = check(revision)
    assert result['failed'] is True and 'model-signing' in result['msg']
