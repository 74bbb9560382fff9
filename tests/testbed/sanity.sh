#!/usr/bin/env bash
# Run `ansible-test sanity` (no ignore file) on a copy of the collection laid out as
# ansible_collections/onprem/deepseek, as ansible-test requires. Extra arguments go to ansible-test.
source "$(dirname "$0")/lib.sh"
cd "$TESTBED_ROOT"

# ansible-test fetches a pip bootstrap script from a host that may be unreachable: put the offline
# stand-in where it looks first, for the pip version this ansible-test pins.
pip_version=$("${TESTBED_VENV}/bin/python" - <<'PY'
from ansible_test._internal.python_requirements import get_venv_packages
class P:  # the pinned version does not depend on the interpreter
    version = "3.11"
print(get_venv_packages(P)["pip"])
PY
)
cache="${HOME}/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$cache")"
cp tests/testbed/get_pip_standin.py "$cache"

# Outside the checkout (inside it, ansible-test would see the copy as ignored files of this git
# repository), in a folder of this run's own.
work=$(mktemp -d "${TMPDIR:-/tmp}/onprem-deepseek-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
dest="${work}/ansible_collections/onprem/deepseek"
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -c 2>/dev/null | tar -x -C "$dest"
cd "$dest"
python_version=$("${TESTBED_VENV}/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"${TESTBED_VENV}/bin/ansible-test" sanity --venv --python "$python_version" --color no "$@"
