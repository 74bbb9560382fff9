#!/usr/bin/env bash
# One command on a GPU host (root, driver present, no network needed): the site's GPU code paths, results saved.
#   tests/gpu/site_layers_check.sh [RESULTS_DIR]      (default $OUT, else /tmp/site-layers-check)
# Needs ansible-core and nvidia-ml-py importable by python3 (or a venv at $ONPREM_GPU_VENV); from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${OUT:-/tmp/site-layers-check}}
mkdir -p "$out" .ansible/collections/ansible_collections/onprem
ln -sfn ../../../.. .ansible/collections/ansible_collections/onprem/deepseek
py=${ONPREM_GPU_VENV:+$ONPREM_GPU_VENV/bin/}python3
playbook=${ONPREM_GPU_VENV:+$ONPREM_GPU_VENV/bin/}ansible-playbook
export ANSIBLE_COLLECTIONS_PATH="$PWD/.ansible/collections" ANSIBLE_CONFIG="$PWD/ansible.cfg" OUT="$out"
"$py" -c 'import pynvml' 2>/dev/null || { echo "nvidia-ml-py is not importable by $py" >&2; exit 2; }
nvidia-smi -L >"$out/nvidia-smi-L.txt" 2>&1 || true
"$playbook" -i localhost, -e "ansible_python_interpreter=$(command -v "$py")" tests/gpu/site_layers_check.yml \
  2>&1 | tee "$out/site_layers_check.log"
exit "${PIPESTATUS[0]}"
