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
  - An unknown action, a malformed glob or an API key bound to an unknown role fails with a message naming the entry.
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
"""

EXAMPLES = r"""
- name: Render the gateway's role table
  ansible.builtin.copy:
    dest: /etc/gateway/roles.json
    content: "{{ rbac_policy | onprem.deepseek.rbac_gateway_roles | to_nice_json }}"
    mode: "0640"
"""

RETURN = r"""
_value:
  description: C(roles) (role -> C(infer), C(models), C(resources)) and C(api_keys) (list of C(key_id), C(role), C(infer)).
  type: dict
  sample:
    roles:
      data_scientist:
        infer: true
        models: ["models/*"]
        resources: {"models/*": [read, execute], "datasets/private/*": [read]}
    api_keys:
      - {key_id: ds-notebook, role: data_scientist, infer: true}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.module_utils._rbac import RbacError, gateway_roles


def rbac_gateway_roles(policy, models_prefix="models/"):
    """Compile the RBAC policy into the gateway roles."""
    try:
        return gateway_roles(policy, models_prefix=models_prefix)
    except RbacError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule(object):
    """Compile the RBAC policy into the gateway roles."""

    def filters(self):
        return {"rbac_gateway_roles": rbac_gateway_roles}
