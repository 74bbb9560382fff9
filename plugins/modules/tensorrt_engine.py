#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: tensorrt_engine
short_description: Build a TensorRT engine from an ONNX model, only when its inputs changed
version_added: 0.1.0
description:
  - Builds a serialized TensorRT engine (a C(.plan) file) from an ONNX model with TensorRT's Python API
    (C(trt.Builder), C(trt.OnnxParser), C(build_serialized_network)) on the managed host's GPU.
  - Next to the engine it writes a sidecar fingerprint (O(fingerprint_path)) with the sha256 of the ONNX file, the build
    options (O(precision), O(workspace_mib), O(profiles), O(builder_optimization_level)), the TensorRT version and the
    compute capability of the GPU (an engine only runs on the TensorRT version and GPU architecture that built it).
  - The engine is rebuilt only when that fingerprint differs from the sidecar, the engine or sidecar is missing,
    or O(force=true). Both files are written atomically (temporary file in the same folder, then rename).
  - In check mode the module reports whether it would build, and why, without building or writing anything.
  - Fails with a clear message when the C(tensorrt) Python package is missing, when C(pynvml) is missing or no NVIDIA
    GPU answers at index O(device), or when TensorRT cannot parse the model or build the engine.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
requirements:
  - tensorrt (the Python bindings with the TensorRT libraries, for example the C(tensorrt) wheel from NVIDIA's index)
  - nvidia-ml-py (C(pynvml)) and an NVIDIA driver
extends_documentation_fragment:
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
    description: Reports C(changed=true) with RV(reasons) when a build is needed; builds nothing.
  diff_mode:
    support: none
    description: No diff is shown (an engine is binary).
options:
  path:
    description: Where the engine is written.
    type: path
    required: true
  onnx:
    description:
      - The ONNX model on the managed host.
      - Weights stored as external data next to it are read by the parser, but only the C(.onnx) file itself is
        hashed into the fingerprint; re-export the model (which changes the graph file) or use O(force) when only
        the external weights change.
    type: path
    required: true
  precision:
    description:
      - Lowest precision TensorRT may choose for layers. V(fp32) sets no flag; V(fp16), V(bf16), V(int8) and V(fp8)
        set the builder flag of that name.
      - V(int8) and V(fp8) need an explicitly quantized model (Q/DQ nodes in the ONNX graph); no calibrator is used.
    type: str
    choices: [fp32, fp16, bf16, int8, fp8]
    default: fp16
  workspace_mib:
    description: Limit of the builder's workspace memory pool (C(MemoryPoolType.WORKSPACE)), in MiB.
    type: int
    default: 4096
  profiles:
    description:
      - Optimisation profiles for inputs with dynamic dimensions, one list item per profile.
      - Every dynamic input needs a shape in every profile; min <= opt <= max in each dimension.
    type: list
    elements: dict
    default: []
    suboptions:
      shapes:
        description: The shapes of the inputs in this profile.
        type: list
        elements: dict
        required: true
        suboptions:
          name:
            description: Input name in the ONNX graph.
            type: str
            required: true
          min:
            description: Smallest shape.
            type: list
            elements: int
            required: true
          opt:
            description: Shape TensorRT optimises for.
            type: list
            elements: int
            required: true
          max:
            description: Largest shape.
            type: list
            elements: int
            required: true
  builder_optimization_level:
    description: TensorRT builder optimisation level (0-5; TensorRT's default is 3). Omitted means TensorRT's default.
    type: int
  timing_cache:
    description:
      - A timing cache file that speeds up later builds; loaded when it exists and written after a build.
      - It does not change the engine's fingerprint.
    type: path
  device:
    description: Index of the GPU (as NVML numbers them) whose compute capability enters the fingerprint.
    type: int
    default: 0
  fingerprint_path:
    description: Sidecar fingerprint file (JSON). Default is O(path) with C(.fingerprint.json) appended.
    type: path
  force:
    description: Build even when the fingerprint matches.
    type: bool
    default: false
  backup:
    description: Keep a timestamped copy of the engine it replaces.
    type: bool
    default: false
seealso:
  - module: onprem.deepseek.nvml_info
notes:
  - The build runs on the managed host and uses its GPU; large models take minutes and GPU memory.
  - TensorRT's own log (warnings and errors) goes to the module's stderr.
"""

EXAMPLES = r"""
- name: Build an FP16 engine for batch 1-8 and sequences up to 4096 tokens
  onprem.deepseek.tensorrt_engine:
    onnx: /srv/models/deepseek/model.onnx
    path: /srv/models/deepseek/model.fp16.plan
    precision: fp16
    workspace_mib: 8192
    timing_cache: /var/cache/onprem-deepseek/trt-timing.cache
    profiles:
      - shapes:
          - name: input_ids
            min: [1, 1]
            opt: [4, 512]
            max: [8, 4096]
    mode: "0644"
  register: engine

- name: Show why the engine was rebuilt
  ansible.builtin.debug:
    var: engine.reasons

# A build takes minutes to hours: run it in the background and print a line every 30 s while it runs.
- name: Build the engine (in the background)
  onprem.deepseek.tensorrt_engine:
    onnx: /srv/models/deepseek/model.onnx
    path: /srv/models/deepseek/model.fp16.plan
  async: 14400
  poll: 0
  register: engine_job

- name: Wait for the engine build (one line every 30 s while it runs)
  ansible.builtin.async_status:
    jid: "{{ engine_job.ansible_job_id }}"
  register: engine
  until: engine.finished
  retries: 480
  delay: 30
"""

RETURN = r"""
path:
  description: The engine file.
  returned: always
  type: str
  sample: /srv/models/deepseek/model.fp16.plan
fingerprint_path:
  description: The sidecar fingerprint file.
  returned: always
  type: str
  sample: /srv/models/deepseek/model.fp16.plan.fingerprint.json
fingerprint:
  description: The fingerprint of the current inputs (what the sidecar holds after a build).
  returned: always
  type: dict
  contains:
    onnx_sha256:
      description: sha256 of the ONNX file.
      type: str
    options:
      description: The build options that enter the fingerprint.
      type: dict
    tensorrt_version:
      description: Version of the TensorRT bindings.
      type: str
      sample: 10.13.3.9
    compute_capability:
      description: Compute capability of the GPU.
      type: str
      sample: "9.0"
    digest:
      description: sha256 of the canonical JSON of the fields above.
      type: str
reasons:
  description: Why a build happened (or would happen in check mode); empty when the engine was current.
  returned: always
  type: list
  elements: str
  sample: ["options", "compute_capability"]
backup_file:
  description: The backup of the replaced engine, when O(backup=true) and one was replaced.
  returned: changed and when backup was made
  type: str
engine_bytes:
  description: Size of the engine written, in bytes.
  returned: when built
  type: int
build_seconds:
  description: Wall time of the TensorRT build.
  returned: when built
  type: float
"""

import json
import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.onprem.deepseek.plugins.module_utils import _tensorrt
from ansible_collections.onprem.deepseek.plugins.module_utils._tensorrt import TensorRTError


class TensorRTEngine(object):
    """The engine file and its sidecar, in the shape of community.crypto's private key objects."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.path = params['path']
        self.onnx = params['onnx']
        self.fingerprint_path = params['fingerprint_path'] or self.path + '.fingerprint.json'
        self.force = params['force']
        self.backup = params['backup']
        self.timing_cache = params['timing_cache']
        self.options = _tensorrt.build_options(params)
        self.fingerprint = None
        self.reasons = []
        self.backup_file = None
        self.built = None

    def _read_sidecar(self):
        try:
            with open(self.fingerprint_path, 'r') as handle:
                return json.load(handle)
        except (IOError, OSError, ValueError):
            return None

    def compute_fingerprint(self):
        if not os.path.isfile(self.onnx):
            self.module.fail_json(msg='ONNX model %s does not exist' % self.onnx)
        capability = _tensorrt.compute_capability(self.module.params['device'])
        self.fingerprint = _tensorrt.fingerprint(_tensorrt.sha256_file(self.onnx), self.options,
                                                 _tensorrt.tensorrt_version(), capability)

    def needs_regeneration(self):
        """Decide, without acting, whether the engine must be (re)built; record why in self.reasons."""
        self.reasons = []
        if self.force:
            self.reasons.append('force')
        if not os.path.exists(self.path):
            self.reasons.append('engine missing')
        sidecar = self._read_sidecar()
        if sidecar is None:
            self.reasons.append('fingerprint missing')
        else:
            self.reasons.extend(_tensorrt.fingerprint_differences(sidecar, self.fingerprint))
        return bool(self.reasons)

    def _atomic_write(self, dest, data):
        folder = os.path.dirname(os.path.abspath(dest))
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(dest), dir=folder)
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
            self.module.atomic_move(tmp, os.path.abspath(dest))
        except Exception:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def generate(self):
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            self.module.fail_json(msg='the folder of %s does not exist' % self.path)
        started = time.time()
        engine, cache = _tensorrt.build_engine(self.onnx, self.options, self.timing_cache)
        self.built = {'engine_bytes': len(engine), 'build_seconds': round(time.time() - started, 3)}
        if self.backup and os.path.exists(self.path):
            self.backup_file = self.module.backup_local(self.path)
        self._atomic_write(self.path, engine)
        sidecar = json.dumps(self.fingerprint, sort_keys=True, indent=2).encode('utf-8') + b'\n'
        self._atomic_write(self.fingerprint_path, sidecar)
        if cache is not None:
            self._atomic_write(self.timing_cache, cache)

    def set_attributes(self, changed):
        args = self.module.load_file_common_arguments(self.module.params)
        changed = self.module.set_fs_attributes_if_different(args, changed)
        args['path'] = self.fingerprint_path
        return self.module.set_fs_attributes_if_different(args, changed)

    def dump(self, changed):
        result = {
            'changed': changed,
            'path': self.path,
            'fingerprint_path': self.fingerprint_path,
            'fingerprint': self.fingerprint,
            'reasons': self.reasons,
        }
        if self.backup_file:
            result['backup_file'] = self.backup_file
        if self.built:
            result.update(self.built)
        return result


def main():
    shape = dict(
        name=dict(type='str', required=True),
        min=dict(type='list', elements='int', required=True),
        opt=dict(type='list', elements='int', required=True),
        max=dict(type='list', elements='int', required=True),
    )
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            onnx=dict(type='path', required=True),
            precision=dict(type='str', default='fp16', choices=['fp32', 'fp16', 'bf16', 'int8', 'fp8']),
            workspace_mib=dict(type='int', default=4096),
            profiles=dict(type='list', elements='dict', default=[], options=dict(
                shapes=dict(type='list', elements='dict', required=True, options=shape),
            )),
            builder_optimization_level=dict(type='int'),
            timing_cache=dict(type='path'),
            device=dict(type='int', default=0),
            fingerprint_path=dict(type='path'),
            force=dict(type='bool', default=False),
            backup=dict(type='bool', default=False),
        ),
        add_file_common_args=True,
        supports_check_mode=True,
    )
    params = module.params
    if not _tensorrt.HAS_TENSORRT:
        module.fail_json(msg=missing_required_lib('tensorrt', url='https://docs.nvidia.com/deeplearning/tensorrt/'),
                         exception=_tensorrt.TENSORRT_IMPORT_ERROR)
    if not _tensorrt.HAS_PYNVML:
        module.fail_json(msg=missing_required_lib('nvidia-ml-py (pynvml)') + ' It reads the GPU compute capability.',
                         exception=_tensorrt.PYNVML_IMPORT_ERROR)
    if params['workspace_mib'] <= 0:
        module.fail_json(msg='workspace_mib must be positive, got %d' % params['workspace_mib'])
    level = params['builder_optimization_level']
    if level is not None and not 0 <= level <= 5:
        module.fail_json(msg='builder_optimization_level must be between 0 and 5, got %d' % level)

    engine = TensorRTEngine(module)
    try:
        _tensorrt.validate_profiles(params['profiles'])
        engine.compute_fingerprint()
        rebuild = engine.needs_regeneration()
        if module.check_mode:
            # set_fs_attributes_if_different only reports in check mode.
            changed = True if rebuild else engine.set_attributes(False)
            module.exit_json(**engine.dump(changed))
        if rebuild:
            engine.generate()
    except TensorRTError as exc:
        module.fail_json(msg=str(exc), **engine.dump(False))
    changed = engine.set_attributes(rebuild)
    module.exit_json(**engine.dump(changed))


if __name__ == '__main__':
    main()
