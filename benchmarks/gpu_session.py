"""The GPU issue's work in two calls to the GPU machine (15 device minutes in all); results go to $OUT.

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_session.py conv6-rate bench --budget 200   # call 1
    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_session.py fig2-w025 --budget 480          # call 2
    python benchmarks/gpu_session.py conv6-rate bench fig2-w025 --tiny   # the rehearsal on a CPU

Stages, run in the order given, share one wall-clock budget (``--budget`` seconds): every command gets at
most what is left (minus a reserve for packing the results), is stopped with its whole process group when
that runs out, and a command that would start with less than its usual duration left is skipped. Stopped
and skipped commands are listed as such; the results of everything else still reach $OUT.

- ``bench``: the sync-debug GPU tests (``tests/iterand/engine/test_gpu.py``); ``train_step.py`` for Conv6,
  ResNet-18 (CIFAR shapes) and ResNet-50 (ImageNet shapes) x dense / edge-popup / IteRand in eager mode
  with bf16 autocast and channels-last (the training default on a GPU), with the time of mask selection
  and of one re-draw event; the end-to-end step through the CIFAR-10 loader (``--data``);
  ``data_pipeline.py``; a profiler table of the worst subnetwork / dense ratio when it misses its target;
  then the same with torch.compile, one model per command, as long as the budget lasts. ``--items``
  picks commands by name (shell patterns).
- ``conv6-rate``: ``python -m iterand train --preset fig2-conv6-sc-iterand`` at width 1 for a few epochs
  (the paper's settings otherwise): the seconds per epoch of the real training command (data, training,
  evaluation, checkpoints), extrapolated to 100 epochs. It is also the smoke test of the training command
  on the GPU before the long call.
- ``fig2-w025``: Fig. 2, Conv6 at width 0.25 with the paper's settings (100 epochs, batch 128, IteRand
  augmentation, SC, p = 0.5, K_per = 300, r = 0.1): edge-popup and IteRand, seeds 1, 2, 3 (``--seeds``),
  all started at once on the one GPU, plus dense SGD for the seeds in ``--dense-seeds`` (none by default).
  ``runs.tar.gz`` in $OUT is rewritten every ``PACK_SECONDS`` while they train, so a run cut off by the
  budget, or a call cut off by the device tool, still reports how far it got.

Runs cannot resume across calls (each call may get a fresh machine and only $OUT comes back), so a run
either finishes within its call or reports its partial ``metrics.jsonl`` (epochs done, seconds per epoch).

The CIFAR-10 copy is read from ``--data-root`` (default ``.device/cifar10-jpeg.tar.gz``) and decoded once
per machine, before anything else uses it.

Files in $OUT (``--out``; a new temporary folder when neither is set):

- ``session.log``: every command and its output;
- ``session.json``: per command its status (ok, failed, timeout, skipped), seconds and parsed results;
  the environment; the target checks; the state of every training run;
- ``bench.md``: the benchmark tables and profiles, then the target checks;
- ``runs.tar.gz``: per run ``<run name>/{config.yaml,metrics.jsonl,summary.json,train.log}`` and the
  ``results*.csv`` tables of ``iterand.experiments.results`` (never checkpoints).

``--tiny`` rehearses every stage on the CPU in seconds: synthetic data, Conv6 width 0.25, batch 8, one
step per epoch; no compilation and no GPU tests.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import pickle
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
# The GPU machine runs this file from the working tree without installing the package.
sys.path.insert(0, str(REPO))

from train_step import environment  # noqa: E402

from bookkeeping.files import read_json, read_metrics  # noqa: E402
from bookkeeping.paths import RunFiles  # noqa: E402
from iterand.engine.config import TrainConfig, run_name  # noqa: E402
from iterand.engine.data import DataError, prepare  # noqa: E402
from iterand.engine.distributed import resolve_device  # noqa: E402
from iterand.experiments import planning, results, sweeps  # noqa: E402
from iterand.experiments.cli import build_config  # noqa: E402

STAGES = ("bench", "conv6-rate", "fig2-w025")
DEFAULT_DATA = ".device/cifar10-jpeg.tar.gz"
RATE_PRESET = "fig2-conv6-sc-iterand"
RATE_EPOCHS = 3  # the first epoch carries cuDNN's autotuning; the rate is read from the later ones
FIG2_PRESETS = ("fig2-conv6-sc-edgepopup", "fig2-conv6-sc-iterand")
DENSE_PRESET = "fig2-conv6-ku-sgd"
FIG2_WIDTH = "0.25"
PAPER_EPOCHS = 100
PACK_SECONDS = 20  # how often runs.tar.gz is rewritten while the Fig. 2 runs train
RUN_FILES = ("config.yaml", "metrics.jsonl", "summary.json", "train.log")
RESERVE_SECONDS = 30  # kept back from the budget: stopping a command, packing the results
STOP_GRACE_SECONDS = 10  # between SIGTERM and SIGKILL of a stopped command
# Targets of the issue, checked on what was measured.
MAX_DENSE_RATIO = 1.15
MIN_RESNET18_IMAGES_PER_SECOND = 25_000
MAX_CONV6_RUN_SECONDS = 120
# (name, train_step flags): the training default on a GPU, eager and compiled.
EAGER = [("eager-amp-cl", ["--amp", "--channels-last"])]
COMPILED = [(name.replace("eager", "compile"), [*flags, "--compile"]) for name, flags in EAGER]
BENCH_MODELS = ("conv6", "resnet18", "resnet50")
E2E_MODELS = ("conv6", "resnet18")
# Seconds a command usually needs on the H200 (a guess until measured): it is skipped with less left, and
# stopped after three times as long.
NEEDS = {"gpu-tests": 40, "step": 40, "e2e": 40, "data-pipeline": 20, "profile": 30, "compile": 60}


@dataclass(frozen=True)
class Sizes:
    """What the stages run: the paper's sizes on the GPU, or the tiny CPU rehearsal."""

    data: str
    step_args: list[str]  # for train_step.py, every variant
    e2e_args: list[str]
    pipeline_args: list[str]
    profile_args: list[str]
    bench_models: tuple[str, ...]
    e2e_models: tuple[str, ...]
    variants: list[tuple[str, list[str]]]
    compiled: list[tuple[str, list[str]]]
    gpu_tests: bool
    overrides: list[str]  # for every training run
    env: dict[str, str]  # for every command
    rate_overrides: list[str]  # conv6-rate, after ``overrides``
    fig2_overrides: list[str]  # fig2-w025, after ``overrides``
    needs: dict[str, float]


def sizes(args: argparse.Namespace) -> Sizes:
    if args.tiny:
        return Sizes(
            data="synthetic",
            step_args=["--device", "cpu", "--batch", "8", "--width", "0.25", "--steps", "1", "--warmup", "1"],
            e2e_args=["--steps", "2"],
            pipeline_args=["--device", "cpu", "--batch", "8", "--batches", "2", "--repeats", "1"],
            profile_args=["--profile-steps", "1", "--profile-rows", "5"],
            bench_models=("conv6",),
            e2e_models=("conv6",),
            variants=EAGER[:1],
            compiled=[],
            gpu_tests=False,
            overrides=[
                "dataset=synthetic",
                "device=cpu",
                "epochs=1",
                "steps_per_epoch=1",
                "batch_size=8",
                "period=1",
                "eval_batch_size=500",
            ],
            # One thread per process: the rehearsal's processes are many and small.
            env={"OMP_NUM_THREADS": "1"},
            rate_overrides=["width=0.25", "epochs=2"],
            fig2_overrides=[],
            needs=dict.fromkeys(NEEDS, 0),
        )
    return Sizes(
        data=args.data_root,
        step_args=["--device", "cuda", "--batch", "128", "--steps", "50", "--warmup", "10"],
        # More than one CIFAR-10 epoch (352 batches), so that the per-epoch work is counted.
        e2e_args=["--steps", "400", "--warmup", "20"],
        pipeline_args=["--device", "cuda"],
        profile_args=["--steps", "20"],
        bench_models=BENCH_MODELS,
        e2e_models=E2E_MODELS,
        variants=EAGER,
        compiled=COMPILED,
        gpu_tests=True,
        overrides=["device=cuda"],
        env={},
        rate_overrides=["width=1", f"epochs={RATE_EPOCHS}"],
        fig2_overrides=[f"epochs={PAPER_EPOCHS}"],
        needs=NEEDS,
    )


class Clock:
    """The session's wall-clock budget."""

    def __init__(self, seconds: float, reserve: float) -> None:
        self.deadline = time.monotonic() + seconds - reserve

    def left(self) -> float:
        return self.deadline - time.monotonic()


class Log:
    """Lines to stdout and to ``session.log``; commands write their output into the same file."""

    def __init__(self, path: Path) -> None:
        self.file: IO[str] = path.open("a")

    def line(self, text: str) -> None:
        print(text, flush=True)
        self.file.write(text + "\n")
        self.file.flush()


@dataclass
class Session:
    args: argparse.Namespace
    sizes: Sizes
    clock: Clock
    log: Log
    work: Path  # scratch folder, removed at the end (it holds checkpoints)
    out: Path  # what comes back from the GPU machine
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def runs(self) -> Path:
        return self.work / "runs"

    def child_env(self) -> dict[str, str]:
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        return {**os.environ, **self.sizes.env, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}

    def run(
        self,
        name: str,
        command: list[str],
        need: float,
        stdin: bytes | None = None,
        record: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Run ``command`` in its own process group within the budget; its record (also kept, and filled
        into ``record`` when given, so that a caller running this in a thread can read it)."""
        record = record if record is not None else {}
        record.update(name=name, command=" ".join(command), **extra)
        self.records.append(record)
        left = self.clock.left()
        if left <= 0 or left < need:
            record.update(
                status="skipped", seconds=0.0, reason=f"{max(left, 0):.0f} s left, needs {need:.0f}"
            )
            self.log.line(f"[skip] {name}: {record['reason']}")
            return record
        timeout = min(left, 3 * need) if need else left
        self.log.line(f"[run ] {name} (at most {timeout:.0f} s): {record['command']}")
        started = time.monotonic()
        code = run_group(command, timeout, self.log.file, self.child_env(), stdin)
        seconds = time.monotonic() - started
        status = "timeout" if code is None else "ok" if code == 0 else "failed"
        record.update(status=status, returncode=code, seconds=round(seconds, 1))
        self.log.line(f"[{status}] {name} in {seconds:.0f} s")
        return record

    def step(self, name: str, call: Callable[[], Any]) -> dict[str, Any]:
        """Run ``call`` in this process (short work), recording its outcome like a command's."""
        record: dict[str, Any] = {"name": name}
        self.records.append(record)
        started = time.monotonic()
        try:
            record["result"] = call()
            record["status"] = "ok"
        except (DataError, OSError, ValueError) as error:
            record.update(status="failed", error=f"{type(error).__name__}: {error}")
        record["seconds"] = round(time.monotonic() - started, 1)
        self.log.line(f"[{record['status']}] {name} in {record['seconds']:.0f} s {record.get('error', '')}")
        return record


def run_group(
    command: list[str], timeout: float, log: IO[str], env: dict[str, str], stdin: bytes | None = None
) -> int | None:
    """Exit status of ``command``, or None if it ran past ``timeout`` and was stopped with its children
    (its own process group: compile workers and training processes included)."""
    log.flush()
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    if stdin is not None:
        process.stdin.write(stdin)
        process.stdin.close()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
                break
            except subprocess.TimeoutExpired:
                continue
        process.wait()
        return None


# -- bench ---------------------------------------------------------------------------------------------


def selected(session: Session, name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in session.args.items.split(","))


def _script(name: str) -> list[str]:
    return [sys.executable, str(REPO / "benchmarks" / name)]


def benchmark(session: Session, name: str, script: str, args: list[str], need: float, **extra: Any) -> None:
    """A benchmark script writing ``<name>.json`` and ``<name>.md`` into the scratch folder."""
    if not selected(session, name):
        return
    json_file, md_file = session.work / f"{name}.json", session.work / f"{name}.md"
    command = [*_script(script), *args, "--json", str(json_file), "--out", str(md_file)]
    record = session.run(name, command, need, **extra)
    if record["status"] == "ok":
        record["result"] = json.loads(json_file.read_text())
        record["markdown"] = md_file.read_text()


def _rows(records: list[dict[str, Any]], prefix: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(record, row) of every measured row of the commands named ``prefix...``."""
    return [
        (record, row)
        for record in records
        if record["name"].startswith(prefix) and "result" in record
        for row in record["result"]["rows"]
    ]


def worst_dense_ratio(records: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(record, row) of the subnetwork step slowest relative to the dense step of its table."""
    rows = [
        (r, row)
        for r, row in _rows(records, "step-")
        if row["x_dense"] is not None and row["method"] != "sgd"
    ]
    return max(rows, key=lambda item: item[1]["x_dense"]) if rows else None


def best_resnet18_end_to_end(records: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(record, row) of the fastest end-to-end ResNet-18 subnetwork step."""
    rows = [
        (r, row) for r, row in _rows(records, "e2e-") if row["model"] == "resnet18" and row["method"] != "sgd"
    ]
    return max(rows, key=lambda item: item[1]["images_per_second"]) if rows else None


def profile(
    session: Session, name: str, found: tuple[dict[str, Any], dict[str, Any]], data: list[str]
) -> None:
    """The profiler table of ``found``'s model and method beside the dense step, in ``found``'s variant."""
    record, row = found
    s = session.sizes
    args = [*s.step_args, *record["flags"], *data, *s.profile_args]
    args += ["--models", row["model"], "--methods", f"sgd,{row['method']}", "--profile"]
    benchmark(session, name, "train_step.py", args, s.needs["profile"], flags=record["flags"])


def bench(session: Session) -> None:
    s = session.sizes
    if s.gpu_tests and selected(session, "gpu-tests"):
        # The CUDA tests only: the rehearsal tests in the same file would spend the budget on the CPU.
        tests = [
            sys.executable,
            "-m",
            "pytest",
            "tests/iterand/engine/test_gpu.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
        tests += ["-k", "not session"]
        session.run("gpu-tests", tests, s.needs["gpu-tests"])
    models = ["--models", ",".join(s.bench_models)]
    e2e = ["--models", ",".join(s.e2e_models), "--data", s.data, *s.e2e_args]
    for variant, flags in s.variants:
        args = [*s.step_args, *flags, *models]
        benchmark(session, f"step-{variant}", "train_step.py", args, s.needs["step"], flags=flags)
    variant, flags = s.variants[0]  # the training default: bf16 autocast and channels-last on a GPU
    args = [*s.step_args, *flags, *e2e]
    benchmark(session, f"e2e-{variant}", "train_step.py", args, s.needs["e2e"], flags=flags)
    args = ["--data", s.data, *s.pipeline_args]
    benchmark(session, "data-pipeline", "data_pipeline.py", args, s.needs["data-pipeline"])
    worst = worst_dense_ratio(session.records)
    if worst is not None and (session.args.tiny or worst[1]["x_dense"] > MAX_DENSE_RATIO):
        profile(session, "profile-worst-ratio", worst, [])
    for variant, flags in s.compiled:
        for model in s.bench_models:  # one compilation per command, so the budget can stop between them
            args = [*s.step_args, *flags, "--models", model]
            benchmark(
                session, f"step-{variant}-{model}", "train_step.py", args, s.needs["compile"], flags=flags
            )
    best = best_resnet18_end_to_end(session.records)
    if best is not None and best[1]["images_per_second"] < MIN_RESNET18_IMAGES_PER_SECOND:
        if s.compiled:
            variant, flags = s.compiled[0]
            args = [*s.step_args, *flags, "--models", "resnet18", "--data", s.data, *s.e2e_args]
            benchmark(session, f"e2e-{variant}", "train_step.py", args, s.needs["compile"], flags=flags)
        best = best_resnet18_end_to_end(session.records)
        if best[1]["images_per_second"] < MIN_RESNET18_IMAGES_PER_SECOND:
            profile(session, "profile-resnet18-e2e", best, ["--data", s.data, *s.e2e_args])


# -- training runs -------------------------------------------------------------------------------------


def _training_overrides(session: Session) -> list[str]:
    return [*session.sizes.overrides, *(["compile=true"] if session.args.compile else [])]


def _data_root(session: Session) -> str | None:
    return None if session.args.tiny else session.sizes.data


def prepare_data(session: Session) -> None:
    """Decode the CIFAR-10 copy into the cache once, before several processes would each decode it."""
    if session.args.tiny:
        return
    config = build_config(RATE_PRESET, data_root=session.sizes.data)
    session.step("prepare-cifar10", lambda: prepare(config))


def conv6_rate(session: Session) -> None:
    """A few epochs of the real training command at width 1: seconds per epoch, extrapolated to 100."""
    overrides = [*_training_overrides(session), *session.sizes.rate_overrides]
    config = build_config(RATE_PRESET, data_root=_data_root(session), overrides=overrides)
    out = session.runs
    command = [sys.executable, "-m", "iterand", "train", "--preset", RATE_PRESET, "--out", str(out)]
    if _data_root(session) is not None:
        command += ["--data-root", _data_root(session)]
    command += [arg for item in overrides for arg in ("--set", item)]
    need = 0 if session.args.tiny else 60
    record = session.run("conv6-rate", command, need, run=run_name(config))
    metrics = read_metrics(RunFiles(out / run_name(config)).metrics)
    if record["status"] == "ok" and metrics:
        later = [m["seconds"] for m in metrics[1:]] or [metrics[0]["seconds"]]
        epoch = sum(later) / len(later)
        overhead = max(record["seconds"] - sum(m["seconds"] for m in metrics), 0.0)
        record["result"] = {
            "epochs": len(metrics),
            "epoch_seconds": [m["seconds"] for m in metrics],
            "start_and_end_seconds": round(overhead, 1),
            "extrapolated_100_epochs_seconds": round(overhead + PAPER_EPOCHS * epoch, 1),
        }


def fig2_sweep(session: Session) -> sweeps.Sweep:
    seeds = tuple(session.args.seeds.split(","))
    grid = {"width": (FIG2_WIDTH,), "seed": seeds}
    return sweeps.Sweep(
        "fig2-conv6-sc-w025", FIG2_PRESETS, grid, "Fig. 2 Conv6 x0.25: SC edge-popup / IteRand"
    )


def dense_sweep(session: Session) -> sweeps.Sweep | None:
    if not session.args.dense_seeds:
        return None
    grid = {"width": (FIG2_WIDTH,), "seed": tuple(session.args.dense_seeds.split(","))}
    return sweeps.Sweep("fig2-conv6-ku-sgd-w025", (DENSE_PRESET,), grid, "Fig. 2 Conv6 x0.25: dense SGD")


class Packer(threading.Thread):
    """Rewrites ``runs.tar.gz`` in ``out`` every ``PACK_SECONDS`` until stopped (and once more then)."""

    def __init__(self, session: Session, out: Path) -> None:
        super().__init__(daemon=True)
        self.session, self.out, self.done = session, out, threading.Event()

    def run(self) -> None:
        while not self.done.wait(PACK_SECONDS):
            pack_runs(self.session, self.out)

    def stop(self) -> None:
        self.done.set()
        self.join()


def fig2_w025(session: Session) -> None:
    root = _data_root(session)
    overrides = [
        *([f"data_root={root}"] if root else []),
        *_training_overrides(session),
        *session.sizes.fig2_overrides,
    ]
    chosen = [sweep for sweep in (fig2_sweep(session), dense_sweep(session)) if sweep is not None]
    # One child per sweep, each running all its runs at once (processes sharing the one GPU), started
    # together so that the budget stops them all at the same time.
    code = (
        "import pickle, sys; from iterand.experiments import launcher; "
        "launcher.run(**pickle.load(sys.stdin.buffer))"
    )
    need = 0  # no cap of three times the usual duration: the runs may use all that is left
    packer = Packer(session, session.out)
    packer.start()
    threads, records = [], []
    try:
        for sweep in chosen:
            count = len(planning.runs(sweep, overrides))
            kwargs = {"sweep": sweep, "out": session.runs, "overrides": overrides, "concurrent": count}
            record = {"name": sweep.name, "concurrent": count}
            thread = threading.Thread(
                target=session.run,
                args=(sweep.name, [sys.executable, "-c", code], need),
                kwargs={"stdin": pickle.dumps(kwargs), "record": record},
            )
            thread.start()
            threads.append(thread)
            records.append((sweep, record))
        for thread in threads:
            thread.join()
    finally:
        packer.stop()
    for sweep, record in records:
        record["runs"] = [run_state(config, session.runs) for config in planning.runs(sweep, overrides)]


def run_state(config: TrainConfig, runs: Path) -> dict[str, Any]:
    files = RunFiles(planning.run_dir(config, runs))
    metrics = read_metrics(files.metrics)
    state: dict[str, Any] = {
        "name": files.root.name,
        "method": config.method,
        "width": config.width,
        "seed": config.seed,
        "status": planning.status(config, runs),
        "epochs_done": len(metrics),
        "last_epoch_seconds": metrics[-1]["seconds"] if metrics else None,
    }
    if files.summary.is_file():
        result = read_json(files.summary)["results"]
        state.update({key: result.get(key) for key in ("test_acc_last", "wall_seconds", "images_per_second")})
    return state


# -- results -------------------------------------------------------------------------------------------


def target_checks(records: list[dict[str, Any]]) -> list[str]:
    """One line per target of the issue that something measured bears on."""
    lines = []
    worst = worst_dense_ratio(records)
    if worst is not None:
        record, row = worst
        verdict = _verdict(row["x_dense"] <= MAX_DENSE_RATIO, row["x_dense"] / MAX_DENSE_RATIO - 1)
        lines.append(
            f"subnetwork step / dense step: worst {row['x_dense']:.2f} ({row['model']} {row['method']}, "
            f"{record['name']}); target <= {MAX_DENSE_RATIO}: {verdict}"
        )
    best = best_resnet18_end_to_end(records)
    if best is not None:
        record, row = best
        speed = row["images_per_second"]
        verdict = _verdict(
            speed >= MIN_RESNET18_IMAGES_PER_SECOND, 1 - speed / MIN_RESNET18_IMAGES_PER_SECOND
        )
        lines.append(
            f"ResNet-18 subnetwork end to end: best {speed:,.0f} images/s ({row['method']}, "
            f"{record['name']}); target >= {MIN_RESNET18_IMAGES_PER_SECOND:,}: {verdict}"
        )
    for record in records:
        if record["name"] == "conv6-rate" and "result" in record:
            result = record["result"]
            seconds = result["extrapolated_100_epochs_seconds"]
            verdict = _verdict(seconds <= MAX_CONV6_RUN_SECONDS, seconds / MAX_CONV6_RUN_SECONDS - 1)
            epochs = ", ".join(f"{x:.1f}" for x in result["epoch_seconds"])
            lines.append(
                f"Conv6 width 1 IteRand, {result['epochs']} epochs of the training command (s per epoch: "
                f"{epochs}; start and end {result['start_and_end_seconds']:.0f} s): 100 epochs would take "
                f"{seconds:.0f} s; target < {MAX_CONV6_RUN_SECONDS} s: {verdict}"
            )
    return lines


def _verdict(met: bool, by: float) -> str:
    return "met" if met else f"missed by {by:.0%}"


def pack_runs(session: Session, out: Path) -> None:
    """``runs.tar.gz``: the small files of every run directory and the results tables (no checkpoints)."""
    tables = session.work / "tables"
    if session.runs.is_dir():
        rows = results.collect(session.runs)
        if rows:
            results.write_results(rows, tables / "results.csv")
    partial = out / "runs.tar.gz.partial"  # replaced in one step: a cut-off call never leaves half a file
    with tarfile.open(partial, "w:gz") as tar:
        for path in sorted(session.runs.glob("*/*")) if session.runs.is_dir() else []:
            if path.name in RUN_FILES:
                tar.add(path, arcname=f"{path.parent.name}/{path.name}")
        for path in sorted(tables.glob("*.csv")) if tables.is_dir() else []:
            tar.add(path, arcname=path.name)
    partial.replace(out / "runs.tar.gz")


def write_outputs(session: Session, out: Path, started: float) -> list[str]:
    checks = target_checks(session.records)
    if session.args.tiny and checks:
        checks.insert(0, "tiny rehearsal on the CPU: none of these numbers is at the targets' setting")
    pack_runs(session, out)
    sections = []
    for record in session.records:
        if "markdown" in record:
            sections.append(f"## {record['name']} ({record['seconds']:.0f} s)\n\n{record['markdown']}")
    sections.append("## Targets\n\n" + "\n".join(f"- {line}" for line in checks or ["nothing measured"]))
    (out / "bench.md").write_text("\n".join(sections) + "\n")
    report = {
        "stages": session.args.stages,
        "tiny": session.args.tiny,
        "budget_seconds": session.args.budget,
        "seconds": round(time.monotonic() - started, 1),
        "environment": environment(resolve_device("auto")),
        "targets": checks,
        "items": [{k: v for k, v in r.items() if k != "markdown"} for r in session.records],
    }
    (out / "session.json").write_text(json.dumps(report, indent=2) + "\n")
    return checks


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stages", nargs="+", choices=STAGES)
    parser.add_argument(
        "--budget", type=float, help="wall-clock seconds for everything (default 540; tiny 600)"
    )
    parser.add_argument("--tiny", action="store_true", help="rehearse on the CPU at a tiny size")
    parser.add_argument("--out", type=Path, help="results folder (default $OUT, else a new temporary folder)")
    parser.add_argument("--data-root", default=DEFAULT_DATA, help=f"CIFAR-10 copy (default {DEFAULT_DATA})")
    parser.add_argument("--items", default="*", help="bench: comma-separated name patterns (default all)")
    parser.add_argument("--seeds", default="1,2,3", help="fig2-w025: seeds of edge-popup and IteRand")
    parser.add_argument("--dense-seeds", default="", help="fig2-w025: seeds of dense SGD (default none)")
    parser.add_argument("--compile", action="store_true", help="training runs: torch.compile the model")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    if args.budget is None:
        args.budget = 600 if args.tiny else 540
    env_out = os.environ.get("OUT")
    out = args.out or (Path(env_out) if env_out else Path(tempfile.mkdtemp(prefix="gpu-session-out-")))
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock(args.budget, 0 if args.tiny else RESERVE_SECONDS)
    stages = {"bench": bench, "conv6-rate": conv6_rate, "fig2-w025": fig2_w025}
    with tempfile.TemporaryDirectory(prefix="gpu-session-work-", ignore_cleanup_errors=True) as work:
        session = Session(args, sizes(args), clock, Log(out / "session.log"), Path(work), out)
        session.log.line(f"stages {' '.join(args.stages)}, budget {args.budget:.0f} s, results in {out}")
        try:
            prepare_data(session)
            for stage in args.stages:
                stages[stage](session)
        finally:  # whatever happened, what was measured reaches $OUT
            checks = write_outputs(session, out, started)
    session.log.line("")
    for record in session.records:
        session.log.line(f"{record['status']:<8} {record['seconds']:>6.0f} s  {record['name']}")
    for record in session.records:
        for state in record.get("runs", []):
            accuracy = state.get("test_acc_last")
            session.log.line(
                f"{state['status']:<11} {state['method']:<9} w{state['width']:g} s{state['seed']} "
                f"{state['epochs_done']:>3} epochs  test acc {'-' if accuracy is None else f'{accuracy:.2f}'}"
            )
    for line in checks:
        session.log.line(line)
    session.log.line(f"results in {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")
    session.log.file.close()
    return 1 if any(record["status"] == "failed" for record in session.records) else 0


if __name__ == "__main__":
    sys.exit(main())
