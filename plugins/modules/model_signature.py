#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: model_signature
short_description: Sign a model revision folder in the OpenSSF Model Signing format, or verify its signature
version_added: 0.1.0
description:
  - With O(state=signed), signs every file of the revision folder O(path) with a private key and the certificate
    the site's PKI (the Vault PKI) issued for it, with the certificate method of the C(model-signing) library. The
    signature, a Sigstore bundle holding the certificate and its chain, is written into the folder as O(signature)
    and travels with the revision. It is made again only when it is missing, was made with another certificate, or
    no longer matches the files (or with O(force)); it is written atomically.
  - With O(state=verified), checks the signature in O(path) against the site's CA O(ca_path) and fails, naming the
    revision and the reason, when the revision is not signed (unless O(require_signature=false)), is signed by a key
    whose certificate does not chain to that CA or is not one of O(signer_names), or has a file changed, added or
    removed after signing. It never changes anything. Use it before a revision is put in place.
  - Files that C(model-signing) leaves out of a signature (C(.git), C(.gitattributes), C(.github), C(.gitignore)) are
    refused at signing and, when present but unsigned, at verification.
requirements:
  - model-signing 1.1.x, with pyOpenSSL (which its certificate method imports) on the host that runs the module
author:
  - onprem.deepseek maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - With O(state=signed), reports whether the signature would be made, without writing it.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  path:
    description: The revision folder (for example C(/mnt/models/deepseek-v3-tiny/r2)).
    type: path
    required: true
  name:
    description:
      - How messages name the revision (for example V(deepseek-v3-tiny/r2) while the folder is a staging folder).
      - Defaults to the name of O(path).
    type: str
  signature:
    description: File name of the signature inside O(path).
    type: str
    default: model.sig
  state:
    description:
      - V(signed) makes the signature when needed.
      - V(verified) checks it and fails on a refusal.
    type: str
    choices: [signed, verified]
    default: verified
  private_key_path:
    description:
      - With O(state=signed), the signer's unencrypted PEM private key (EC P-256, P-384 or P-521).
    type: path
  certificate_path:
    description:
      - With O(state=signed), the signer's PEM certificate, optionally followed by its issuing chain (the file
        M(community.crypto.x509_certificate) or the Vault PKI's sign endpoint gives).
    type: path
  chain_paths:
    description:
      - With O(state=signed), further PEM files of the issuing chain, put into the signature after the certificate.
    type: list
    elements: path
    default: []
  ca_path:
    description:
      - With O(state=verified), the site's CA certificates (PEM, one file or several), the only trust anchors.
    type: list
    elements: path
  signer_names:
    description:
      - With O(state=verified), the common names or DNS names of the certificates allowed to sign. Empty allows any
        certificate that chains to O(ca_path).
    type: list
    elements: str
    default: []
  require_signature:
    description:
      - With O(state=verified), refuse a revision without signature. With V(false), an unsigned revision passes with
        RV(signed=false); a signature that is there is still checked.
    type: bool
    default: true
  force:
    description: With O(state=signed), sign again even when the signature in place is current.
    type: bool
    default: false
notes:
  - The verification takes the signature as made when the certificate was issued (model-signing checks the chain at
    the certificate's start of validity), so a revision signed with a certificate that has expired since still
    verifies. Revocation is not checked.
  - Every file is hashed with sha256 on both sides; a 700 GB checkpoint takes as long as reading it once.
seealso:
  - name: OpenSSF Model Signing
    description: The model-signing library and its signature format.
    link: https://github.com/sigstore/model-transparency
  - module: onprem.deepseek.model_manifest
  - module: onprem.deepseek.model_watermark
"""

EXAMPLES = r"""
- name: Sign a published revision with the certificate from the Vault PKI
  onprem.deepseek.model_signature:
    path: /mnt/models/deepseek-v3-tiny/r2
    state: signed
    private_key_path: /etc/onprem-deepseek/model-signing/signer.key
    certificate_path: /etc/onprem-deepseek/model-signing/signer.crt

- name: Verify a staged revision against the site's CA before it is put in place
  onprem.deepseek.model_signature:
    path: /var/lib/models/deepseek-v3-tiny/.staging-r2
    name: deepseek-v3-tiny/r2
    state: verified
    ca_path: /usr/local/share/ca-certificates/onprem-deepseek-pki-root-ca.crt
    signer_names: [model-signer.models.internal]
  register: __signature
"""

RETURN = r"""
signature:
  description: Absolute path of the signature file.
  returned: always
  type: str
  sample: /mnt/models/deepseek-v3-tiny/r2/model.sig
signed:
  description: Whether the revision has a signature (after the module ran, with O(state=signed)).
  returned: success
  type: bool
  sample: true
verified:
  description: With O(state=verified), whether the signature was checked and holds.
  returned: always
  type: bool
  sample: true
accepted:
  description:
    - With O(state=verified), whether the revision passes (its signature holds, or it is unsigned and
      O(require_signature=false)). V(false) whenever the module fails.
  returned: always
  type: bool
  sample: true
reason:
  description:
    - Why the revision was refused; empty when it was not.
    - V(unsigned), V(other_key) (the certificate does not chain to the CA or is not an allowed signer), V(modified)
      (a file changed, added or removed after signing) or V(invalid) (the signature cannot be read or does not match
      its statement).
  returned: always
  type: str
  sample: modified
signer:
  description: The signing certificate of the signature found (subject, common_name, dns_names, issuer, serial,
    sha256_fingerprint, not_before, not_after).
  returned: when a signature was read
  type: dict
  sample: {common_name: model-signer, issuer: CN=onprem-deepseek intermediate CA, serial: 3f2a}
files:
  description:
    - With O(state=verified) and a refusal for V(modified), the files V(changed), V(added) and V(removed) since
      signing; otherwise the number of files signed.
  returned: when known
  type: raw
  sample: {changed: [config.json], added: [], removed: []}
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.onprem.deepseek.plugins.module_utils._model_signing import (
    HAS_MODEL_SIGNING,
    MODEL_SIGNING_IMPORT_ERROR,
    REASONS,
    SignatureError,
    sign,
    signature_current,
    signing_material,
    verify,
)


def ensure_signed(module, path, signature):
    params = module.params
    leaf, chain = signing_material(params['private_key_path'], params['certificate_path'], params['chain_paths'])
    why = 'forced' if params['force'] else signature_current(path, params['signature'], leaf)
    result = dict(signature=signature, signed=os.path.isfile(signature), verified=False, reason='')
    if why is None:
        return dict(result, changed=False, msg='the signature is current')
    if not module.check_mode:
        workdir = tempfile.mkdtemp(prefix='.model-signature.')
        try:
            tmp = os.path.join(workdir, params['signature'])
            sign(path, tmp, params['private_key_path'], leaf, chain, params['signature'])
            os.chmod(tmp, 0o644)
            module.atomic_move(tmp, signature)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return dict(result, changed=True, signed=not module.check_mode or result['signed'],
                msg='signed: %s' % why if not module.check_mode else 'would sign: %s' % why)


def check_verified(module, path, signature, label):
    params = module.params
    try:
        report = verify(path, params['signature'], params['ca_path'], params['signer_names'],
                        params['require_signature'])
    except SignatureError as exc:
        if exc.reason is None:
            raise
        module.fail_json(msg='revision %s is refused: it %s: %s' % (label, REASONS[exc.reason], to_native(exc)),
                         reason=exc.reason, signature=signature, signed=exc.reason != 'unsigned', verified=False,
                         accepted=False, **exc.details)
    msg = ('revision %s is signed by %s' % (label, report['signer'].get('subject')) if report['signed']
           else 'revision %s is not signed (accepted: require_signature is false)' % label)
    return dict(report, changed=False, signature=signature, reason='', accepted=True, msg=msg)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            name=dict(type='str'),
            signature=dict(type='str', default='model.sig'),
            state=dict(type='str', choices=['signed', 'verified'], default='verified'),
            private_key_path=dict(type='path'),
            certificate_path=dict(type='path'),
            chain_paths=dict(type='list', elements='path', default=[]),
            ca_path=dict(type='list', elements='path'),
            signer_names=dict(type='list', elements='str', default=[]),
            require_signature=dict(type='bool', default=True),
            force=dict(type='bool', default=False),
        ),
        required_if=[
            ('state', 'signed', ('private_key_path', 'certificate_path')),
            ('state', 'verified', ('ca_path',)),
        ],
        supports_check_mode=True,
    )
    if not HAS_MODEL_SIGNING:
        module.fail_json(msg=missing_required_lib('model-signing (with pyOpenSSL)'),
                         exception=MODEL_SIGNING_IMPORT_ERROR)
    params = module.params
    path = os.path.abspath(params['path'])
    if '/' in params['signature'] or params['signature'] in ('', '.', '..'):
        module.fail_json(msg='signature must be a file name inside path, got %r' % params['signature'])
    if not os.path.isdir(path):
        module.fail_json(msg='%s is not a directory' % path)
    signature = os.path.join(path, params['signature'])
    label = params['name'] or os.path.basename(path)
    try:
        if params['state'] == 'signed':
            result = ensure_signed(module, path, signature)
        else:
            result = check_verified(module, path, signature, label)
    except (SignatureError, OSError) as exc:
        module.fail_json(msg='%s: %s' % (label, to_native(exc)), signature=signature, reason='',
                         verified=False, accepted=False)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
