"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test runs get-pip.py with pip's install arguments (for example ``pip==24.2``) in a fresh
virtual environment. The real script comes from a host this machine cannot reach; this one
bootstraps pip from the interpreter's bundled wheel (ensurepip) and then lets pip install what
ansible-test asked for from the package index configured on this machine.
"""

import subprocess
import sys


def main():
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    # ensurepip in a child process: in-process it would blank the machine's pip configuration
    # (PIP_CONFIG_FILE=/dev/null) for the install below too.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    if args:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args)


if __name__ == "__main__":
    main()
