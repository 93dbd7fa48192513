"""Connecting to a Dask cluster: a local one of N worker processes, or an existing scheduler.

Everything that can go wrong before the first task is sent is checked here and reported in
one line (:class:`gis.errors.ClusterError`): an address that does not answer, a scheduler
without workers, workers that cannot run this wangge, and (for jobs whose workers read and
write files themselves) paths a worker cannot see.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gis.errors import ClusterError, OptionError

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

#: Seconds to wait for a scheduler to answer and for its first worker.
DEFAULT_TIMEOUT_S = 30.0
#: Dask settings of the workers of a local cluster. The statistical profiler samples every
#: worker thread's stack 100 times a second (for the dashboard, which a local cluster does
#: not serve); on 2 cores it cost planning 10-15 % (bench/scale.py), so it is off. Every
#: wake-up of a worker's event loop takes the GIL from the task: its 20 ms tick (which only
#: watches for a blocked loop) and 100 ms memory check made a task planning 30 units 15 %
#: slower than in a plain process (5.8 s against 4.7 s; 4.9 s with these), so they wake
#: once a second.
LOCAL_WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
}


@contextmanager
def connect(
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Iterator[Client | None]:
    """A checked Dask client for the duration of a ``with`` block (None: run in-process).

    Parameters
    ----------
    workers
        Start a :class:`distributed.LocalCluster` of this many worker processes (one thread
        each), closed at the end of the block.
    scheduler
        Address of an existing scheduler (``tcp://HOST:PORT``); its workers must run the same
        wangge version (e.g. the ``scale`` profile of ``docker-compose.yml``).
    timeout_s
        How long to wait for the scheduler and for its first worker.

    Yields
    ------
    distributed.Client or None
        None when neither ``workers`` nor ``scheduler`` is given.

    Raises
    ------
    OptionError
        Both given, or fewer than one worker.
    ClusterError
        The scheduler cannot be reached, has no workers, or its workers cannot run wangge.
    """
    if workers is not None and scheduler is not None:
        msg = (
            "give --workers N (a local cluster) or --scheduler ADDRESS (an existing one), not both"
        )
        raise OptionError(msg)
    if workers is None and scheduler is None:
        yield None
        return
    if workers is not None and workers < 1:
        msg = f"--workers must be at least 1, got {workers}"
        raise OptionError(msg)
    distributed = _distributed()
    cluster: Any = None
    if workers is not None:
        where = f"the local cluster of {workers} workers"
        try:
            with _dask().config.set(LOCAL_WORKER_CONFIG):  # the nannies pass it on
                cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",  # any free port for its HTTP server…
                    scheduler_kwargs={"dashboard": False},  # …which serves no dashboard
                    silence_logs=logging.ERROR,
                )
            client = distributed.Client(cluster, set_as_default=False)
        except (OSError, RuntimeError) as exc:
            if cluster is not None:
                cluster.close()
            msg = f"cannot start {where}: {_one_line(exc)}"
            raise ClusterError(msg) from None
    else:
        assert scheduler is not None
        where = f"the Dask scheduler at {scheduler}"
        client = _open(distributed, scheduler, timeout_s)
    try:
        _check(client, where, timeout_s)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _distributed() -> Any:
    import distributed  # noqa: PLC0415 - imported only when a cluster is asked for (0.5 s)

    return distributed


def _dask() -> Any:
    import dask  # noqa: PLC0415 - as for distributed

    return dask


def _open(distributed: Any, address: str, timeout_s: float) -> Client:
    try:
        _knock(address, timeout_s)
        client: Client = distributed.Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        msg = (
            f"cannot reach the Dask scheduler at {address} ({_one_line(exc)}): check the address "
            "(tcp://HOST:PORT) and that `dask scheduler` runs there, e.g. "
            "`docker compose --profile scale up`"
        )
        raise ClusterError(msg) from None
    return client


def _knock(address: str, timeout_s: float) -> None:
    """Fail at once when nothing listens at a ``tcp://`` address (the client would retry)."""
    scheme, _, rest = address.rpartition("://")
    host, _, port = rest.rpartition(":")
    if scheme in ("", "tcp") and host and port.isdigit():
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()


def _check(client: Client, where: str, timeout_s: float) -> None:
    """Refuse a cluster that cannot do the work, before any work is sent."""
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except (TimeoutError, OSError) as exc:
        msg = (
            f"{where} has no workers after {timeout_s:g} s ({_one_line(exc)}): start some, "
            "e.g. `dask worker ADDRESS`"
        )
        raise ClusterError(msg) from None
    from gis import __version__  # noqa: PLC0415 - gis imports this module

    try:
        versions: dict[str, Any] = client.run(_wangge_version)
    except Exception as exc:  # the worker cannot even unpickle a wangge function
        msg = (
            f"the workers of {where} cannot run wangge ({type(exc).__name__}: {_one_line(exc)}): "
            f"install wangge {__version__} on every worker, e.g. run them from the wangge image"
        )
        raise ClusterError(msg) from None
    other = {w: v for w, v in versions.items() if v != __version__}
    if other:
        worker, version = next(iter(other.items()))
        msg = (
            f"worker {worker} of {where} runs wangge {version}, this is {__version__}: "
            "run every worker from the same wangge version"
        )
        raise ClusterError(msg)
    log.info("%s: %d workers, %d threads", where, len(versions), worker_threads(client))


def _wangge_version() -> str:
    from gis import __version__  # noqa: PLC0415 - runs on the worker

    return __version__


def require_paths(client: Client, paths: Iterable[str | Path]) -> None:
    """Refuse a cluster one of whose workers cannot see one of ``paths``.

    For jobs whose workers read and write files themselves (:func:`gis.assign_points`).

    Raises
    ------
    ClusterError
        Naming the worker and the path.
    """
    wanted = [str(Path(p).resolve()) for p in paths]
    missing: dict[str, list[str]] = client.run(_missing_paths, wanted)
    for worker, gone in sorted(missing.items()):
        if gone:
            msg = (
                f"worker {worker} cannot see {gone[0]}: the points and the output must be on a "
                "filesystem every worker shares, at the same path"
            )
            raise ClusterError(msg)


def _missing_paths(paths: list[str]) -> list[str]:
    return [p for p in paths if not os.path.exists(p)]


def worker_threads(client: Client) -> int:
    """Worker threads the cluster has now (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def describe_client(client: Client | None) -> dict[str, Any]:
    """Where work ran, for reports: ``in-process``, or the scheduler and its workers."""
    if client is None:
        return {"scheduler": "in-process", "workers": 1, "threads": 1}
    info = client.scheduler_info()
    return {
        "scheduler": str(info.get("address", "")),
        "workers": len(info.get("workers", {})),
        "threads": worker_threads(client),
    }


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
