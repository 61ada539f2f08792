"""Worker processes: one way to start them, and one way to stop the long-lived ones.

Every pool of the pipeline (normalise workers, the validation process, its skeleton helper, the feed
writer's workers) is started here, so the choice below is made once.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.util
from concurrent.futures import ProcessPoolExecutor
from typing import Iterable


def mp_context(preload: Iterable[str] = ()) -> mp.context.BaseContext:
    """forkserver where available: a plain fork would copy the held locks of this process's threads
    (Airflow task processes, progress bars and the reader's inflate thread have threads); else spawn."""
    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    if method == "forkserver" and preload:
        ctx.set_forkserver_preload(list(preload))
    return ctx


def long_lived_pool(max_workers: int = 1) -> ProcessPoolExecutor:
    """A pool kept for the life of this process and shut down when it exits.

    Shut down by a multiprocessing finaliser, not atexit: the validation process (which owns the
    skeleton helper) is a multiprocessing child, whose exit runs no atexit hooks but joins its
    children after the finalisers of priority >= 0, so a live pool would make that join wait forever.
    The priority is above the pool's own queues' (10): closed first, they would swallow the stop signal.
    In the main process multiprocessing runs the same finalisers from atexit.
    """
    pool = ProcessPoolExecutor(max_workers=max_workers, mp_context=mp_context())
    multiprocessing.util.Finalize(None, pool.shutdown, exitpriority=100)
    return pool
