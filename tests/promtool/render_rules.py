# Copyright: onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render roles/monitoring/templates/deepseek.rules.yml.j2 with the role's default thresholds.

The promtool unit tests in this folder test the rules exactly as the role renders them by default.
Usage: render_rules.py OUTPUT_FILE
"""
import os
import sys

import jinja2
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
ROLE = os.path.join(ROOT, 'roles', 'monitoring')


def render(dest):
    with open(os.path.join(ROLE, 'defaults', 'main.yml')) as f:
        variables = yaml.safe_load(f)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(ROLE, 'templates')),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters['comment'] = lambda text: '\n'.join('# ' + line for line in text.splitlines())
    variables['ansible_managed'] = 'Rendered by tests/promtool/render_rules.py'
    text = env.get_template('deepseek.rules.yml.j2').render(**variables)
    with open(dest, 'w') as f:
        f.write(text)


if __name__ == '__main__':
    render(sys.argv[1])
