# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Table tests of the RBAC compiler (module_utils/_rbac.py) and its three filters."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.filter.rbac_gateway_roles import FilterModule as GatewayFilters
from ansible_collections.onprem.deepseek.plugins.filter.rbac_posix_acls import FilterModule as AclFilters
from ansible_collections.onprem.deepseek.plugins.filter.rbac_vault_policies import FilterModule as VaultFilters
from ansible_collections.onprem.deepseek.plugins.module_utils import _rbac

SEED = {
    "roles": {
        "data_scientist": {
            "resources": {
                "models/*": ["read", "execute"],
                "datasets/private/*": ["read"],
            },
        },
    },
}

SEED_POLICY = """\
# Compiled by onprem.deepseek.rbac_vault_policies from the RBAC policy file: role data_scientist
#   models/*: read, execute
#   datasets/private/*: read
path "secret/data/datasets/private/*" {
  capabilities = ["read"]
}
path "secret/data/models/*" {
  capabilities = ["read"]
}
path "secret/metadata/datasets/private/*" {
  capabilities = ["read", "list"]
}
path "secret/metadata/models/*" {
  capabilities = ["read", "list"]
}
"""

vault_policies = VaultFilters().filters()["rbac_vault_policies"]
gateway_roles = GatewayFilters().filters()["rbac_gateway_roles"]
posix_acls = AclFilters().filters()["rbac_posix_acls"]


def _one(role, resources, **extra):
    spec = {"resources": resources}
    spec.update(extra)
    return {"roles": {role: spec}}


def test_seed_data_scientist_vault_policy():
    assert vault_policies(SEED) == {"rbac-data_scientist": SEED_POLICY}


@pytest.mark.parametrize(
    "resources, expected_paths",
    [
        ({"models/*": ["write"]}, {'path "secret/data/models/*"': '["create", "update", "patch"]'}),
        ({"models/*": ["list"]}, {'path "secret/metadata/models/*"': '["list"]'}),
        ({"a/b": ["delete"]}, {'path "secret/data/a/b"': '["delete"]', 'path "secret/metadata/a/b"': '["delete"]'}),
        ({"hosts/+/luks": ["read"]}, {'path "secret/data/hosts/+/luks"': '["read"]'}),
        ({"models/llama*": ["read", "write"]},
         {'path "secret/data/models/llama*"': '["create", "read", "update", "patch"]'}),
        ({"*": ["admin"]},
         {'path "secret/data/*"': '["create", "read", "update", "patch", "delete", "list"]',
          'path "secret/metadata/*"': '["read", "delete", "list"]'}),
    ],
)
def test_vault_capabilities(resources, expected_paths):
    hcl = vault_policies(_one("r", resources))["rbac-r"]
    for path, caps in expected_paths.items():
        block = hcl.split(path + " {\n", 1)
        assert len(block) == 2, hcl
        assert block[1].startswith("  capabilities = %s\n}" % caps), hcl


def test_execute_only_adds_no_vault_path():
    hcl = vault_policies(_one("runner", {"models/*": ["execute"]}))["rbac-runner"]
    assert "path " not in hcl


def test_mount_and_prefix():
    assert list(vault_policies(SEED, kv_mount="kv", prefix="p-")) == ["p-data_scientist"]
    assert 'path "kv/data/models/*"' in vault_policies(SEED, kv_mount="kv")["rbac-data_scientist"]


@pytest.mark.parametrize(
    "policy, message",
    [
        (_one("data_scientist", {"models/*": ["read", "exec"]}),
         "rbac role 'data_scientist', resource 'models/*': unknown action 'exec'"),
        (_one("ds", {"models/**": ["read"]}), "rbac role 'ds', resource 'models/**': malformed glob"),
        (_one("ds", {"mod*els/x": ["read"]}), "rbac role 'ds', resource 'mod*els/x': malformed glob"),
        (_one("ds", {"/models/*": ["read"]}), "rbac role 'ds', resource '/models/*': malformed glob"),
        (_one("ds", {"models//x": ["read"]}), "rbac role 'ds', resource 'models//x': malformed glob"),
        (_one("ds", {"models/../etc": ["read"]}), "rbac role 'ds', resource 'models/../etc': malformed glob"),
        (_one("ds", {"models/a b": ["read"]}), "rbac role 'ds', resource 'models/a b': malformed glob"),
        (_one("ds", {"": ["read"]}), "rbac role 'ds', resource '': malformed glob"),
        (_one("ds", {"models/*": []}), "rbac role 'ds', resource 'models/*': expected a non-empty list"),
        (_one("Bad Role", {"models/*": ["read"]}), "rbac role 'Bad Role': malformed role name"),
        (_one("ds", {"models/*": ["read"]}, owner="x"), "rbac role 'ds': unknown keys owner"),
        ({"roles": {"ds": {"resources": {}}}}, "rbac role 'ds': expected a mapping with a non-empty 'resources'"),
        ({"roles": {}}, "'roles' must be a non-empty mapping"),
        ({"roles": SEED["roles"], "api_keys": {"k1": "ghost"}}, "rbac api key 'k1': unknown role 'ghost'"),
        ({"roles": SEED["roles"], "groups": {}}, "unknown top-level keys groups"),
        ([], "expected a mapping"),
    ],
)
@pytest.mark.parametrize("compiler", ["vault", "gateway", "acl"])
def test_errors_name_the_entry(policy, message, compiler):
    _assert_refused(policy, message, compiler)


def _assert_refused(policy, message, compiler):
    """The compiler named ``compiler`` refuses ``policy`` with an error containing ``message``."""
    call = {
        "vault": lambda: vault_policies(policy),
        "gateway": lambda: gateway_roles(policy),
        "acl": lambda: posix_acls(policy, {"models": "/srv/models"}),
    }[compiler]
    with pytest.raises(AnsibleFilterError) as exc:
        call()
    assert message in str(exc.value)


@pytest.mark.parametrize(
    "resources, infer, models",
    [
        ({"models/*": ["read", "execute"]}, True, ["models/*"]),
        ({"*": ["admin"]}, True, ["*"]),
        ({"models/*": ["read"]}, False, []),
        ({"models/llama*": ["execute"]}, False, ["models/llama*"]),
        ({"models/deepseek/v3": ["execute"]}, False, ["models/deepseek/v3"]),
        ({"datasets/*": ["execute"]}, False, []),
    ],
)
def test_gateway_infer_only_with_execute_on_all_models(resources, infer, models):
    roles = gateway_roles(_one("r", resources))["roles"]
    assert roles["r"]["infer"] is infer
    assert roles["r"]["models"] == models


def test_gateway_api_keys():
    policy = {
        "roles": dict(SEED["roles"], auditor={"resources": {"audit/*": ["read"]}}),
        "api_keys": {"nb-1": "data_scientist", "audit-1": "auditor"},
    }
    assert gateway_roles(policy)["api_keys"] == [
        {"key_id": "audit-1", "role": "auditor", "infer": False},
        {"key_id": "nb-1", "role": "data_scientist", "infer": True},
    ]


def test_posix_acls_seed():
    dirs = {"models": "/srv/models", "datasets": "/srv/datasets/"}
    got = [(e["path"], e["entity"], e["permissions"], e["recursive"], e["default"]) for e in posix_acls(SEED, dirs)]
    assert got == [
        ("/srv/datasets/private", "data_scientist", "rX", True, False),
        ("/srv/datasets/private", "data_scientist", "rX", True, True),
        ("/srv/models", "data_scientist", "rx", True, False),
        ("/srv/models", "data_scientist", "rx", True, True),
    ]


@pytest.mark.parametrize(
    "resources, expected",
    [
        ({"models/deepseek": ["read"]}, [("/m/deepseek", "rX", False)]),
        ({"models/*": ["write", "read"]}, [("/m", "rwX", True), ("/m", "rwX", True)]),
        ({"models/*": ["admin"]}, [("/m", "rwx", True), ("/m", "rwx", True)]),
        ({"models/llama*": ["read"]}, []),
        ({"models/+/x": ["read"]}, []),
        ({"secrets/*": ["read"]}, []),
    ],
)
def test_posix_acl_table(resources, expected):
    got = [(e["path"], e["permissions"], e["recursive"]) for e in posix_acls(_one("r", resources), {"models": "/m"})]
    assert got == expected


def test_posix_group_override():
    policy = _one("ml_engineer", {"models/*": ["write"]}, posix_group="ml-eng")
    assert {e["entity"] for e in posix_acls(policy, {"models": "/m"})} == {"ml-eng"}


def test_string_action_and_dedup():
    compiled, _keys = _rbac.normalize(_one("r", {"a/*": "read"}))
    assert compiled == {"r": {"a/*": ["read"]}}
    compiled, _keys = _rbac.normalize(_one("r", {"a/*": ["execute", "read", "read"]}))
    assert compiled == {"r": {"a/*": ["read", "execute"]}}


DEFAULTS = {"max_tokens": 8192, "n": 4, "logprobs": True, "top_logprobs": 5, "structured_outputs": False,
            "chat_template": False, "chat_template_kwargs": []}


def test_gateway_limits_role_over_defaults():
    policy = {
        "roles": {
            "data_scientist": {"resources": {"models/*": ["execute"]}},
            "batch": {"resources": {"models/*": ["execute"]},
                      "limits": {"n": 1, "max_tokens": 512, "structured_outputs": True, "body_bytes": 65536,
                                 "chat_template_kwargs": ["thinking", "enable_thinking", "thinking"]}},
        },
    }
    got = gateway_roles(policy, default_limits=DEFAULTS)
    assert got["default_limits"] == DEFAULTS
    assert got["roles"]["data_scientist"]["limits"] == DEFAULTS
    assert got["roles"]["batch"]["limits"] == dict(DEFAULTS, n=1, max_tokens=512, structured_outputs=True,
                                                   body_bytes=65536, chat_template_kwargs=["enable_thinking", "thinking"])
    # The defaults are not changed by a role's own limits.
    assert DEFAULTS["n"] == 4


def test_gateway_limits_without_defaults():
    got = gateway_roles(_one("r", {"models/*": ["execute"]}, limits={"n": 2}))
    assert got["roles"]["r"]["limits"] == {"n": 2}
    assert got["default_limits"] == {}


@pytest.mark.parametrize(
    "limits, message",
    [
        ({"n": 0}, "rbac role 'r': limit n must be an integer >= 1, got 0"),
        ({"n": "4"}, "rbac role 'r': limit n must be an integer >= 1, got '4'"),
        ({"max_tokens": True}, "rbac role 'r': limit max_tokens must be an integer >= 1, got True"),
        ({"top_logprobs": -1}, "rbac role 'r': limit top_logprobs must be an integer >= 0, got -1"),
        ({"body_bytes": 1.5}, "rbac role 'r': limit body_bytes must be an integer >= 1, got 1.5"),
        ({"logprobs": "yes"}, "rbac role 'r': limit logprobs must be true or false, got 'yes'"),
        ({"structured_outputs": 1}, "rbac role 'r': limit structured_outputs must be true or false, got 1"),
        ({"chat_template_kwargs": "thinking"}, "rbac role 'r': limit chat_template_kwargs must be a list of key names"),
        ({"chat_template_kwargs": ["a b"]}, "rbac role 'r': limit chat_template_kwargs must be a list of key names"),
        ({"max_token": 5}, "rbac role 'r': unknown limits max_token (allowed: body_bytes, chat_template,"),
        ([1], "rbac role 'r': 'limits' must be a mapping"),
    ],
)
@pytest.mark.parametrize("compiler", ["vault", "gateway", "acl"])
def test_gateway_limits_errors_name_the_role(limits, message, compiler):
    _assert_refused(_one("r", {"models/*": ["execute"]}, limits=limits), message, compiler)


@pytest.mark.parametrize(
    "defaults, message",
    [
        ({"n": -2}, "gateway default limits: limit n must be an integer >= 1, got -2"),
        ({"nn": 1}, "gateway default limits: unknown limits nn"),
        ("n=1", "gateway default limits: 'limits' must be a mapping"),
    ],
)
def test_gateway_default_limits_errors(defaults, message):
    with pytest.raises(AnsibleFilterError) as exc:
        gateway_roles(SEED, default_limits=defaults)
    assert message in str(exc.value)


def test_limits_do_not_change_vault_policies_or_acls():
    with_limits = {"roles": {"data_scientist": dict(SEED["roles"]["data_scientist"], limits={"n": 1})}}
    assert vault_policies(with_limits) == vault_policies(SEED)
    assert posix_acls(with_limits, {"models": "/m"}) == posix_acls(SEED, {"models": "/m"})
