"""The work of one call to the GPU machine, in stages that each fit its 10-minute limit; results go to $OUT.

    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_session.py bench --budget 480
    PYTHONUNBUFFERED=1 python3 benchmarks/gpu_session.py conv6-time conv6-fig2 --budget 540
    python benchmarks/gpu_session.py bench conv6-time conv6-fig2 --tiny      # the rehearsal on a CPU

Stages, run in the order given, share one wall-clock budget (``--budget`` seconds): every command gets at
most what is left (minus a reserve for packing the results), is stopped with its whole process group when
that runs out, and a command that would start with less than its usual duration left is skipped. Stopped
and skipped commands are listed as such; the results of everything else still reach $OUT.

- ``bench``: the sync-debug GPU tests (``tests/iterand/engine/test_gpu.py``); ``train_step.py`` for Conv6,
  ResNet-18 (CIFAR shapes) and ResNet-50 (ImageNet shapes) x dense / edge-popup / IteRand in eager mode,
  fp32 and bf16 autocast, contiguous and channels-last; the end-to-end step through the CIFAR-10 loader
  (``--data``); ``data_pipeline.py``; a profiler table of the worst subnetwork / dense ratio (and of the
  ResNet-18 end-to-end step when it misses 25,000 images/s); then torch.compile variants, the most
  useful first, as long as the budget lasts. ``--items`` picks commands by name (shell patterns).
- ``conv6-time``: one 100-epoch Conv6 width-1 IteRand run (``fig2-conv6-sc-iterand``), timed from the
  command's start to its end (data from the decoded cache, training, evaluation, checkpoints).
- ``conv6-fig2``: the Fig. 2 Conv6 runs of one seed: edge-popup and IteRand (SC) and dense SGD at widths
  0.25, 0.5, 1, 2 (``--widths``; 12 runs of 100 epochs), all at once on the one GPU (``--concurrent``
  caps that). They need about 20 minutes of GPU time together: ``benchmarks/README.md`` has the
  estimate and the plan of calls.

Resuming across calls. Each call gets a fresh machine and only $OUT comes back, so checkpoints cannot
carry a run into the next call: a run either finishes within its call or starts over in a later one.
Finished runs do carry over: ``runs.tar.gz`` holds each run's config, metrics and summary; extracted into
``--previous`` (default ``benchmarks/results/conv6-fig2``), which travels with the working tree, they are
copied into the sweep's folder next time, and the sweep skips them. So the same command, issued again,
trains only what is missing. With every run started at once, the cheap ones finish first, and a run cut
off by the budget leaves its partial ``metrics.jsonl`` (epochs done, seconds per epoch) for planning.

The CIFAR-10 copy is read from ``--data-root`` (default ``.device/cifar10-jpeg.tar.gz``) and decoded once
per call, before anything else uses it.

Files in $OUT (``--out``; a new temporary folder when neither is set):

- ``session.log``: every command and its output;
- ``session.json``: per command its status (ok, failed, timeout, skipped), seconds and parsed results;
  the environment; the target checks; the state of every sweep run;
- ``bench.md``: the benchmark tables and profiles, then the target checks;
- ``runs.tar.gz``: per run ``<run name>/{config.yaml,metrics.jsonl,summary.json,train.log}`` and the
  ``results*.csv`` tables of ``iterand.experiments.results`` (never checkpoints).

``--tiny`` rehearses every stage on the CPU in seconds: synthetic data, Conv6 width 0.25, batch 8, one
step per epoch, one epoch; no compilation and no GPU tests.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
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

STAGES = ("bench", "conv6-time", "conv6-fig2")
DEFAULT_DATA = ".device/cifar10-jpeg.tar.gz"
DEFAULT_PREVIOUS = REPO / "benchmarks" / "results" / "conv6-fig2"
TIME_PRESET = "fig2-conv6-sc-iterand"
FIG2_PRESETS = ("fig2-conv6-sc-edgepopup", "fig2-conv6-sc-iterand", "fig2-conv6-ku-sgd")
RUN_FILES = ("config.yaml", "metrics.jsonl", "summary.json", "train.log")
RESERVE_SECONDS = 30  # kept back from the budget: stopping a command, packing the results
STOP_GRACE_SECONDS = 10  # between SIGTERM and SIGKILL of a stopped command
# Targets of the issue, checked on what was measured.
MAX_DENSE_RATIO = 1.15
MIN_RESNET18_IMAGES_PER_SECOND = 25_000
MAX_CONV6_RUN_SECONDS = 120
# (name, train_step flags) of each variant, the most useful first: the budget may cut the tail.
EAGER = [
    ("eager-amp-cl", ["--amp", "--channels-last"]),
    ("eager-fp32", []),
    ("eager-amp", ["--amp"]),
    ("eager-fp32-cl", ["--channels-last"]),
]
COMPILED = [(name.replace("eager", "compile"), [*flags, "--compile"]) for name, flags in EAGER]
BENCH_MODELS = ("conv6", "resnet18", "resnet50")
E2E_MODELS = ("conv6", "resnet18")
# Seconds a command usually needs on the H100 (a guess until measured): it is skipped with less left, and
# stopped after three times as long.
NEEDS = {"gpu-tests": 120, "step": 60, "e2e": 60, "data-pipeline": 30, "profile": 45, "compile": 240}


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
    widths: tuple[str, ...]  # conv6-fig2
    time_width: str  # conv6-time
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
            widths=("0.25",),
            time_width="0.25",  # that of a conv6-fig2 run, which then reuses this one
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
        widths=tuple(args.widths.split(",")),
        time_width="1",
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
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def runs(self) -> Path:
        return self.work / "runs"

    def child_env(self) -> dict[str, str]:
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        return {**os.environ, **self.sizes.env, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}

    def run(
        self, name: str, command: list[str], need: float, stdin: bytes | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Run ``command`` in its own process group within the budget; its record (also kept)."""
        record: dict[str, Any] = {"name": name, "command": " ".join(command), **extra}
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
        tests = [
            sys.executable,
            "-m",
            "pytest",
            "tests/iterand/engine/test_gpu.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ]
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
    if worst is not None:
        profile(session, "profile-worst-ratio", worst, [])
    if s.compiled:
        variant, flags = s.compiled[0]
        args = [*s.step_args, *flags, *e2e]
        benchmark(session, f"e2e-{variant}", "train_step.py", args, s.needs["compile"], flags=flags)
    best = best_resnet18_end_to_end(session.records)
    if best is not None and best[1]["images_per_second"] < MIN_RESNET18_IMAGES_PER_SECOND:
        profile(session, "profile-resnet18-e2e", best, ["--data", s.data, *s.e2e_args])
    for variant, flags in s.compiled:
        for model in s.bench_models:  # one compilation per command, so the budget can stop between them
            args = [*s.step_args, *flags, "--models", model]
            benchmark(
                session, f"step-{variant}-{model}", "train_step.py", args, s.needs["compile"], flags=flags
            )


# -- training runs -------------------------------------------------------------------------------------


def adopt(run_dir: Path, runs: Path) -> bool:
    """Copy a finished run's small files into ``runs`` (unless it holds that run finished already)."""
    target = runs / run_dir.name
    if not (run_dir / "summary.json").is_file() or (target / "summary.json").is_file():
        return False
    target.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, target / name)
    return True


def _training_overrides(session: Session) -> list[str]:
    return [*session.sizes.overrides, *(["compile=true"] if session.args.compile else [])]


def _data_root(session: Session) -> str | None:
    return None if session.args.tiny else session.sizes.data


def prepare_data(session: Session) -> None:
    """Decode the CIFAR-10 copy into the cache once, before several processes would each decode it."""
    if session.args.tiny:
        return
    config = build_config(TIME_PRESET, data_root=session.sizes.data)
    session.step("prepare-cifar10", lambda: prepare(config))


def conv6_time(session: Session) -> None:
    overrides = [*_training_overrides(session), f"width={session.sizes.time_width}"]
    config = build_config(TIME_PRESET, data_root=_data_root(session), overrides=overrides)
    out = session.work / "conv6-time"
    command = [sys.executable, "-m", "iterand", "train", "--preset", TIME_PRESET, "--out", str(out)]
    if _data_root(session) is not None:
        command += ["--data-root", _data_root(session)]
    command += [arg for item in overrides for arg in ("--set", item)]
    need = 0 if session.args.tiny else 3 * MAX_CONV6_RUN_SECONDS
    record = session.run("conv6-time", command, need, run=run_name(config))
    summary = RunFiles(out / run_name(config)).summary
    if record["status"] == "ok" and summary.is_file():
        record["result"] = read_json(summary)["results"]
        adopt(summary.parent, session.runs)


def fig2_sweep(session: Session) -> sweeps.Sweep:
    grid = {"width": session.sizes.widths, "seed": tuple(session.args.seeds.split(","))}
    return sweeps.Sweep(
        "fig2-conv6-sc", FIG2_PRESETS, grid, "Fig. 2 Conv6: SC edge-popup / IteRand, dense SGD"
    )


def conv6_fig2(session: Session) -> None:
    previous = session.args.previous
    if previous is not None and previous.is_dir():
        adopted = [path.name for path in sorted(previous.iterdir()) if adopt(path, session.runs)]
        session.log.line(f"adopted {len(adopted)} finished runs from {previous}")
    sweep = fig2_sweep(session)
    root = _data_root(session)
    overrides = [*([f"data_root={root}"] if root else []), *_training_overrides(session)]
    planned = planning.runs(sweep, overrides)
    pending = [c for c in planned if planning.status(c, session.runs) != "finished"]
    concurrent = max(1, min(session.args.concurrent or len(pending), len(pending)))
    kwargs = {"sweep": sweep, "out": session.runs, "overrides": overrides, "concurrent": concurrent}
    # A child process running launcher.run, so that the budget can stop it with every training process.
    code = (
        "import pickle, sys; from iterand.experiments import launcher; "
        "launcher.run(**pickle.load(sys.stdin.buffer))"
    )
    need = 0 if session.args.tiny else 60
    record = session.run(
        "conv6-fig2", [sys.executable, "-c", code], need, stdin=pickle.dumps(kwargs), concurrent=concurrent
    )
    record["runs"] = [run_state(config, session.runs) for config in planned]


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
        if record["name"] == "conv6-time" and "result" in record:
            seconds, result = record["seconds"], record["result"]
            verdict = _verdict(seconds <= MAX_CONV6_RUN_SECONDS, seconds / MAX_CONV6_RUN_SECONDS - 1)
            lines.append(
                f"Conv6 IteRand run of {result['epochs']} epochs: {seconds:.0f} s end to end (training "
                f"loops {result['train_seconds']:.0f} s); target for 100 epochs, width 1: < "
                f"{MAX_CONV6_RUN_SECONDS} s: {verdict}"
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
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
        for path in sorted(session.runs.glob("*/*")) if session.runs.is_dir() else []:
            if path.name in RUN_FILES:
                tar.add(path, arcname=f"{path.parent.name}/{path.name}")
        for path in sorted(tables.glob("*.csv")) if tables.is_dir() else []:
            tar.add(path, arcname=path.name)


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
    parser.add_argument("--widths", default="0.25,0.5,1,2", help="conv6-fig2: widths (default all four)")
    parser.add_argument("--seeds", default="1", help="conv6-fig2: seeds (default 1)")
    parser.add_argument("--concurrent", type=int, help="conv6-fig2: runs at once (default: all pending)")
    parser.add_argument("--compile", action="store_true", help="training runs: torch.compile the model")
    parser.add_argument(
        "--previous", type=Path, help=f"finished runs to skip (default {DEFAULT_PREVIOUS.relative_to(REPO)})"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    if args.budget is None:
        args.budget = 600 if args.tiny else 540
    if args.previous is None and not args.tiny:
        args.previous = DEFAULT_PREVIOUS
    env_out = os.environ.get("OUT")
    out = args.out or (Path(env_out) if env_out else Path(tempfile.mkdtemp(prefix="gpu-session-out-")))
    out.mkdir(parents=True, exist_ok=True)
    clock = Clock(args.budget, 0 if args.tiny else RESERVE_SECONDS)
    stages = {"bench": bench, "conv6-time": conv6_time, "conv6-fig2": conv6_fig2}
    with tempfile.TemporaryDirectory(prefix="gpu-session-work-", ignore_cleanup_errors=True) as work:
        session = Session(args, sizes(args), clock, Log(out / "session.log"), Path(work))
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
