"""Running a sweep: the runs of one shard that are not finished, in this process or in several.

A run whose ``summary.json`` exists is skipped, and so is a run whose directory another process holds
(``bookkeeping.locks``: another shard, or a ``train`` started by hand), with a line naming that process;
one with a checkpoint resumes from it (``iterand.engine.train.train``). A setting that would stop every
run at its start (a device this machine lacks, missing data: ``planning.check_runnable``) is one error
before any run starts. Whether a run is held or finished is checked again just before it starts, as other
processes start runs while a sweep goes on. ``concurrent=1`` trains in this process; ``concurrent=N > 1``
runs N training processes at once (several small runs on one GPU), the runs with the most work first:
each trains as ``python -m iterand train --config FILE --out OUT`` does, then writes what happened to a
status file of its own (``child_main``), so that a run another process took in the meantime is skipped,
never counted as failed, and a failed run's error is its own, whoever else writes into its log. CPU runs
share the cores this process may use: at most one run per core, each with ``cores // runs`` threads
(``cpu_plan``, announced by ``progress``).
Each run's log goes to ``train.log`` in its run directory. A failing run is reported with its log and
the sweep goes on. Ctrl-C (or SIGTERM or SIGHUP: ``bookkeeping.signals``) stops a concurrent sweep as it
stops one run: no further run starts, each running process gets one SIGINT, saves what it has and exits,
and the runs it leaves resume when the same sweep runs again. A concurrent sweep killed outright
(SIGKILL) stops its runs the same way: they see the end of a pipe that only the sweep held open.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from bookkeeping import locks, signals
from bookkeeping.errors import InvalidInput, UserError, run_command
from bookkeeping.files import read_json, write_json
from bookkeeping.paths import RunFiles
from iterand.core.accounting import count_weights
from iterand.core.models import build
from iterand.engine import cpu_runtime
from iterand.engine.config import TrainConfig, load_yaml, save_yaml
from iterand.engine.train import TrainingDiverged, train
from iterand.experiments import planning, sweeps
from iterand.experiments.console import log_to_stdout, print_diverged, print_results
from iterand.experiments.sweeps import Sweep

__all__ = ["check_concurrent", "child_main", "cpu_plan", "run"]


def run(
    sweep: Sweep | str,
    out: str | Path,
    *,
    overrides: Sequence[str] = (),
    grid: Mapping[str, Sequence] | None = None,
    shard: tuple[int, int] = (1, 1),
    dry_run: bool = False,
    concurrent: int = 1,
    data_root: str | None = None,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train the runs of shard ``shard`` = (K, N) of ``sweep`` that are not finished, into ``out``.

    ``data_root`` is applied before ``overrides``. Returns one record per run of the shard, in order:
    ``name``, ``dir``, ``status`` (before this call, one of ``planning.STATUSES``), ``outcome`` ("planned"
    for a dry run, "skipped" when finished or held by another process, "trained", "failed"; when a
    concurrent sweep is interrupted, "interrupted" or "not started"), ``preset``,
    ``fields`` (the grid values), ``log`` and ``error`` (None unless failed). ``progress`` receives one
    line per event; a dry run gives one line per run: status, run directory, preset and grid values.
    Unless a dry run, a setting no run can start with raises its ``UserError`` before any run starts
    (``planning.check_runnable``); a dry run warns of those it can see without reading data
    (``planning.check_settings``).
    """
    check_concurrent(concurrent)
    if data_root is not None:
        overrides = [f"data_root={data_root}", *overrides]
    out = Path(out)
    planned = planning.shard(planning.plan(sweep, overrides, grid), *shard)
    for field, names in _kept_fields(planned).items():
        progress(f"{field}: kept at the preset's value in {', '.join(names)}, whose method ignores it")
    records = [_record(item, out) for item in planned]
    if dry_run:
        for record in records:
            progress(f"{record['status']:<11} {_describe(record)}")
        try:
            planning.check_settings(
                item.config
                for item, record in zip(planned, records, strict=True)
                if record["status"] != "finished"
            )
        except UserError as error:
            warnings.warn(f"the sweep would stop before its first run: {error}", stacklevel=2)
        return records
    todo = []
    for item, record in zip(planned, records, strict=True):
        if record["status"] == "finished":
            record["outcome"] = "skipped"
            progress(f"skipped     {_describe(record)} (finished)")
        else:
            todo.append((item.config, record))
    planning.check_runnable(config for config, _ in todo)
    if concurrent == 1:
        for config, record in todo:
            _train_here(config, record, progress)
    else:
        at_once, env = _concurrency(concurrent, [config for config, _ in todo], progress)
        # Longest runs first: the last runs to start are then the short ones, and no core idles for
        # long while one long run finishes alone.
        todo.sort(key=lambda item: -_work(item[0]))
        with (
            _Children() as children,
            tempfile.TemporaryDirectory(prefix="iterand-sweep-") as folder,
            ThreadPoolExecutor(at_once) as pool,
            signals.stop_signals_as_interrupt(),
        ):
            jobs = []
            try:
                for config, record in todo:
                    jobs.append(
                        pool.submit(
                            _train_subprocess, config, record, out, Path(folder), env, progress, children
                        )
                    )
                for job in jobs:
                    job.result()
            except KeyboardInterrupt:
                children.stop()
                wait(jobs)  # the running jobs end once their process has saved and exited
                _report(sweep, shard, records, progress)
                raise KeyboardInterrupt(
                    "interrupted: the stopped runs resume when the same sweep runs again"
                ) from None
    _report(sweep, shard, records, progress)
    return records


def _report(
    sweep: Sweep | str,
    shard: tuple[int, int],
    records: Sequence[dict[str, Any]],
    progress: Callable[[str], None],
) -> None:
    outcomes = ("trained", "skipped", "failed", "interrupted", "not started")
    counts = {outcome: sum(r["outcome"] == outcome for r in records) for outcome in outcomes}
    progress(
        f"{sweeps.get(sweep).name} shard {shard[0]}/{shard[1]}: {len(records)} runs, "
        + ", ".join(
            f"{count} {outcome}" for outcome, count in counts.items() if count or outcome in outcomes[:3]
        )
    )
    for record in records:
        if record["outcome"] == "failed":
            progress(f"FAILED {record['dir']}: {record['error']} (log: {record['log']})")
        elif record["outcome"] == "interrupted":
            progress(f"INTERRUPTED {record['dir']} (resumes when the sweep runs again)")


class _Children:
    """The training processes of a concurrent sweep. Each runs in its own session, so that a terminal's
    Ctrl-C reaches the sweep alone, which then sends every child exactly one SIGINT (``stop``): a second
    one could interrupt a child while it saves its checkpoint. Their standard input is a pipe whose only
    writing end this process holds and never writes to: when it ends, however it ends, the children read
    the pipe's end and stop (``child_main``). A context manager: its end closes the pipe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self.stopping = False
        self._input, self._writer = os.pipe()  # not inherited: only this process holds the writer

    def __enter__(self) -> _Children:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._input)
        os.close(self._writer)

    def start(self, command: list[str], **kwargs: Any) -> subprocess.Popen | None:
        """The started process, or None once the sweep is stopping."""
        with self._lock:
            if self.stopping:
                return None
            child = subprocess.Popen(command, start_new_session=True, stdin=self._input, **kwargs)
            self._running.add(child)
            return child

    def wait(self, child: subprocess.Popen) -> int:
        try:
            return child.wait()
        finally:
            with self._lock:
                self._running.discard(child)

    def stop(self) -> None:
        with self._lock:
            self.stopping = True
            for child in self._running:
                child.send_signal(signal.SIGINT)


def _kept_fields(planned: Sequence[planning.Planned]) -> dict[str, list[str]]:
    """Field -> the presets whose runs keep it at the preset's value (``planning.plan``), in plan order."""
    kept: dict[str, list[str]] = {}
    for item in planned:
        for field in item.kept:
            if item.preset not in kept.setdefault(field, []):
                kept[field].append(item.preset)
    return kept


def _record(item: planning.Planned, out: Path) -> dict[str, Any]:
    directory = planning.run_dir(item.config, out)
    return {
        "name": directory.name,
        "dir": str(directory),
        "status": planning.status(item.config, out),
        "outcome": "planned",
        "preset": item.preset,
        "fields": dict(item.point),
        "log": str(RunFiles(directory).log),
        "error": None,
    }


def _describe(record: Mapping[str, Any]) -> str:
    fields = " ".join(
        f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
        for key, value in record["fields"].items()
    )
    return f"{record['dir']}  preset={record['preset']} {fields}"


def _starting(record: dict[str, Any], progress: Callable[[str], None]) -> bool:
    """Announce the run, or skip it (False) when another process holds its directory or has finished it
    since the sweep looked."""
    files = RunFiles(Path(record["dir"]))
    holder = locks.holder(files.lock)
    if holder is not None or files.summary.is_file():
        _taken_elsewhere(record, holder, progress)
        return False
    verb = "resuming" if record["status"] == "interrupted" else "training"
    progress(f"{verb:<11} {_describe(record)}")
    return True


def _taken_elsewhere(
    record: dict[str, Any], holder: dict[str, Any] | None, progress: Callable[[str], None]
) -> None:
    """Skip a run another process holds (``holder``: what it wrote about itself) or has finished."""
    record["outcome"] = "skipped"
    if RunFiles(Path(record["dir"])).summary.is_file():
        progress(f"skipped     {_describe(record)} (finished by another process)")
    else:
        progress(
            f"skipped     {_describe(record)} (in use by {locks.describe_holder(holder)}; run the sweep "
            "again once it has ended)"
        )


def _finished(record: dict[str, Any], error: str | None, progress: Callable[[str], None]) -> None:
    record["outcome"], record["error"] = ("failed", error) if error else ("trained", None)
    if error:
        progress(f"failed      {record['dir']}: {error} (log: {record['log']})")
    else:
        progress(f"finished    {record['dir']}")


@contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """The package's log records (INFO and up) also go to ``path`` while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("iterand")
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)
        handler.close()


def _train_here(config: TrainConfig, record: dict[str, Any], progress: Callable[[str], None]) -> None:
    if not _starting(record, progress):
        return
    log = Path(record["log"])
    error = None
    with _log_to(log):
        try:
            train(config, record["dir"])
        except locks.Locked as error:
            # Taken by another process since `_starting` looked.
            _taken_elsewhere(record, error.holder, progress)
            return
        except BrokenPipeError:
            # stdout closed (`sweep ... | head`): the sweep stops as `train` does, not with a failed run.
            raise
        except Exception as exc:  # noqa: BLE001 - one failing run must not stop the sweep
            error = f"{type(exc).__name__}: {exc}"
            with log.open("a") as f:
                traceback.print_exc(file=f)
    _finished(record, error, progress)


def check_concurrent(concurrent: Any) -> None:
    """``InvalidInput`` unless ``concurrent`` (training processes at once) is an integer >= 1."""
    if isinstance(concurrent, bool) or not isinstance(concurrent, int) or concurrent < 1:
        raise InvalidInput(f"concurrent must be an integer >= 1, got {concurrent!r}")


def cpu_plan(concurrent: int, cores: int) -> tuple[int, int]:
    """(runs at once, threads per run) for ``concurrent`` CPU runs on ``cores`` cores: at most one run per
    core, and the cores split evenly, so that runs x threads never exceeds the cores."""
    at_once = min(concurrent, cores)
    return at_once, cores // at_once


def _work(config: TrainConfig) -> float:
    """A run's training work in relative units: its network's weights times its epochs (and steps)."""
    return _weights(config.model, config.width, config.stem) * config.epochs * (config.steps_per_epoch or 1)


@functools.cache
def _weights(model: str, width: float, stem: str) -> int:
    # Built once per network: the runs of a sweep share a few networks over many seeds and methods.
    return count_weights(build(model, width, stem=stem, dense=True)).total


def _on_cpu(config: TrainConfig) -> bool:
    return config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available())


def _concurrency(
    concurrent: int, configs: Sequence[TrainConfig], progress: Callable[[str], None]
) -> tuple[int, dict[str, str] | None]:
    """Runs at once and the environment of their processes (None: this one's). CPU runs share the cores
    this process may use (``cpu_plan``); N processes each taking every core would fight over them."""
    if not configs or not all(_on_cpu(config) for config in configs):
        return concurrent, None
    cores = cpu_runtime.available_cores()
    at_once, threads = cpu_plan(concurrent, cores)
    lowered = f" (--concurrent {concurrent} lowered to the cores)" if at_once < concurrent else ""
    progress(
        f"CPU runs: {at_once} at a time x {threads} thread(s) = {at_once * threads} of {cores} available "
        f"cores{lowered}"
    )
    return at_once, {**os.environ, **cpu_runtime.thread_environment(threads)}


def _train_command(config_file: Path, out: Path, status_file: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "iterand.experiments.sweep_child",
        str(status_file),
        str(config_file),
        str(out),
    ]


def child_main(argv: Sequence[str]) -> int:
    """A run of a concurrent sweep in its own process (``_train_command``): ``train`` as ``python -m iterand
    train --config CONFIG_FILE --out OUT`` runs it, same output and exit status, which then writes to
    STATUS_FILE what happened: ``{"outcome": "trained"}``, ``{"outcome": "held", "holder": {...}}``
    (another process holds the run directory), ``{"outcome": "interrupted"}`` or ``{"outcome": "failed",
    "error": "Type: message"}``. The exit status alone cannot tell a run directory in use from any other
    error (both 2), and the run's log may be written by another process too.

    Its standard input is a pipe the sweep never writes to: the end of the sweep closes it, SIGKILL
    included, and the run then stops as on Ctrl-C instead of training on with nobody waiting for it.
    """
    status_file, config_file, out = (Path(arg) for arg in argv)
    log_to_stdout()
    status: dict[str, Any] | None = None  # none written: the sweep knows only the exit status

    def command() -> int:
        nonlocal status
        try:
            _on_end_of_input(sys.stdin.fileno(), lambda: os.kill(os.getpid(), signal.SIGINT))
            # One stop only: the sweep's SIGINT and the closed pipe of a sweep killed while its runs stop.
            with signals.stop_signals_as_interrupt():
                config = load_yaml(config_file)
                summary = train(config, planning.run_dir(config, out))
        except locks.Locked as error:
            status = {"outcome": "held", "holder": error.holder}
            raise
        except KeyboardInterrupt:
            status = {"outcome": "interrupted"}
            raise
        except Exception as error:
            status = {"outcome": "failed", "error": f"{type(error).__name__}: {error}"}
            if not isinstance(error, TrainingDiverged):
                raise
            return print_diverged(error)
        status = {"outcome": "trained"}
        print_results(summary)
        return 0

    try:
        return run_command(command)
    finally:
        if status is not None:
            write_json(status_file, status)


def _ended(code: int) -> str:
    """How a training process that wrote no status ended: Popen gives a signal as its negative number."""
    if code >= 0:
        return f"ended with exit status {code}"
    try:
        return f"killed by signal {-code} ({signal.Signals(-code).name})"
    except ValueError:  # a number the signal module has no name for
        return f"killed by signal {-code}"


def _on_end_of_input(fd: int, stop: Callable[[], None]) -> None:
    """Call ``stop`` (in another thread) once reading ``fd`` finds its end: every writer has closed it."""

    def watch() -> None:
        while os.read(fd, 4096):
            pass
        stop()

    threading.Thread(target=watch, name="sweep-watch", daemon=True).start()


def _train_subprocess(
    config: TrainConfig,
    record: dict[str, Any],
    out: Path,
    folder: Path,
    env: dict[str, str] | None,
    progress: Callable[[str], None],
    children: _Children,
) -> None:
    if children.stopping:
        record["outcome"] = "not started"
        return
    if not _starting(record, progress):
        return
    config_file = folder / f"{record['name']}.yaml"
    status_file = folder / f"{record['name']}.status.json"
    save_yaml(config, config_file)
    log = Path(record["log"])
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        command = _train_command(config_file, out, status_file)
        child = children.start(command, stdout=f, stderr=subprocess.STDOUT, env=env)
        if child is None:
            record["outcome"] = "not started"
            return
        code = children.wait(child)
    # None: the process ended before it could say (stopped while it started, or killed).
    status = read_json(status_file) if status_file.is_file() else None
    outcome = status and status["outcome"]
    if outcome == "held":
        _taken_elsewhere(record, status["holder"], progress)
    elif outcome == "interrupted" or (outcome is None and children.stopping):
        record["outcome"] = "interrupted"
        progress(f"interrupted {record['dir']} (resumes when the sweep runs again)")
    elif outcome == "trained":
        _finished(record, None, progress)
    else:
        _finished(record, (status or {}).get("error") or _ended(code), progress)
