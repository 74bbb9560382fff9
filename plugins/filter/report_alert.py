# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: report_alert
short_description: One alert of Alertmanager's API v2 as an alert of the site report
version_added: 0.2.0
description:
  - Takes one element of the list C(/api/v2/alerts) returns and keeps what the site report shows - the alert's name,
    its C(instance) and C(severity) labels, when it started and its C(summary) annotation.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
options:
  _input:
    description: One alert as Alertmanager returns it.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Keep the alerts for the report
  ansible.builtin.set_fact:
    alerts: "{{ alertmanager.json | map('onprem.deepseek.report_alert') | list }}"
"""

RETURN = r"""
_value:
  description: C(name), C(instance), C(severity), C(since) and C(summary).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.module_utils._site_report import alert_from_alertmanager


def report_alert(alert):
    if not isinstance(alert, dict):
        raise AnsibleFilterError('report_alert: expected an alert (a mapping), got %r' % (alert,))
    return alert_from_alertmanager(alert)


class FilterModule(object):
    def filters(self):
        return {'report_alert': report_alert}
