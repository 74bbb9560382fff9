#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: onnx_export
short_description: Export a local Hugging Face causal language model to ONNX and validate it with onnxruntime
version_added: 0.1.0
description:
  - Loads a causal language model from a local Hugging Face model folder (O(model); never from a model hub; C(local_files_only)
    and C(HF_HUB_OFFLINE) are set) with transformers, and exports the graph
    C(input_ids -> logits) (no KV cache) with PyTorch's dynamo exporter (C(torch.onnx.export(..., dynamo=True))),
    with dynamic batch and sequence axes by default. This is the ONNX file that M(onprem.deepseek.tensorrt_engine)
    builds an engine from.
  - Validates the export with onnxruntime (CPU) before it replaces anything. It decodes O(validation_steps) tokens
    greedily from O(prompt), once with PyTorch and once with onnxruntime (each step re-runs the whole prefix), and
    fails unless both choose the same token ids at every step. With O(dynamic_batch=true) it also runs a batch of
    three copies of the prompt. It returns the tokens and the largest difference between the two engines' logits.
  - Next to the ONNX file it writes a sidecar fingerprint (O(fingerprint_path)) with the sha256 of every model file,
    the options, the versions of torch, transformers, onnxscript and onnx, and the result of the validation. The
    model is exported again only when that fingerprint differs, the ONNX file or its external data is missing or no
    longer has the recorded sha256, or O(force=true).
  - The export and validation run in a temporary folder next to O(path); the files are moved into place (atomic
    renames) only after the validation passed, so a failed export leaves the previous one untouched.
  - In check mode the module reports whether it would export, and why, without loading the model.
  - The module runs with the Python interpreter of the managed host, which must be the environment that has torch,
    transformers, onnxscript, onnx and onnxruntime (for example the venv of the C(onprem.deepseek.python_env)
    role); set C(ansible_python_interpreter) on the task. It fails with a clear message when one of them is missing.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
requirements:
  - torch (2.6 or later, with the dynamo ONNX exporter)
  - transformers (the version that knows the model's architecture)
  - onnxscript and onnx (the dynamo exporter uses them)
  - onnxruntime (for the validation; not needed with O(validation_steps=0))
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Reports C(changed=true) with RV(reasons) when an export is needed; loads and writes nothing.
  diff_mode:
    support: none
    description: No diff is shown (an ONNX model is binary).
options:
  model:
    description:
      - Local Hugging Face model folder (C(config.json), weights, tokenizer files) on the managed host.
      - Every file in it except hidden ones is hashed into the fingerprint.
    type: path
    required: true
  path:
    description:
      - Where the ONNX file is written. Its folder must exist.
      - With O(external_data=true) the weights go to C(<path>.data) next to it.
    type: path
    required: true
  opset:
    description: ONNX opset of the default domain (the dynamo exporter supports 18 and later).
    type: int
    default: 18
  dtype:
    description:
      - Data type the model is loaded in for the export.
      - onnxruntime's CPU kernels cover V(float32) best; V(float16) and V(bfloat16) exports may not run in the
        CPU validation.
    type: str
    choices: [float32, float16, bfloat16]
    default: float32
  dynamic_batch:
    description: Make the batch axis of C(input_ids) (and C(logits)) dynamic, named C(batch).
    type: bool
    default: true
  dynamic_sequence:
    description:
      - Make the sequence axis dynamic, named C(sequence).
      - Greedy validation over more than one step needs it; with V(false) the graph takes exactly the prompt's length.
    type: bool
    default: true
  external_data:
    description:
      - Store the weights in C(<path>.data) next to the graph (needed for models over 2 GB, the protobuf limit).
      - V(false) puts them inside the ONNX file.
    type: bool
    default: true
  experts_implementation:
    description:
      - The C(experts_implementation) passed to C(from_pretrained) for mixture-of-experts models. DeepSeek-V3 needs
        V(batched_mm) to be exportable (the default kernels loop over experts with data-dependent control flow).
      - An empty string passes nothing (for architectures that do not take the argument).
    type: str
    default: batched_mm
  attn_implementation:
    description: The C(attn_implementation) passed to C(from_pretrained) (for example V(eager) or V(sdpa)); omitted means transformers' default.
    type: str
  trust_remote_code:
    description:
      - Let transformers run Python code that ships in the model folder (architectures it does not know).
      - Only for model folders you trust; the code runs with the module's privileges.
    type: bool
    default: false
  prompt:
    description: Text the greedy validation starts from.
    type: str
    default: Hello, what is the model?
  chat_template:
    description: Wrap O(prompt) as a user turn with the tokenizer's chat template (when it has one), as a server would.
    type: bool
    default: true
  validation_steps:
    description:
      - Number of tokens decoded greedily by both PyTorch and onnxruntime. V(0) skips the validation (onnxruntime is
        then not needed).
    type: int
    default: 8
  max_logit_difference:
    description: Also fail when the largest absolute difference between PyTorch's and onnxruntime's logits is above this.
    type: float
  fingerprint_path:
    description: Sidecar fingerprint file (JSON). Default is O(path) with C(.fingerprint.json) appended.
    type: path
  force:
    description: Export even when the fingerprint matches.
    type: bool
    default: false
  backup:
    description: Keep a timestamped copy of the ONNX file (and its external data) it replaces.
    type: bool
    default: false
seealso:
  - module: onprem.deepseek.tensorrt_engine
  - name: torch.onnx (the dynamo exporter)
    description: PyTorch's documentation of C(torch.onnx.export).
    link: https://docs.pytorch.org/docs/stable/onnx_export.html
notes:
  - The export loads the whole model into host memory on the managed host (CPU); a large model needs as much memory
    as its weights in O(dtype), twice over during the export.
  - The exported graph has one input C(input_ids) (int64, C([batch, sequence])) and one output C(logits)
    (C([batch, sequence, vocabulary])); it has no attention mask and no KV cache, so it is meant for engine builds
    and checks, not for efficient generation.
  - Warnings of the exporter and of transformers go to the module's stderr.
"""

EXAMPLES = r"""
- name: Export the model to ONNX and check it against PyTorch with onnxruntime
  onprem.deepseek.onnx_export:
    model: /srv/models/deepseek-tiny
    path: /srv/models/deepseek-tiny.onnx
    opset: 18
    validation_steps: 8
    max_logit_difference: 0.001
    mode: "0644"
  vars:
    # The environment of onprem.deepseek.python_env, with the onnx, onnxscript and onnxruntime extras.
    ansible_python_interpreter: /opt/deepseek/envs/deepseek/bin/python
  register: onnx

- name: Build a TensorRT engine from it on a GPU host
  onprem.deepseek.tensorrt_engine:
    onnx: "{{ onnx.path }}"
    path: /srv/models/deepseek-tiny.fp16.plan
    profiles:
      - shapes:
          - name: input_ids
            min: [1, 1]
            opt: [1, 128]
            max: [4, 1024]
  vars:
    ansible_python_interpreter: /opt/deepseek/envs/deepseek/bin/python
"""

RETURN = r"""
path:
  description: The ONNX file.
  returned: always
  type: str
  sample: /srv/models/deepseek-tiny.onnx
external_data_path:
  description: The file with the weights, when O(external_data=true).
  returned: when the export exists and has external data
  type: str
  sample: /srv/models/deepseek-tiny.onnx.data
fingerprint_path:
  description: The sidecar fingerprint file.
  returned: always
  type: str
  sample: /srv/models/deepseek-tiny.onnx.fingerprint.json
fingerprint:
  description: The fingerprint of the current inputs (what the sidecar holds after an export, besides the result).
  returned: always
  type: dict
  contains:
    model:
      description: sha256 of every file of the model folder, by relative path.
      type: dict
    options:
      description: The options that enter the fingerprint.
      type: dict
    versions:
      description: Versions of torch, transformers, onnxscript and onnx.
      type: dict
      sample: {"torch": "2.13.0+cpu", "transformers": "5.24.0", "onnxscript": "0.7.2", "onnx": "1.23.2"}
    digest:
      description: sha256 of the canonical JSON of the fields above.
      type: str
reasons:
  description: Why an export happened (or would happen in check mode); empty when the export was current.
  returned: always
  type: list
  elements: str
  sample: ["model", "onnx missing"]
exported:
  description: Whether this run exported and validated the model (false when the recorded export was current).
  returned: always
  type: bool
sha256:
  description: sha256 of the ONNX file.
  returned: when the export exists
  type: str
size:
  description: Size in bytes of the ONNX file alone (Ansible's file information, like C(mode) and C(owner)).
  returned: when the export exists
  type: int
  sample: 829359
total_bytes:
  description: Size in bytes of the ONNX file plus its external data.
  returned: when the export exists
  type: int
  sample: 5454255
external_data_sha256:
  description: sha256 of the external data file.
  returned: when the export exists and has external data
  type: str
prompt_ids:
  description: Token ids of the validation prompt.
  returned: when the export exists
  type: list
  elements: int
tokens:
  description: The greedy tokens PyTorch chose (recorded in the sidecar when the export was current).
  returned: when the export exists and was validated
  type: list
  elements: int
  sample: [57, 57, 187, 435, 57, 215, 215, 57]
onnxruntime_tokens:
  description: The greedy tokens onnxruntime chose; equal to RV(tokens) on success.
  returned: when the export exists and was validated
  type: list
  elements: int
max_logit_difference:
  description: Largest absolute difference between PyTorch's and onnxruntime's logits over the validation steps.
  returned: when the export exists and was validated
  type: float
  sample: 5.4e-07
batch_check:
  description: Whether a batch of three copies of the prompt gave PyTorch's first token in every row.
  returned: when the export exists, was validated and O(dynamic_batch=true)
  type: bool
versions:
  description: Versions of the libraries that made and validated the export (onnxruntime included).
  returned: when the export exists
  type: dict
export_seconds:
  description: Wall time of C(torch.onnx.export).
  returned: when exported
  type: float
validation_seconds:
  description: Wall time of the onnxruntime validation.
  returned: when exported and validated
  type: float
backup_file:
  description: The backup of the replaced ONNX file, when O(backup=true) and one was replaced.
  returned: changed and when backup was made
  type: str
"""

import json
import os
import shutil
import sys
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.onprem.deepseek.plugins.module_utils import _onnx_export
from ansible_collections.onprem.deepseek.plugins.module_utils._onnx_export import OnnxExportError

# Result fields kept in the sidecar and returned on every run once the export exists.
RECORDED = ('sha256', 'total_bytes', 'external_data', 'external_data_sha256', 'prompt_ids', 'tokens', 'onnxruntime_tokens',
            'max_logit_difference', 'batch_check', 'versions')


class OnnxExport(object):
    """The ONNX file, its external data and its sidecar, in the shape of community.crypto's private key objects."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.path = params['path']
        self.folder = os.path.dirname(os.path.abspath(self.path))
        self.model = params['model']
        self.fingerprint_path = params['fingerprint_path'] or self.path + '.fingerprint.json'
        self.force = params['force']
        self.backup = params['backup']
        self.options = _onnx_export.build_options(params)
        self.fingerprint = None
        self.sidecar = None
        self.reasons = []
        self.result = None
        self.run_info = {}
        self.backup_file = None

    def _read_sidecar(self):
        try:
            with open(self.fingerprint_path, 'r') as handle:
                return json.load(handle)
        except (IOError, OSError, ValueError):
            return None

    def compute_fingerprint(self):
        self.fingerprint = _onnx_export.fingerprint(_onnx_export.model_digests(self.model), self.options,
                                                    _onnx_export.library_versions())

    def needs_regeneration(self):
        """Decide, without acting, whether the model must be (re)exported; record why in self.reasons."""
        self.reasons = []
        if self.force:
            self.reasons.append('force')
        self.sidecar = self._read_sidecar()
        if self.sidecar is None:
            self.reasons.append('fingerprint missing')
            if not os.path.exists(self.path):
                self.reasons.append('onnx missing')
        else:
            self.reasons.extend(_onnx_export.fingerprint_differences(self.sidecar, self.fingerprint))
            self.reasons.extend(_onnx_export.output_differences(self.sidecar, self.path))
        if not self.reasons:
            self.result = self.sidecar['result']
        return bool(self.reasons)

    def _atomic_write(self, dest, data):
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(dest), dir=self.folder)
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
            self.module.atomic_move(tmp, os.path.abspath(dest))
        except Exception:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def generate(self):
        if not os.path.isdir(self.folder):
            self.module.fail_json(msg='the folder of %s does not exist' % self.path)
        basename = os.path.basename(self.path)
        workdir = tempfile.mkdtemp(prefix='.%s.export.' % basename, dir=self.folder)
        try:
            self.run_info = _onnx_export.export_and_validate(self.model, workdir, basename, self.options)
            produced = sorted(os.listdir(workdir))
            data_names = [name for name in produced if name != basename]
            if len(data_names) > 1:
                raise OnnxExportError('the exporter wrote more files than the graph and one data file: %s' % produced)
            data_name = data_names[0] if data_names else None
            result = dict((key, self.run_info[key]) for key in RECORDED if key in self.run_info)
            result['sha256'] = _onnx_export.sha256_file(os.path.join(workdir, basename))
            result['total_bytes'] = sum(os.path.getsize(os.path.join(workdir, name)) for name in produced)
            result['external_data'] = data_name
            result['external_data_sha256'] = (_onnx_export.sha256_file(os.path.join(workdir, data_name))
                                              if data_name else None)
            old_data = ((self.sidecar or {}).get('result') or {}).get('external_data')
            if self.backup and os.path.exists(self.path):
                self.backup_file = self.module.backup_local(self.path)
                if old_data and os.path.exists(os.path.join(self.folder, old_data)):
                    self.module.backup_local(os.path.join(self.folder, old_data))
            # The weights first, then the graph that names them.
            for name in data_names + [basename]:
                self.module.atomic_move(os.path.join(workdir, name), os.path.join(self.folder, name))
            if old_data and old_data != data_name and os.path.exists(os.path.join(self.folder, old_data)):
                os.remove(os.path.join(self.folder, old_data))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        self.result = result
        sidecar = dict(self.fingerprint, result=result)
        self._atomic_write(self.fingerprint_path, json.dumps(sidecar, sort_keys=True, indent=2).encode('utf-8') + b'\n')

    def set_attributes(self, changed):
        args = self.module.load_file_common_arguments(self.module.params)
        paths = [self.path, self.fingerprint_path]
        if self.result and self.result.get('external_data'):
            paths.append(os.path.join(self.folder, self.result['external_data']))
        for path in paths:
            if os.path.exists(path):
                args['path'] = path
                changed = self.module.set_fs_attributes_if_different(args, changed)
        return changed

    def dump(self, changed):
        result = {
            'changed': changed,
            'path': self.path,
            'fingerprint_path': self.fingerprint_path,
            'fingerprint': self.fingerprint,
            'reasons': self.reasons,
            'exported': bool(self.run_info),
        }
        if self.result:
            for key in RECORDED:
                if self.result.get(key) is not None and key != 'external_data':
                    result[key] = self.result[key]
            if self.result.get('external_data'):
                result['external_data_path'] = os.path.join(self.folder, self.result['external_data'])
        for key in ('export_seconds', 'validation_seconds'):
            if key in self.run_info:
                result[key] = self.run_info[key]
        if self.backup_file:
            result['backup_file'] = self.backup_file
        return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            model=dict(type='path', required=True),
            path=dict(type='path', required=True),
            opset=dict(type='int', default=18),
            dtype=dict(type='str', default='float32', choices=list(_onnx_export.DTYPES)),
            dynamic_batch=dict(type='bool', default=True),
            dynamic_sequence=dict(type='bool', default=True),
            external_data=dict(type='bool', default=True),
            experts_implementation=dict(type='str', default='batched_mm'),
            attn_implementation=dict(type='str'),
            trust_remote_code=dict(type='bool', default=False),
            prompt=dict(type='str', default='Hello, what is the model?'),
            chat_template=dict(type='bool', default=True),
            validation_steps=dict(type='int', default=8),
            max_logit_difference=dict(type='float'),
            fingerprint_path=dict(type='path'),
            force=dict(type='bool', default=False),
            backup=dict(type='bool', default=False),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    missing = _onnx_export.missing_libraries(validate=params['validation_steps'] > 0)
    if missing:
        module.fail_json(msg='%s Run the task with the Python of the environment that has them (set '
                             'ansible_python_interpreter); this one is %s.'
                             % (missing_required_lib(', '.join(missing)), sys.executable),
                         missing=missing)

    export = OnnxExport(module)
    problems = _onnx_export.check_options(export.options)
    if problems:
        module.fail_json(msg='; '.join(problems))
    try:
        export.compute_fingerprint()
        rebuild = export.needs_regeneration()
        if module.check_mode:
            # set_fs_attributes_if_different only reports in check mode.
            changed = True if rebuild else export.set_attributes(False)
            module.exit_json(**export.dump(changed))
        if rebuild:
            export.generate()
    except OnnxExportError as exc:
        result = export.dump(False)
        result.update(exc.details)
        module.fail_json(msg=str(exc), **result)
    changed = export.set_attributes(rebuild)
    module.exit_json(**export.dump(changed))


if __name__ == '__main__':
    main()
