#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: model_manifest
short_description: Create a sha256 manifest of a model directory, or verify a directory against one
version_added: 0.1.0
description:
  - With O(state=present), hashes every file under O(path) and writes the manifest O(manifest) in the text format of
    C(sha256sum) (C(<sha256>  <relative path>) per line, sorted by path), so C(sha256sum -c) verifies it too.
    The manifest is written atomically and only when its content changes; the module then reports C(changed).
  - With O(state=verified), hashes every file under O(path) and compares it with O(manifest). The module fails, listing
    RV(missing), RV(mismatched) and RV(extra) files, unless every file of the manifest is present with its checksum
    and (unless O(allow_extra)) no other file is there. It never changes anything and never reports C(changed).
    Use it as the gate before switching the served revision of a model.
  - The manifest file itself and the O(exclude) patterns are left out of both.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    details:
      - With O(state=present), reports whether the manifest would change without writing it.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  path:
    description: The model directory (for example C(/srv/models/deepseek-r1/<revision>)).
    type: path
    required: true
  manifest:
    description:
      - Path of the manifest. Relative paths are taken under O(path).
      - With O(state=verified) the manifest may be elsewhere, for example the copy that came from the operator's store.
    type: path
    default: SHA256SUMS
  state:
    description:
      - V(present) creates or updates the manifest from the files under O(path).
      - V(verified) checks the files under O(path) against the manifest.
    type: str
    choices: [present, verified]
    default: present
  exclude:
    description:
      - Shell patterns (C(fnmatch)) of files to leave out, matched against the relative path and against the file name
        (for example V(.cache/*) or V(*.lock)).
    type: list
    elements: str
    default: []
  allow_extra:
    description: With O(state=verified), accept files under O(path) that the manifest does not list.
    type: bool
    default: false
notes:
  - Symbolic links to files are followed and the content they point to is hashed; links to directories are not followed.
  - Files are read in 1 MiB blocks; a 700 GB checkpoint takes as long as reading it from disk once.
  - The file attribute options (O(mode), O(owner), ...) apply to the manifest written with O(state=present).
seealso:
  - name: sha256sum
    description: The GNU coreutils tool whose format the manifest uses.
    link: https://www.gnu.org/software/coreutils/manual/html_node/sha2-utilities.html
"""

EXAMPLES = r"""
- name: Create the manifest of a model revision in the operator's store
  onprem.deepseek.model_manifest:
    path: /srv/model-store/deepseek-v3-tiny/r1
    exclude:
      - .cache/*
    mode: "0644"

- name: Verify a synced revision before it is served
  onprem.deepseek.model_manifest:
    path: /var/lib/models/deepseek-v3-tiny/r1
    state: verified
  register: __model_verified

- name: Verify against the manifest kept apart from the synced files
  onprem.deepseek.model_manifest:
    path: /var/lib/models/deepseek-v3-tiny/r2
    manifest: /var/lib/models/manifests/deepseek-v3-tiny-r2.sha256
    state: verified
"""

RETURN = r"""
manifest:
  description: Absolute path of the manifest.
  returned: always
  type: str
  sample: /srv/model-store/deepseek-v3-tiny/r1/SHA256SUMS
manifest_sha256:
  description: sha256 of the manifest's content, a fingerprint of the whole revision.
  returned: always
  type: str
  sample: 3f0d5b3f0e3c1d4f7a4c2b9c8e1f6a5d4c3b2a1908f7e6d5c4b3a29180f7e6d5
files:
  description: Number of files listed in the manifest.
  returned: always
  type: int
  sample: 7
total_bytes:
  description: Total size of those files in bytes (present files only, with O(state=verified)).
  returned: always
  type: int
  sample: 4931584
ok:
  description: With O(state=verified), whether the directory matches (always V(true) when the module succeeds).
  returned: always
  type: bool
  sample: true
missing:
  description: Files the manifest lists that are not under O(path).
  returned: when O(state=verified)
  type: list
  elements: str
  sample: []
mismatched:
  description: Files whose sha256 differs from the manifest.
  returned: when O(state=verified)
  type: list
  elements: str
  sample: ["model.safetensors"]
extra:
  description: Files under O(path) that the manifest does not list.
  returned: when O(state=verified)
  type: list
  elements: str
  sample: []
"""

import hashlib
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.onprem.deepseek.plugins.module_utils._model_store import (
    ManifestError,
    build_manifest,
    parse_manifest,
    render_manifest,
    verify,
)


def _manifest_path(module):
    manifest = module.params['manifest']
    if not os.path.isabs(manifest):
        manifest = os.path.join(module.params['path'], manifest)
    return os.path.abspath(manifest)


def _exclusions(module, manifest):
    exclude = list(module.params['exclude'])
    path = os.path.abspath(module.params['path'])
    rel = os.path.relpath(manifest, path)
    if not rel.startswith('..'):
        exclude.append(rel.replace(os.sep, '/'))
    return exclude


def _read(path):
    with open(path, 'rb') as handle:
        return handle.read()


def ensure_present(module, manifest):
    entries, total = build_manifest(module.params['path'], _exclusions(module, manifest))
    if not entries:
        module.fail_json(msg='%s holds no file to put in a manifest' % module.params['path'])
    content = to_bytes(render_manifest(entries))
    current = _read(manifest) if os.path.isfile(manifest) else None
    changed = current != content
    if changed and not module.check_mode:
        fd, tmp = tempfile.mkstemp(prefix='.manifest.', dir=os.path.dirname(manifest))
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(content)
            os.chmod(tmp, 0o644)
            module.atomic_move(tmp, manifest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    if os.path.exists(manifest):
        file_args = module.load_file_common_arguments(module.params, path=manifest)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    return dict(changed=changed, manifest=manifest, manifest_sha256=hashlib.sha256(content).hexdigest(),
                files=len(entries), total_bytes=total, ok=True)


def check_verified(module, manifest):
    if not os.path.isfile(manifest):
        module.fail_json(msg='manifest %s does not exist' % manifest, manifest=manifest, ok=False)
    content = _read(manifest)
    entries = parse_manifest(to_native(content, errors='surrogate_or_strict'))
    report = verify(module.params['path'], entries, _exclusions(module, manifest), module.params['allow_extra'])
    result = dict(changed=False, manifest=manifest, manifest_sha256=hashlib.sha256(content).hexdigest(), **report)
    if not report['ok']:
        problems = []
        for key, label in (('missing', 'missing'), ('mismatched', 'checksum mismatch'), ('extra', 'not in the manifest')):
            if report[key]:
                shown = ', '.join(report[key][:10]) + (' ...' if len(report[key]) > 10 else '')
                problems.append('%s: %s' % (label, shown))
        module.fail_json(msg='%s does not match %s (%s)' % (module.params['path'], manifest, '; '.join(problems)),
                         **result)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            manifest=dict(type='path', default='SHA256SUMS'),
            state=dict(type='str', choices=['present', 'verified'], default='present'),
            exclude=dict(type='list', elements='str', default=[]),
            allow_extra=dict(type='bool', default=False),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    if not os.path.isdir(module.params['path']):
        module.fail_json(msg='%s is not a directory' % module.params['path'])
    manifest = _manifest_path(module)
    try:
        if module.params['state'] == 'present':
            result = ensure_present(module, manifest)
        else:
            result = check_verified(module, manifest)
    except (ManifestError, OSError) as exc:
        module.fail_json(msg=to_native(exc), manifest=manifest)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
