"""Where independent backtest tasks run: Dask (a LocalCluster by default, or a scheduler address), or
in this process. One place, so sweeps and walk-forward scale out the same way."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from tqdm.auto import tqdm


@contextmanager
def dask_client(scheduler: str | None) -> Iterator[Any]:
    """None: a LocalCluster of 2 worker processes (closed afterwards); "tcp://host:port": that scheduler;
    "sync": no Dask at all (yields None)."""
    if scheduler == "sync":
        yield None
        return
    from dask.distributed import Client, LocalCluster

    for name in ("distributed", "distributed.scheduler", "distributed.nanny", "distributed.worker", "distributed.core",
                 "distributed.http.proxy"):
        logging.getLogger(name).setLevel(logging.WARNING)  # its INFO chatter would bury the results

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; start one "
                                  "(dask scheduler) or leave --scheduler out for a local cluster") from None
        cluster = None
    else:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", silence_logs=logging.WARNING,
                               scheduler_kwargs={"dashboard": False})
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_tasks(fn: Callable, calls: Sequence[tuple], *, shared: Any = None, scheduler: str | None = None,
              progress: bool = True, desc: str = "tasks") -> list[Any]:
    """``fn(shared, *call)`` for every call, in order of ``calls``; ``shared`` (e.g. the bars) is sent to
    each worker once."""
    with dask_client(scheduler) as client:
        if client is None:
            return [fn(shared, *call) for call in tqdm(calls, disable=not progress, desc=desc)]
        from dask.distributed import as_completed

        scattered = client.scatter(shared, broadcast=True) if shared is not None else None
        futures = {client.submit(fn, scattered, *call, pure=False): i for i, call in enumerate(calls)}
        results: list[Any] = [None] * len(calls)
        for future in tqdm(as_completed(futures), total=len(futures), disable=not progress, desc=desc):
            results[futures[future]] = future.result()
        return results
