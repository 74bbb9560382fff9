# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: rbac_gateway_roles
short_description: Compile the RBAC policy file into the roles that the API gateway enforces
version_added: 0.1.0
description:
  - Compiles the collection's RBAC policy file (C(rbac_policy)) into the gateway's view of each role and the bindings
    of API key identifiers to roles (the key values themselves live in Vault, never in the policy file).
  - A role may run inference (C(infer=true)) only when it holds V(execute) or V(admin) on the whole model tree
    (C(models/*) or C(*)). C(models) lists every glob on which the role may execute.
  - A role may carry C(limits), the caps of the gateway on its API requests (C(max_tokens), C(n), C(logprobs),
    C(top_logprobs), C(body_bytes), C(structured_outputs), C(chat_template), C(chat_template_kwargs)); each role's
    C(limits) in the result are its own over O(default_limits), key by key.
  - An unknown action, a malformed glob, an unknown limit or one of the wrong type, or an API key bound to an unknown
    role fails with a message naming the entry.
  - See P(onprem.deepseek.rbac_vault_policies#filter) for the policy file format.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
options:
  _input:
    description: The RBAC policy, a mapping with C(roles) and optional C(api_keys) (key id -> role).
    type: dict
    required: true
  models_prefix:
    description: The resource prefix of the model tree.
    type: str
    default: models/
  default_limits:
    description:
      - The caps of a role that sets no C(limits) of its own (or not all of them); the same keys as a role's C(limits).
      - C(max_tokens), C(n), C(top_logprobs) (integers), C(body_bytes) (integer, bytes), C(logprobs), C(structured_outputs),
        C(chat_template) (booleans), C(chat_template_kwargs) (list of key names).
    type: dict
"""

EXAMPLES = r"""
- name: Render the gateway's role table
  ansible.builtin.copy:
    dest: /etc/gateway/roles.json
    content: "{{ rbac_policy | onprem.deepseek.rbac_gateway_roles | to_nice_json }}"
    mode: "0640"

- name: Compile the roles with the gateway's default caps
  ansible.builtin.set_fact:
    gateway_roles: "{{ rbac_policy | onprem.deepseek.rbac_gateway_roles(default_limits={'max_tokens': 8192, 'n': 4}) }}"
"""

RETURN = r"""
_value:
  description:
    - C(roles) (role -> C(infer), C(models), C(resources), C(limits)), C(api_keys) (list of C(key_id), C(role), C(infer))
      and C(default_limits) (the checked O(default_limits)).
  type: dict
  sample:
    roles:
      data_scientist:
        infer: true
        models: ["models/*"]
        resources: {"models/*": [read, execute], "datasets/private/*": [read]}
        limits: {max_tokens: 4096, n: 4}
    api_keys:
      - {key_id: ds-notebook, role: data_scientist, infer: true}
    default_limits: {max_tokens: 8192, n: 4}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.module_utils._rbac import RbacError, gateway_roles


def rbac_gateway_roles(policy, models_prefix="models/", default_limits=None):
    """Compile the RBAC policy into the gateway roles."""
    try:
        return gateway_roles(policy, models_prefix=models_prefix, default_limits=default_limits)
    except RbacError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule(object):
    """Compile the RBAC policy into the gateway roles."""

    def filters(self):
        return {"rbac_gateway_roles": rbac_gateway_roles}
