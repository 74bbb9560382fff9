# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: rbac_posix_acls
short_description: Compile the RBAC policy file into POSIX ACL entries on the model and dataset directories
version_added: 0.1.0
description:
  - Compiles the collection's RBAC policy file (C(rbac_policy)) into a list of entries for M(ansible.posix.acl), one per
    role and resource whose first segment is a key of O(directories).
  - The entity is the role's C(posix_group) (default the role name), of type C(group). V(read) gives C(rX), V(list)
    gives C(X), V(write) and V(delete) give C(w), V(execute) gives C(x), V(admin) gives C(rwx).
  - A glob ending in C(/*) gives a recursive entry and a recursive default entry on its directory; prefix globs
    (C(models/llama*)) and C(+) segments cannot be expressed as one path and are skipped.
  - See P(onprem.deepseek.rbac_vault_policies#filter) for the policy file format.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
options:
  _input:
    description: The RBAC policy.
    type: dict
    required: true
  directories:
    description: "Resource first segment -> directory, for example C({models: /srv/models, datasets: /srv/datasets})."
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Apply the RBAC ACLs to the model and dataset directories
  ansible.posix.acl:
    path: "{{ item.path }}"
    etype: "{{ item.etype }}"
    entity: "{{ item.entity }}"
    permissions: "{{ item.permissions }}"
    recursive: "{{ item.recursive }}"
    default: "{{ item.default }}"
    state: present
  loop: "{{ rbac_policy | onprem.deepseek.rbac_posix_acls({'models': '/srv/models', 'datasets': '/srv/datasets'}) }}"
"""

RETURN = r"""
_value:
  description: ACL entries with C(path), C(etype), C(entity), C(permissions), C(recursive), C(default), C(role), C(resource).
  type: list
  elements: dict
  sample:
    - {path: /srv/datasets/private, etype: group, entity: data_scientist, permissions: rX, recursive: true,
       default: false, role: data_scientist, resource: "datasets/private/*"}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.module_utils._rbac import RbacError, posix_acls


def rbac_posix_acls(policy, directories):
    """Compile the RBAC policy into POSIX ACL entries."""
    try:
        return posix_acls(policy, directories)
    except RbacError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule(object):
    """Compile the RBAC policy into POSIX ACL entries."""

    def filters(self):
        return {"rbac_posix_acls": rbac_posix_acls}
