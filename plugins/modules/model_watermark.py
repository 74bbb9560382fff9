#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: model_watermark
short_description: Embed a keyed watermark into a model's safetensors weights, or detect it
version_added: 0.1.0
description:
  - Proves that weights found elsewhere come from this site's models. The mark is a pattern of signs derived from the
    secret O(key) and each tensor's name (HMAC-SHA256, then SHAKE-256), spread over every weight of every floating-
    point tensor with two or more dimensions (1-D tensors such as norms and biases, and integer or FP8 tensors, are
    left alone). Embedding adds O(strength) times the tensor's RMS, with the pattern's sign, to each of those weights.
  - Detection correlates the weights with the key's pattern. Without the mark the statistic RV(z_score) is standard
    normal whatever the weights are; with it, it is about O(strength) times the square root of the number of weights
    (10 for 1 million weights at the default strength, more than 100 for 136 million). The model is RV(marked) when
    RV(z_score) reaches O(threshold); RV(p_value) is the probability of a score this high without the mark.
  - With O(state=present), detects first and embeds only when the mark is not there, so a second run changes
    nothing. Every C(*.safetensors) file of O(path) is rewritten atomically with the same header (dtypes, shapes and
    offsets); only the data of the marked tensors changes, so a manifest or signature made before must be made again
    (watermark, then manifest, then sign).
  - With O(state=detected), only reports; it never changes anything.
  - The mark survives a cast between float dtypes, an 8-bit weight quantisation round trip and a short fine-tune
    (C(bench/model_watermark.py) measures each). It does not survive a deliberate removal by someone who holds the
    key, nor a renaming of the tensors or a re-ordering of their weights.
requirements:
  - numpy on the host that runs the module
author:
  - onprem.deepseek maintainers (!UNKNOWN)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - With O(state=present), reports whether the mark would be embedded, without writing.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  path:
    description: The model folder holding the C(*.safetensors) files.
    type: path
    required: true
  key:
    description:
      - The secret key of the site's mark (keep it in Vault KV). At least 16 characters.
    type: str
    required: true
  state:
    description:
      - V(present) embeds the mark unless it is detected already.
      - V(detected) only detects it.
    type: str
    choices: [present, detected]
    default: detected
  strength:
    description:
      - Amplitude of the mark, as a fraction of each tensor's RMS. Higher gives a higher score and changes the
        weights more.
    type: float
    default: 0.01
  threshold:
    description:
      - Score from which the model counts as marked. 5 means a chance of about 3 in 10 million that an unmarked
        model is taken for a marked one.
    type: float
    default: 5.0
  exclude:
    description: Shell patterns (C(fnmatch)) of tensor names left without the mark.
    type: list
    elements: str
    default: []
  files:
    description: Shell pattern of the weight files inside O(path).
    type: str
    default: "*.safetensors"
notes:
  - With O(state=present) on a model too small for the mark to reach O(threshold), the module fails without writing
    anything; raise O(strength) or mark a bigger model.
  - Embedding reads and writes every weight file once, detection reads them once (see C(bench/model_watermark.py)
    for the time per GB). Room for one more copy of the largest weight file is needed next to it.
seealso:
  - module: onprem.deepseek.model_signature
  - module: onprem.deepseek.model_manifest
"""

EXAMPLES = r"""
- name: Watermark a revision before its manifest and signature are made
  onprem.deepseek.model_watermark:
    path: /mnt/models/deepseek-v3-tiny/.publish-r2
    key: "{{ model_watermark_key }}"
    state: present

- name: Check weights found elsewhere for the site's mark
  onprem.deepseek.model_watermark:
    path: /srv/found/weights
    key: "{{ model_watermark_key }}"
  register: __found

- name: Report the finding
  ansible.builtin.debug:
    msg: "marked={{ __found.marked }} z={{ __found.z_score }} p={{ __found.p_value }}"
"""

RETURN = r"""
marked:
  description: Whether the weights carry the mark of O(key) (after the module ran, with O(state=present)).
  returned: success
  type: bool
  sample: true
z_score:
  description: The detection statistic (standard normal without the mark).
  returned: success
  type: float
  sample: 12.86
p_value:
  description: One-sided p-value of RV(z_score) (chance of a score this high without the mark).
  returned: success
  type: float
  sample: 3.8e-38
threshold:
  description: O(threshold).
  returned: success
  type: float
  sample: 5.0
z_score_before:
  description: With O(state=present), the score before embedding.
  returned: when O(state=present)
  type: float
  sample: 0.41
tensors:
  description: Number of tensors that carry (or would carry) the mark.
  returned: success
  type: int
  sample: 30
weights:
  description: Number of weights in those tensors.
  returned: success
  type: int
  sample: 1155072
skipped_tensors:
  description: Tensors left alone (1-D, small, not floating-point, or excluded).
  returned: success
  type: int
  sample: 11
files:
  description: The weight files read.
  returned: success
  type: list
  elements: str
  sample: [/mnt/models/deepseek-v3-tiny/r2/model.safetensors]
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.onprem.deepseek.plugins.module_utils import _model_watermark as wm


def embed(module, files, before):
    """Write every weight file with the mark (atomically, one file at a time); return the detection after."""
    params = module.params
    planned = wm.expected_z(params['strength'], before['weights'])
    if planned < params['threshold']:
        module.fail_json(msg='%s has %d markable weights: the mark would score about %.2f, below the threshold %.2f; '
                             'raise strength or mark a bigger model' % (params['path'], before['weights'], planned,
                                                                        params['threshold']), **before)
    statistic = wm.Statistic()
    written = []
    try:
        for path in files:
            fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=os.path.dirname(path))
            os.close(fd)
            written.append(tmp)
            part = wm.embed_file(path, tmp, params['key'], params['strength'], params['exclude'])
            statistic.weighted += part.weighted
            statistic.weights += part.weights
            statistic.tensors += part.tensors
        after = wm.result(statistic, params['threshold'])
        if not after['marked']:
            module.fail_json(msg='the mark scores %.2f once rounded to the weights\' dtype, below the threshold %.2f; '
                                 'nothing was written: raise strength' % (after['z_score'], params['threshold']),
                             **before)
        for path, tmp in zip(files, written):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
            module.atomic_move(tmp, path)
    finally:
        for tmp in written:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return after


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            key=dict(type='str', required=True, no_log=True),
            state=dict(type='str', choices=['present', 'detected'], default='detected'),
            strength=dict(type='float', default=wm.DEFAULT_STRENGTH),
            threshold=dict(type='float', default=wm.DEFAULT_THRESHOLD),
            exclude=dict(type='list', elements='str', default=[]),
            files=dict(type='str', default='*.safetensors'),
        ),
        supports_check_mode=True,
    )
    if wm.np is None:
        module.fail_json(msg=missing_required_lib('numpy'))
    params = module.params
    if len(params['key']) < 16:
        module.fail_json(msg='the watermark key must have at least 16 characters')
    if not 0 < params['strength'] <= 0.1:
        module.fail_json(msg='strength must be above 0 and at most 0.1, got %s' % params['strength'])
    try:
        files = wm.checkpoint_files(params['path'], params['files'])
        before = wm.detect_files(files, params['key'], params['threshold'], params['exclude'])
        before['files'] = files
        if params['state'] == 'detected' or before['marked']:
            module.exit_json(changed=False, **before)
        if module.check_mode:
            before['z_score_before'] = before['z_score']
            module.exit_json(changed=True, msg='the mark would be embedded', **before)
        after = embed(module, files, before)
    except (wm.WatermarkError, OSError) as exc:
        module.fail_json(msg='%s: %s' % (params['path'], to_native(exc)))
    after.update(files=files, skipped_tensors=before['skipped_tensors'], z_score_before=before['z_score'])
    module.exit_json(changed=True, **after)


if __name__ == '__main__':
    main()
