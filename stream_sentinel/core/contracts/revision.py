"""The catalog revision: a content hash of a spec dir, named by drift events and ``/drift``.

A reloading worker (worker/reload.py) judges messages by one spec and then another; the
revision says which. It is computed from the bytes of every file under the spec dir (path and
content, in path order), so it changes exactly when a file is added, removed, renamed or edited,
and two workers (or a CI job) reading the same files agree on it. Hidden files and directories
(editor swap files, ``.git``) are left out: saving a file in an editor does not change it twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

#: Hex digits of a revision (8 bytes of BLAKE2b: collisions between a catalog's revisions are not a concern).
REVISION_HEX: Final = 16


def catalog_revision(root: str | Path) -> str:
    """The revision of the spec dir at ``root``: 16 hex digits; ``OSError`` if it cannot be read."""
    base = Path(root)
    digest = hashlib.blake2b(digest_size=REVISION_HEX // 2)
    files = sorted(
        p
        for p in base.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(base).parts)
    )
    for path in files:
        relative = path.relative_to(base).as_posix().encode("utf-8", "surrogateescape")
        content = path.read_bytes()
        digest.update(len(relative).to_bytes(8, "big") + relative + len(content).to_bytes(8, "big"))
        digest.update(content)
    return digest.hexdigest()


__all__ = ["REVISION_HEX", "catalog_revision"]
