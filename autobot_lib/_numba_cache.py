"""Keep numba's on-disk cache honest across modules.

numba keys a cached function by its own source file only. The backtester's loop inlines the decision
kernel from other files, so after an edit (or a ``git pull``) to those files its cache would still load
the old machine code. :func:`drop_stale` removes a module's cache files when its dependencies changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from autobot_lib import _jit


def drop_stale(module_file: str, *dependencies: str) -> None:
    """Delete ``module_file``'s numba cache entries if any of ``dependencies`` changed since they were
    written (a content hash kept beside them). Read-only installs are left alone; so is everything when
    the kernels are interpreted (AUTOBOT_JIT=0), since nothing is compiled or cached then."""
    if not _jit.ENABLED:
        return
    module = Path(module_file)
    cache = module.parent / "__pycache__"
    digest = hashlib.sha256(b"".join(Path(d).read_bytes() for d in dependencies)).hexdigest()
    stamp = cache / f"{module.stem}.deps"
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return
        for entry in cache.glob(f"{module.stem}.*.nb[ic]"):
            entry.unlink()
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:
        pass
