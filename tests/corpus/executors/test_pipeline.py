"""The executor contract: a pipeline of step classes built once per worker, per-step stats from
each task into its unit's marker and summed for the build, steps that never import sources."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from corpus.executors import EXECUTORS
from corpus.executors.base import UnitWork
from corpus.options import BuildOptions, ExecutorOptions
from corpus.pipeline import Pipeline
from corpus.stats import unit_stats
from corpus.steps.base import Step, Task


class Built(Step):
    """Records, in a file named by the task, which construction of the step ran it (a fresh id per
    construction: a pipeline rebuilt for every task in the same process would show 12 ids)."""

    name = "built"

    def __init__(self, options):
        super().__init__(options)
        self.built_in = f"{os.getpid()}-{uuid.uuid4().hex}"

    def process(self, task: Task) -> None:
        with open(task.workdir, "a") as f:
            f.write(f"{self.built_in}\n")
        for r in task.pending:
            r["status"] = "ok"


@pytest.mark.parametrize("name", sorted(EXECUTORS))
def test_each_worker_builds_the_pipeline_once_and_stats_travel_with_tasks(tmp_path, name, monkeypatch):
    # the step class lives in this test module: Ray workers (which never get the driver's current
    # folder on their path) find it through PYTHONPATH, as a user's own step would be installed
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[3]))
    log = tmp_path / "built.txt"
    units = [UnitWork(f"u{k}", [], [Task(f"u{k}", [{"row": k * 3 + i, "status": "pending"}], str(log))
                                    for i in range(3)]) for k in range(4)]
    finished = {}
    executor = EXECUTORS[name](EXECUTORS[name].Options(), ExecutorOptions(name, workers=2))
    executor.run(units, Pipeline(BuildOptions("web", (), "-"), steps=(Built,)),
                 lambda work, tasks: unit_stats(tasks), lambda t: None,
                 lambda work, marker: finished.__setitem__(work.unit, marker))
    builders = log.read_text().split()
    # 12 tasks; steps built once per worker process: 2 local workers, or (Ray) at most one per unit
    assert len(builders) == 12 and len(set(builders)) <= (2 if name == "local" else len(units))
    assert set(finished) == {"u0", "u1", "u2", "u3"} and all(s["built"]["ok"] == 3 for s in finished.values())


def test_markers_build_json_and_status_hold_per_step_stats(tmp_path, server):
    from tests.helpers import build_corpus

    (tmp_path / "l.csv").write_text(f"url\n{server}/a.mp4\n{server}/status/404/x.mp4\n{server}/garbage.mp4\n")
    summary = build_corpus(tmp_path / "c", "web", [tmp_path / "l.csv"], unit_size=1)
    steps = summary["steps"]
    assert steps["fetch"]["ok"] == 2 and steps["fetch"]["not_found"] == 1
    assert steps["probe"]["ok"] == 1 and steps["probe"]["not_video"] == 1 and steps["clip"]["ok"] == 1
    assert all(s["seconds"] > 0 for s in steps.values())
    markers = [json.loads(p.read_text()) for p in (tmp_path / "c" / "done").glob("u*.json")]
    assert sum(m["steps"]["fetch"].get("ok", 0) for m in markers) == 2 and len(markers) == 3
    build = json.loads((tmp_path / "c" / "build.json").read_text())
    assert build["counts"]["steps"]["fetch"] == steps["fetch"] and build["last_run"]["steps"]["clip"]["ok"] == 1


def test_steps_and_fetchers_never_import_sources():
    code = ("import sys, corpus.pipeline, corpus.fetchers, corpus.finish; "
            "print([m for m in sys.modules if m.startswith('corpus.sources')])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_step_is_built_from_its_own_options():
    """A step gets its own options out of the build's, never the whole BuildOptions; filters
    parse theirs into their own Options classes."""
    import dataclasses

    from corpus.pipeline import STEPS
    from corpus.steps.filters import FILTERS, parse_filter

    build = BuildOptions("web", (), "-", filters=tuple(parse_filter(name) for name in FILTERS))
    built = Pipeline(build, STEPS["video"]).build()
    assert [s.name for s in built] == ["caption", "fetch", "probe", "clip", "motion", "sharpness", "frozen", "bars",
                                       "overlay"]
    for step in built:
        assert dataclasses.is_dataclass(step.options) and not isinstance(step.options, BuildOptions)
