"""The Ray executor: the same units as Ray tasks, on a cluster (`--ray-address`) or on a local Ray
instance it starts. One task runs one unit's files through the pipeline and finishes the unit
(tars, table parts, marker) on the worker, so clip bytes never pass through this process; the
corpus folder must be on storage every node sees. At most `workers` units are in flight; each
task asks for `ray_cpus` CPUs; a task lost with its worker or node is run again (max_retries), which
is safe because a unit rewrites all it writes and its marker comes last. The markers are the
local executor's, so a build can move between executors and resume either way."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from corpus.errors import InputError, MachineFault
from corpus.executors.base import Executor, OnDone, bounded_map
from corpus.options import RUN
from manifests.options import option

# One more try for a task whose worker or node was lost (a unit rewrites all it writes, so running
# it again is safe); a unit whose worker dies twice, or is killed twice by Ray's memory monitor, is
# reported rather than run over and over (Ray's defaults are 3 and 15 more tries).
MAX_RETRIES = 1


@dataclass(frozen=True)
class RayOptions:
    """Which Ray cluster runs the tasks, and what each task asks of it."""

    ray_address: str | None = option(None, "Ray cluster to join, e.g. auto or ray://head:10001 (default: start a "
                                           "local Ray instance).", output=False, panel=RUN)
    ray_cpus: float = option(1.0, "CPUs each Ray task asks for.", output=False, panel=RUN)

    def __post_init__(self):
        if self.ray_cpus <= 0:
            raise InputError(f"--ray-cpus {self.ray_cpus}: give a number above 0")


class _NoDriverFolders(list):
    """Ray puts the driver's current folder (and its script's) first on every worker's sys.path
    by extending this list of the job's config: a `pyarrow.py` or a `corpus/` folder where the
    user ran vmae would be imported by every worker. vmae's tasks need neither (vmae is an
    installed package), so nothing is added."""

    def extend(self, folders) -> None:
        pass


def _vmae_task(fn: Callable, item):
    """The one remote function of every map; Ray titles its worker processes 'ray::_vmae_task'."""
    return fn(item)


def _result(ray, ref, item):
    """A task's result; a task whose worker died on every try stops the run as a fault of the
    machine, naming the unit (the same input will kill it again: a rerun skips nothing)."""
    try:
        return ray.get(ref)
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError, ray.exceptions.NodeDiedError) as e:
        what = f"unit {item.unit}" if hasattr(item, "unit") else "a task"
        raise MachineFault(f"the Ray worker running {what} died on each of its {MAX_RETRIES + 1} tries "
                           f"({type(e).__name__}: killed for memory, crashed, or its node was lost); see the Ray "
                           "logs of that node") from e


class RayExecutor(Executor):
    name = "ray"
    Options = RayOptions
    finishes_units_on_workers = True
    workers_share_this_disk = False  # a cluster's nodes may have no shared filesystem
    options: RayOptions

    def _connect(self):
        try:
            import ray
        except ImportError as e:
            raise InputError("--executor ray needs Ray: pip install 'vmae[ray]'") from e
        started = not ray.is_initialized()
        if started:
            job = ray.job_config.JobConfig()
            job._py_driver_sys_path = _NoDriverFolders()
            if self.options.ray_address:
                ray.init(address=self.options.ray_address, logging_level=logging.WARNING, job_config=job)
            else:  # a local instance with the CPUs of the tasks in flight
                ray.init(num_cpus=math.ceil(self.workers * self.options.ray_cpus), include_dashboard=False,
                         logging_level=logging.WARNING,
                         _system_config={"task_oom_retries": MAX_RETRIES}, job_config=job)
        return ray, started

    def map(self, fn: Callable, items: Iterable, on_done: OnDone) -> None:
        """fn(item) for every item as Ray tasks (at most `workers` in flight); on_done(item,
        result) here, as each finishes. A task's exception stops the map and is raised here."""
        ray, started = self._connect()
        try:
            remote = ray.remote(num_cpus=self.options.ray_cpus, max_retries=MAX_RETRIES)(_vmae_task)
            shared = ray.put(fn)
            bounded_map(items, self.workers, lambda item: remote.remote(shared, item),
                        lambda refs: ray.wait(refs, num_returns=1)[0][0], lambda ref, item: _result(ray, ref, item),
                        on_done)
        finally:
            if started:
                ray.shutdown()
