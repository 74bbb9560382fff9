# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: report_series
short_description: A Prometheus range query's answer as a chart series of the site report
version_added: 0.2.0
description:
  - Takes one result of an ansible.builtin.uri task looped over the report's series (its C(item) has C(key),
    C(title), C(unit) and C(query)) and returns the series the report draws - the points of the first series of the
    answer, or the reason there are none.
author:
  - onprem.deepseek maintainers (!UNKNOWN)
options:
  _input:
    description: One element of the registered loop's C(results).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Keep the series for the report
  ansible.builtin.set_fact:
    series: "{{ ranges.results | map('onprem.deepseek.report_series') | list }}"
"""

RETURN = r"""
_value:
  description: C(title), C(unit), C(query), C(points) (pairs of Unix time and value) and C(error).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.onprem.deepseek.plugins.module_utils._site_report import series_from_result


def report_series(result):
    if not isinstance(result, dict):
        raise AnsibleFilterError('report_series: expected a registered uri result (a mapping), got %r' % (result,))
    return series_from_result(result)


class FilterModule(object):
    def filters(self):
        return {'report_series': report_series}
