"""Running wangge's work on a Dask cluster (``dask.distributed``), or in this process.

:func:`connect` gives a :class:`distributed.Client` for ``--workers N`` (a local cluster of
``N`` worker processes) or ``--scheduler tcp://HOST:PORT`` (an existing cluster, e.g. the
``scale`` profile of ``docker-compose.yml``), checked before any work is sent: the scheduler
answers, has workers, and the workers run this wangge. :func:`run_tasks` maps one function
over task payloads on that client (or here, without one), keeping a bounded number of tasks in
flight, reporting progress as tasks finish and returning every task's result or the reason it
failed, so one failed task never stops the others.

The planner (:func:`gis.partition`, one task per administrative unit or group of small
units) and :func:`gis.assign_points` (one task per partition of the points) run on it.
"""

from gis.parallel.cluster import connect, describe_client, worker_threads
from gis.parallel.run import TaskFailure, run_tasks

__all__ = ["TaskFailure", "connect", "describe_client", "run_tasks", "worker_threads"]
