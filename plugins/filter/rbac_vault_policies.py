# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: rbac_vault_policies
short_description: Compile the RBAC policy file into Vault policies
version_added: 0.1.0
description:
  - Compiles the collection's RBAC policy file (C(rbac_policy)) into one Vault (or OpenBao) ACL policy per role,
    named O(prefix) + role name, in HCL, on the KV version 2 paths under O(kv_mount).
  - The policy file maps roles to resources (slash-separated paths; C(*) may end the last segment, C(+) may stand for
    one whole segment) and resources to actions (V(read), V(list), V(write), V(delete), V(execute), V(admin)).
  - V(read) gives C(read) on C(<mount>/data/<resource>) and C(read), C(list) on C(<mount>/metadata/<resource>);
    V(list) gives C(list) on the metadata path; V(write) gives C(create), C(update), C(patch) on the data path;
    V(delete) gives C(delete) on both; V(admin) gives all of them; V(execute) adds nothing in Vault (the gateway
    enforces it, see P(onprem.deepseek.rbac_gateway_roles#filter)).
  - An unknown action, a malformed glob, an unknown key or an API key bound to an unknown role fails with a message
    naming the role and the resource.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
options:
  _input:
    description: The RBAC policy, a mapping with C(roles) (role -> C(resources) -> actions) and optional C(api_keys).
    type: dict
    required: true
  kv_mount:
    description: The mount path of the KV version 2 secrets engine.
    type: str
    default: secret
  prefix:
    description: Prefix of the policy names.
    type: str
    default: rbac-
"""

EXAMPLES = r"""
- name: Write one Vault policy per RBAC role
  ansible.builtin.uri:
    url: "https://vault.example.org:8200/v1/sys/policies/acl/{{ item.key }}"
    method: PUT
    headers:
      X-Vault-Token: "{{ vault_token }}"
    body_format: json
    body:
      policy: "{{ item.value }}"
    status_code: [204]
  loop: "{{ rbac_policy | onprem.deepseek.rbac_vault_policies | dict2items }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: Policy name -> HCL text.
  type: dict
  sample:
    rbac-data_scientist: |
      path "secret/data/datasets/private/*" {
        capabilities = ["read"]
      }
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.module_utils._rbac import RbacError, vault_policies


def rbac_vault_policies(policy, kv_mount="secret", prefix="rbac-"):
    """Compile the RBAC policy into Vault policies."""
    try:
        return vault_policies(policy, kv_mount=kv_mount, prefix=prefix)
    except RbacError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule(object):
    """Compile the RBAC policy into Vault policies."""

    def filters(self):
        return {"rbac_vault_policies": rbac_vault_policies}
