# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Compile the collection's RBAC policy file into Vault policies, gateway roles and POSIX ACLs.

The policy format (one inventory file, ``rbac_policy``)::

    roles:
      data_scientist:
        description: Reads and runs the models, reads the private datasets
        resources:
          models/*: [read, execute]
          datasets/private/*: [read]
        limits:          # optional: caps of the gateway on this role's API requests
          max_tokens: 4096
          n: 2
    api_keys:            # API key id -> role; the key values live in Vault, never here
      ds-notebook: data_scientist

Resources are slash-separated paths. A segment is made of letters, digits, ``_``, ``-`` and ``.``
(``.`` and ``..`` alone are refused). ``*`` may end the last segment (``models/*``, ``models/llama*``:
everything below / with that prefix) and ``+`` may stand for one whole segment (``hosts/+/luks``),
the two wildcards of Vault policy paths. Anything else is a malformed glob.

This file is pure Python (no Ansible import) so that it can be unit-tested and reused by modules.
"""

from __future__ import annotations

import re

ACTIONS = ("read", "list", "write", "delete", "execute", "admin")

# Vault KV v2 capabilities per action: (on <mount>/data/<path>, on <mount>/metadata/<path>).
_VAULT_CAPS = {
    "read": (("read",), ("read", "list")),
    "list": ((), ("list",)),
    "write": (("create", "update", "patch"), ()),
    "delete": (("delete",), ("delete",)),
    "execute": ((), ()),
    "admin": (("create", "read", "update", "patch", "delete", "list"), ("read", "list", "delete")),
}
_CAP_ORDER = ("create", "read", "update", "patch", "delete", "list")

# POSIX permission letters per action (directories get X through setfacl's capital X).
_POSIX = {
    "read": "rX",
    "list": "X",
    "write": "w",
    "delete": "w",
    "execute": "x",
    "admin": "rwx",
}

# Caps of the API gateway on a role's requests (``limits`` of a role), with their types: the largest
# max_tokens (and max_completion_tokens, min_tokens), n (and best_of), whether logprobs may be asked for and
# the largest top_logprobs (logprobs of /v1/completions, prompt_logprobs), the largest request body in bytes,
# whether structured outputs (guided_*, JSON schemas, forced tool calls) and request chat templates may be
# used, and which chat_template_kwargs keys may be given.
LIMITS = {
    "max_tokens": "int",
    "n": "int",
    "logprobs": "bool",
    "top_logprobs": "int",
    "body_bytes": "int",
    "structured_outputs": "bool",
    "chat_template": "bool",
    "chat_template_kwargs": "list",
}
# Lowest value of each integer cap (a cap of 0 top_logprobs allows logprobs=true without alternatives).
_LIMIT_MIN = {"max_tokens": 1, "n": 1, "top_logprobs": 0, "body_bytes": 1}
_KWARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class RbacError(ValueError):
    """A policy entry that cannot be compiled; the message names the entry."""


def _where(role, resource=None):
    if resource is None:
        return "rbac role '%s'" % role
    return "rbac role '%s', resource '%s'" % (role, resource)


def check_glob(role, glob):
    """Raise RbacError unless ``glob`` is a well-formed resource glob; return it."""
    if not isinstance(glob, str) or not glob:
        raise RbacError("%s: malformed glob %r: expected a non-empty string" % (_where(role, glob), glob))
    if glob == "*":
        return glob
    if glob.startswith("/") or glob.endswith("/"):
        raise RbacError("%s: malformed glob: no leading or trailing '/'" % _where(role, glob))
    segments = glob.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "+":
            continue
        body = segment[:-1] if (last and segment.endswith("*")) else segment
        if last and segment == "*":
            continue
        if not body or "*" in body or "+" in body or not _SEGMENT.match(body) or body in (".", ".."):
            raise RbacError(
                "%s: malformed glob: segment %r (allowed: [A-Za-z0-9_.-], '+' for one whole segment, "
                "'*' only at the end)" % (_where(role, glob), segment)
            )
    return glob


def check_limits(where, limits):
    """Raise RbacError unless ``limits`` is a mapping of known caps with values of their type; return a copy."""
    if not isinstance(limits, dict):
        raise RbacError("%s: 'limits' must be a mapping (allowed keys: %s)" % (where, ", ".join(sorted(LIMITS))))
    unknown = sorted(str(k) for k in set(limits) - set(LIMITS))
    if unknown:
        raise RbacError("%s: unknown limits %s (allowed: %s)" % (where, ", ".join(unknown), ", ".join(sorted(LIMITS))))
    checked = {}
    for name, value in limits.items():
        kind = LIMITS[name]
        if kind == "bool":
            if not isinstance(value, bool):
                raise RbacError("%s: limit %s must be true or false, got %r" % (where, name, value))
        elif kind == "int":
            if isinstance(value, bool) or not isinstance(value, int) or value < _LIMIT_MIN[name]:
                raise RbacError("%s: limit %s must be an integer >= %d, got %r" % (where, name, _LIMIT_MIN[name], value))
        else:
            if not isinstance(value, list) or not all(isinstance(v, str) and _KWARG_NAME.match(v) for v in value):
                raise RbacError("%s: limit %s must be a list of key names, got %r" % (where, name, value))
            value = sorted(set(value))
        checked[name] = value
    return checked


def normalize(policy):
    """Validate the policy; return {role: {glob: sorted actions}} and {api key id: role}."""
    if not isinstance(policy, dict):
        raise RbacError("rbac policy: expected a mapping with 'roles', got %s" % type(policy).__name__)
    unknown_keys = sorted(set(policy) - {"roles", "api_keys"})
    if unknown_keys:
        raise RbacError("rbac policy: unknown top-level keys %s (allowed: roles, api_keys)" % ", ".join(unknown_keys))
    roles = policy.get("roles")
    if not isinstance(roles, dict) or not roles:
        raise RbacError("rbac policy: 'roles' must be a non-empty mapping")
    compiled = {}
    for role in sorted(roles):
        spec = roles[role]
        if not isinstance(role, str) or not _ROLE_NAME.match(role):
            raise RbacError("%s: malformed role name (expected [a-z][a-z0-9_-]*)" % _where(role))
        if not isinstance(spec, dict) or not isinstance(spec.get("resources"), dict) or not spec["resources"]:
            raise RbacError("%s: expected a mapping with a non-empty 'resources' mapping" % _where(role))
        extra = sorted(set(spec) - {"resources", "description", "posix_group", "limits"})
        if extra:
            raise RbacError("%s: unknown keys %s" % (_where(role), ", ".join(extra)))
        resources = {}
        for glob, actions in spec["resources"].items():
            check_glob(role, glob)
            if isinstance(actions, str):
                actions = [actions]
            if not isinstance(actions, list) or not actions:
                raise RbacError("%s: expected a non-empty list of actions" % _where(role, glob))
            for action in actions:
                if action not in ACTIONS:
                    raise RbacError(
                        "%s: unknown action %r (allowed: %s)" % (_where(role, glob), action, ", ".join(ACTIONS))
                    )
            resources[glob] = sorted(set(actions), key=ACTIONS.index)
        if "limits" in spec:
            check_limits(_where(role), spec["limits"])
        compiled[role] = resources
    api_keys = policy.get("api_keys") or {}
    if not isinstance(api_keys, dict):
        raise RbacError("rbac policy: 'api_keys' must be a mapping of key id to role")
    for key_id, role in api_keys.items():
        if role not in compiled:
            raise RbacError("rbac api key '%s': unknown role %r" % (key_id, role))
    return compiled, dict(api_keys)


def _merge_caps(target, path, caps):
    if caps:
        target.setdefault(path, set()).update(caps)


def vault_policy(role, resources, kv_mount="secret"):
    """Return the HCL text of the Vault policy for one role (KV v2 paths under ``kv_mount``)."""
    paths = {}
    comments = {}
    for glob, actions in resources.items():
        data_path = "%s/data/%s" % (kv_mount, glob)
        meta_path = "%s/metadata/%s" % (kv_mount, glob)
        for action in actions:
            data_caps, meta_caps = _VAULT_CAPS[action]
            _merge_caps(paths, data_path, data_caps)
            _merge_caps(paths, meta_path, meta_caps)
        comments.setdefault(data_path, []).append("%s: %s" % (glob, ", ".join(actions)))
    lines = ["# Compiled by onprem.deepseek.rbac_vault_policies from the RBAC policy file: role %s" % role]
    for glob, actions in resources.items():
        lines.append("#   %s: %s" % (glob, ", ".join(actions)))
    for path in sorted(paths):
        caps = sorted(paths[path], key=_CAP_ORDER.index)
        lines.append('path "%s" {' % path)
        lines.append("  capabilities = [%s]" % ", ".join('"%s"' % c for c in caps))
        lines.append("}")
    return "\n".join(lines) + "\n"


def vault_policies(policy, kv_mount="secret", prefix="rbac-"):
    """Return {policy name: HCL} for every role of the policy file."""
    compiled, _keys = normalize(policy)
    return dict((prefix + role, vault_policy(role, resources, kv_mount)) for role, resources in compiled.items())


def _covers(glob, target):
    """True when ``glob`` matches every path that ``target`` (a glob ending in '*') matches."""
    if glob == "*":
        return True
    if glob.endswith("*") and target.startswith(glob[:-1]):
        return True
    return False


def gateway_roles(policy, models_prefix="models/", default_limits=None):
    """Return the roles the gateway enforces, the API key bindings and the default request caps.

    A role may run inference (``infer``) only when it holds ``execute`` (or ``admin``) on the whole
    model tree (``models/*`` or ``*``). ``models`` lists the globs on which it may execute. ``limits`` are
    the role's own caps (its ``limits`` in the policy) over ``default_limits``, key by key.
    """
    compiled, api_keys = normalize(policy)
    defaults = check_limits("gateway default limits", default_limits if default_limits is not None else {})
    tree = models_prefix + "*"
    roles = {}
    for role, resources in compiled.items():
        execute = [g for g, a in resources.items() if ("execute" in a or "admin" in a)]
        limits = dict(defaults)
        limits.update(check_limits(_where(role), policy["roles"][role].get("limits", {})))
        roles[role] = {
            "infer": any(_covers(g, tree) for g in execute),
            "models": sorted(g for g in execute if g == "*" or g.startswith(models_prefix)),
            "resources": dict(resources),
            "limits": limits,
        }
    bindings = [{"key_id": k, "role": r, "infer": roles[r]["infer"]} for k, r in sorted(api_keys.items())]
    return {"roles": roles, "api_keys": bindings, "default_limits": defaults}


def _posix_perms(actions):
    letters = set()
    for action in actions:
        letters.update(_POSIX[action])
    if "x" in letters:
        letters.discard("X")
    return "".join(c for c in "rwxX" if c in letters)


def posix_acls(policy, directories):
    """Return ACL entries (ansible.posix.acl arguments) for the resources under ``directories``.

    ``directories`` maps a resource's first segment to a directory, e.g. ``{models: /srv/models}``.
    Each role's entity is its ``posix_group`` (default: the role name). A glob ending in ``*`` gives a
    recursive entry plus a default entry on its directory; ``+`` segments cannot be mapped and are skipped.
    """
    compiled, _keys = normalize(policy)
    groups = dict((r, (s.get("posix_group") or r)) for r, s in policy["roles"].items())
    entries = []
    for role, resources in compiled.items():
        for glob, actions in resources.items():
            segments = glob.split("/")
            if segments[0] not in directories or "+" in segments:
                continue
            rest = segments[1:]
            recursive = False
            if rest and rest[-1] == "*":
                rest = rest[:-1]
                recursive = True
            elif rest and rest[-1].endswith("*"):
                # a prefix glob (models/llama*) cannot be one ACL path: skip it
                continue
            path = "/".join([directories[segments[0]].rstrip("/")] + rest)
            perms = _posix_perms(actions)
            for default in ([False, True] if recursive else [False]):
                entries.append({
                    "path": path,
                    "etype": "group",
                    "entity": groups[role],
                    "permissions": perms,
                    "recursive": recursive,
                    "default": default,
                    "role": role,
                    "resource": glob,
                })
    return sorted(entries, key=lambda e: (e["path"], e["entity"], e["default"]))
