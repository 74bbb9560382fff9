# -*- coding: utf-8 -*-
# Copyright (c) onprem.deepseek contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""sha256 manifests of model directories.

Standard library only (no Ansible import), so that tests/tools/make_tiny_model.py can load this file directly.
The manifest is the text format of ``sha256sum`` (``<64 hex>  <relative path>`` per line, sorted by path, paths
relative to the model directory with ``/`` separators), so ``sha256sum -c SHA256SUMS`` verifies it too.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re

DEFAULT_MANIFEST_NAME = 'SHA256SUMS'
CHUNK = 1024 * 1024
_LINE = re.compile(r'^([0-9a-fA-F]{64}) [ *](.+)$')


class ManifestError(ValueError):
    """A manifest that cannot be parsed or a directory that cannot be read as a model directory."""


def _excluded(relpath, exclude):
    name = relpath.rsplit('/', 1)[-1]
    return any(fnmatch.fnmatchcase(relpath, pattern) or fnmatch.fnmatchcase(name, pattern) for pattern in exclude)


def list_files(directory, exclude=()):
    """Relative paths (``/``-separated, sorted) of the regular files under ``directory``.

    Symbolic links to files are followed (their content is hashed); links to directories are not descended.
    Hidden download state (``.cache``, ``.git``, ``.huggingface``) must be excluded by the caller if wanted.
    """
    if not os.path.isdir(directory):
        raise ManifestError('%s is not a directory' % directory)
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        rel_root = os.path.relpath(root, directory)
        for name in files:
            full = os.path.join(root, name)
            rel = name if rel_root == '.' else '%s/%s' % (rel_root.replace(os.sep, '/'), name)
            if _excluded(rel, exclude):
                continue
            if not os.path.isfile(full):
                continue  # a dangling link, a socket, a fifo
            if '\n' in rel or '\\' in rel:
                raise ManifestError('file name %r cannot be written in a manifest' % rel)
            found.append(rel)
    return sorted(found)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def build_manifest(directory, exclude=(), progress=None):
    """Return ``(entries, total_bytes)``: ``entries`` an ordered list of ``(relpath, sha256)``.

    ``progress(done_files, total_files, relpath)`` is called after each file when given.
    """
    files = list_files(directory, exclude)
    entries = []
    total = 0
    for count, rel in enumerate(files, 1):
        full = os.path.join(directory, *rel.split('/'))
        entries.append((rel, sha256_file(full)))
        total += os.path.getsize(full)
        if progress:
            progress(count, len(files), rel)
    return entries, total


def render_manifest(entries):
    return ''.join('%s  %s\n' % (digest, rel) for rel, digest in sorted(entries))


def parse_manifest(text):
    """Parse ``sha256sum`` text into an ordered dict-like list of ``(relpath, sha256)``; reject unsafe paths."""
    entries = []
    seen = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith('#'):
            continue
        match = _LINE.match(line)
        if not match:
            raise ManifestError('line %d is not "<sha256>  <path>": %r' % (number, line[:120]))
        digest, rel = match.group(1).lower(), match.group(2)
        if rel.startswith('./'):
            rel = rel[2:]
        parts = rel.split('/')
        if rel.startswith('/') or '..' in parts or '' in parts:
            raise ManifestError('line %d: path %r is not relative to the model directory' % (number, rel))
        if rel in seen:
            raise ManifestError('line %d: %s is listed twice' % (number, rel))
        seen.add(rel)
        entries.append((rel, digest))
    if not entries:
        raise ManifestError('the manifest lists no file')
    return entries


def verify(directory, entries, exclude=(), allow_extra=False, progress=None):
    """Compare ``directory`` with manifest ``entries``. Returns a dict with ``ok``, ``missing``, ``mismatched``,
    ``extra`` (files not in the manifest; an error unless ``allow_extra``), ``files`` and ``total_bytes``."""
    present = set(list_files(directory, exclude))
    missing, mismatched = [], []
    total = 0
    for count, (rel, digest) in enumerate(entries, 1):
        if rel not in present:
            missing.append(rel)
        else:
            full = os.path.join(directory, *rel.split('/'))
            total += os.path.getsize(full)
            if sha256_file(full) != digest:
                mismatched.append(rel)
        if progress:
            progress(count, len(entries), rel)
    extra = sorted(present - set(rel for rel, dummy in entries))
    ok = not missing and not mismatched and (allow_extra or not extra)
    return {'ok': ok, 'missing': missing, 'mismatched': mismatched, 'extra': extra, 'files': len(entries),
            'total_bytes': total}
