# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Signatures of model revisions in the OpenSSF Model Signing format, for onprem.deepseek.model_signature.

The signing and the verification are the ``model-signing`` library's (1.1.x), with its certificate method: the
signature is a Sigstore bundle (DSSE envelope over an in-toto statement listing every file of the revision with
its sha256) holding the signing certificate and its chain; a verifier checks the chain against its trust anchors
(the site's CA), the ECDSA signature, then every file. ``model-signing`` itself is imported once, guarded
(``HAS_MODEL_SIGNING``); its certificate method also needs pyOpenSSL, which ``model-signing`` 1.1.1 does not
declare.

What this file adds around the library: a refusal is classified (``REASONS``) and names what was found (the
signer's certificate, the files changed, added or removed after signing), files the library ignores at
verification (``.git*``) are refused when they were not signed, and signing is skipped when the signature in place
already covers the current files with the same certificate.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import tempfile
import traceback

MODEL_SIGNING_IMPORT_ERROR = None
try:
    import model_signing
    from OpenSSL import crypto as openssl_crypto
    from cryptography import exceptions as crypto_exceptions
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
except ImportError:
    HAS_MODEL_SIGNING = False
    MODEL_SIGNING_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_MODEL_SIGNING = True

DEFAULT_SIGNATURE_NAME = 'model.sig'
# The paths model-signing leaves out of a model whatever the signature says (hashing.Config's git paths).
GIT_PATHS = ('.git', '.gitattributes', '.github', '.gitignore')

REASONS = {
    'unsigned': 'is not signed',
    'other_key': 'is signed by another key',
    'modified': 'has files changed after signing',
    'invalid': 'has a signature that cannot be read or verified',
}


class SignatureError(Exception):
    """A revision refused, or an input that cannot be used; ``reason`` is one of REASONS or None."""

    def __init__(self, msg, reason=None, **details):
        super(SignatureError, self).__init__(msg)
        self.reason = reason
        self.details = details


# --- Certificates ----------------------------------------------------------------------------

def load_certificates(paths):
    """Certificates of the PEM files ``paths``, in order."""
    data = b''
    for path in paths:
        with open(path, 'rb') as handle:
            data += handle.read() + b'\n'
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise SignatureError('no PEM certificate could be read from %s: %s' % (', '.join(paths), exc))


def identity(certificate):
    """What the module reports of a certificate."""
    def common_name(name):
        values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return values[0].value if values else ''
    try:
        dns = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        dns = []
    return {'subject': certificate.subject.rfc4514_string(), 'common_name': common_name(certificate.subject),
            'dns_names': list(dns), 'issuer': certificate.issuer.rfc4514_string(),
            'serial': '%x' % certificate.serial_number,
            'sha256_fingerprint': certificate.fingerprint(hashes.SHA256()).hex(),
            'not_before': certificate.not_valid_before_utc.isoformat(),
            'not_after': certificate.not_valid_after_utc.isoformat()}


# --- The signature file ----------------------------------------------------------------------

def read_signature(path):
    """(certificates of the bundle, signed statement) of a signature file, without verifying anything."""
    try:
        with open(path, 'rb') as handle:
            bundle = json.loads(handle.read().decode('utf-8'))
        chain = bundle['verificationMaterial']['x509CertificateChain']['certificates']
        certificates = [x509.load_der_x509_certificate(base64.b64decode(item['rawBytes'])) for item in chain]
        statement = json.loads(base64.b64decode(bundle['dsseEnvelope']['payload']).decode('utf-8'))
        statement['predicate']['resources']  # pylint: disable=pointless-statement
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise SignatureError('%s is not a model signature with a certificate chain (%s: %s)'
                             % (path, type(exc).__name__, exc), reason='invalid')
    if not certificates:
        raise SignatureError('%s holds no certificate' % path, reason='invalid')
    return certificates, statement


def signed_files(statement):
    """name -> sha256 hex of the files a signed statement lists."""
    return dict((item['name'], item['digest']) for item in statement['predicate']['resources'])


# --- The files of a revision -----------------------------------------------------------------

def present_files(directory, signature_name):
    """Relative paths (``/``-separated) of every file and link under ``directory`` except the signature."""
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        rel_root = os.path.relpath(root, directory)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            rel = name if rel_root == '.' else '%s/%s' % (rel_root.replace(os.sep, '/'), name)
            if rel != signature_name:
                found.append(rel)
    return sorted(found)


def git_paths(directory):
    return sorted(name for name in GIT_PATHS if os.path.lexists(os.path.join(directory, name)))


def hash_files(directory, statement):
    """name -> digest hex of the files under ``directory``, hashed the way ``statement`` says it was signed."""
    serialization_ = statement['predicate'].get('serialization', {})
    if serialization_.get('method') != 'files':
        return None
    config = model_signing.hashing.Config().use_file_serialization(
        hashing_algorithm=serialization_.get('hash_type', 'sha256'),
        allow_symlinks=bool(serialization_.get('allow_symlinks', False)))
    config.set_ignored_paths(paths=serialization_.get('ignore_paths', []))
    manifest = config.hash(pathlib.Path(directory))
    return dict((rd.identifier, rd.digest.digest_hex) for rd in manifest.resource_descriptors())


def compare(expected, actual):
    """The files changed, added and removed between two name -> digest maps."""
    return {'changed': sorted(name for name in expected if name in actual and actual[name] != expected[name]),
            'added': sorted(set(actual) - set(expected)),
            'removed': sorted(set(expected) - set(actual))}


def describe_files(files):
    parts = []
    for key, label in (('changed', 'changed'), ('added', 'added'), ('removed', 'removed')):
        names = files.get(key) or []
        if names:
            parts.append('%s %s' % (label, ', '.join(names[:10]) + (' ...' if len(names) > 10 else '')))
    return '; '.join(parts)


# --- Sign ------------------------------------------------------------------------------------

def signing_material(private_key_path, certificate_path, chain_paths=()):
    """(leaf certificate, chain certificates) of the signer; checks that the key is the certificate's."""
    certificates = load_certificates([certificate_path])
    leaf, chain = certificates[0], certificates[1:]
    if chain_paths:
        chain += load_certificates(chain_paths)
    with open(private_key_path, 'rb') as handle:
        try:
            key = serialization.load_pem_private_key(handle.read(), None)
        except (ValueError, TypeError) as exc:
            raise SignatureError('%s is not an unencrypted PEM private key: %s' % (private_key_path, exc))
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, public)
            != leaf.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise SignatureError('the private key %s is not the key of the certificate %s (%s)'
                             % (private_key_path, certificate_path, leaf.subject.rfc4514_string()))
    return leaf, chain


def signature_current(directory, signature_name, leaf):
    """Why the signature in place must be made again, or None when it covers the current files with ``leaf``."""
    path = os.path.join(directory, signature_name)
    if not os.path.isfile(path):
        return 'there is no signature'
    try:
        certificates, statement = read_signature(path)
    except SignatureError as exc:
        return str(exc)
    if certificates[0].fingerprint(hashes.SHA256()) != leaf.fingerprint(hashes.SHA256()):
        return 'the signature was made with another certificate (%s)' % certificates[0].subject.rfc4514_string()
    actual = hash_files(directory, statement)
    if actual is None:
        return 'the signature uses another serialization'
    files = compare(signed_files(statement), actual)
    if any(files.values()):
        return 'files changed since it was made (%s)' % describe_files(files)
    return None


def sign(directory, destination, private_key_path, leaf, chain, signature_name):
    """Sign every file of ``directory`` (but the signature ``signature_name``) into the file ``destination``."""
    found = git_paths(directory)
    if found:
        raise SignatureError('%s holds %s: model-signing leaves git paths out of a signature, so remove them before '
                             'signing' % (directory, ', '.join(found)))
    workdir = tempfile.mkdtemp(prefix='model-signature.')
    try:
        leaf_path = os.path.join(workdir, 'leaf.pem')
        chain_path = os.path.join(workdir, 'chain.pem')
        with open(leaf_path, 'wb') as handle:
            handle.write(leaf.public_bytes(serialization.Encoding.PEM))
        with open(chain_path, 'wb') as handle:
            # model-signing cannot load an empty chain file: a certificate without issuer chain repeats itself.
            handle.write(b''.join(cert.public_bytes(serialization.Encoding.PEM) for cert in chain or [leaf]))
        hashing_config = model_signing.hashing.Config().set_ignored_paths(paths=[signature_name])
        config = model_signing.signing.Config().set_hashing_config(hashing_config)
        config.use_certificate_signer(private_key=private_key_path, signing_certificate=leaf_path,
                                      certificate_chain=[chain_path])
        config.sign(pathlib.Path(directory), pathlib.Path(destination))
    except ValueError as exc:
        raise SignatureError('model-signing refused to sign %s: %s' % (directory, exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- Verify ----------------------------------------------------------------------------------

def verify(directory, signature_name, ca_paths, signer_names=(), require_signature=True):
    """Verify a revision; return the result dict, or raise SignatureError with ``reason`` for a refusal.

    The result has ``signed`` (a signature is there), ``verified`` (it was checked), ``signer`` and ``files``
    (the signed files).
    """
    path = os.path.join(directory, signature_name)
    if not os.path.lexists(path):
        if require_signature:
            raise SignatureError('no signature %s' % signature_name, reason='unsigned')
        return {'signed': False, 'verified': False, 'signer': {}, 'files': 0}
    certificates, statement = read_signature(path)
    signer = identity(certificates[0])
    details = {'signer': signer}
    if signer_names and not set([signer['common_name']] + signer['dns_names']) & set(signer_names):
        raise SignatureError('its signer %s is not one of the allowed signers (%s)'
                             % (signer['subject'], ', '.join(signer_names)), reason='other_key', **details)
    config = model_signing.verifying.Config().use_certificate_verifier(certificate_chain=list(ca_paths))
    try:
        config.verify(pathlib.Path(directory), pathlib.Path(path))
    except openssl_crypto.X509StoreContextError as exc:
        raise SignatureError('the signer\'s certificate %s (issuer %s) does not chain to the site\'s CA %s: %s'
                             % (signer['subject'], signer['issuer'], ', '.join(ca_paths), exc),
                             reason='other_key', **details)
    except crypto_exceptions.InvalidSignature:
        raise SignatureError('the signature in %s does not match its signed statement and certificate (%s)'
                             % (signature_name, signer['subject']), reason='invalid', **details)
    except ValueError as exc:
        if not str(exc).startswith('Signature mismatch'):
            raise SignatureError('%s: %s' % (signature_name, exc), reason='invalid', **details)
        actual = hash_files(directory, statement)
        files = compare(signed_files(statement), actual) if actual is not None else {}
        raise SignatureError(describe_files(files) or str(exc), reason='modified', files=files, **details)
    # model-signing leaves the git paths out of what it hashes: anything there that was not signed is refused.
    unsigned = sorted(set(present_files(directory, signature_name)) - set(signed_files(statement)))
    if unsigned:
        files = {'changed': [], 'added': unsigned, 'removed': []}
        raise SignatureError(describe_files(files), reason='modified', files=files, **details)
    return {'signed': True, 'verified': True, 'signer': signer, 'files': len(signed_files(statement))}
