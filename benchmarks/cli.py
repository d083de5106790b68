"""``python -m benchmarks``: run every benchmark and write BENCHMARKS.md and results.json.

The sections run one after the other in this process; a smoke run (``--tiny``) runs :data:`BESIDE`'s
sections in a forked process at the same time as the others.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import shlex
import sys
import time
from collections.abc import Callable
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import keras_resnet
from benchmarks import inference, litert, machine, onednn, profile, report, scaling, training, worker
from benchmarks.settings import FULL, TINY, Settings
from keras_resnet import distribute

ROOT = Path(__file__).resolve().parents[1]
TRAINING_TARGET = 1.2
TRAINING_BF16_TARGET = 1.0
INFERENCE_TARGET = 1.0
LATENCY_TARGET = 0.9  # batch 1 against onnxruntime
#: With ``settings.side_by_side`` (smoke runs, whose times do not matter) these sections run in a process forked
#: from the benchmark workers' server, at the same time as the others and sharing the cores.
BESIDE = {"litert": litert.run, "scaling": scaling.run, "profile": profile.run}
PACKAGES = ("tensorflow", "keras", "torch", "onnxruntime", "tf2onnx", "ai-edge-litert", "numpy")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes and windows: a smoke test of the plumbing")
    parser.add_argument("--windows", type=int, help="timed windows per candidate (default 5; tiny 2)")
    parser.add_argument("--window-seconds", type=float, help="target seconds per window (default 2)")
    parser.add_argument("--no-torch-compile", action="store_true", help="leave out the torch.compile candidates")
    parser.add_argument("--from-json", action="store_true",
                        help="measure nothing: rewrite the report from --json (e.g. of an interrupted run)")
    parser.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md", help="where to write the report")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results.json",
                        help="where to write the raw results")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings the flags select."""
    settings = TINY if args.tiny else FULL
    overrides: dict[str, Any] = {}
    if args.windows is not None:
        overrides["windows"] = args.windows
    if args.window_seconds is not None:
        overrides["window_seconds"] = args.window_seconds
    if args.no_torch_compile:
        overrides["torch_compile"] = False
    return dataclasses.replace(settings, **overrides)


def _versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target ratio of the issue with its measured value (for the sections that ran)."""
    rows = []
    if "training" in results:
        batch = results["settings"]["train_batch"]
        rows.append((f"training: keras_resnet vs PyTorch (ResNet-20, batch {batch})",
                     "training", results["training"]["ratios"]["torch"], TRAINING_TARGET))
        if "ratios_bf16" in results["training"]:
            rows.append((f"training bfloat16: keras_resnet vs PyTorch (ResNet-20, batch {batch})", "training_bf16",
                         results["training"]["ratios_bf16"]["torch"], TRAINING_BF16_TARGET))
    if "inference" in results:
        inference = results["inference"]
        batches = sorted(int(k.split("_")[1]) for k in inference if k.startswith("batch_"))
        big = f"batch_{batches[-1]}"
        for peer, label in (("keras", "keras.applications"), ("torch", "PyTorch"), ("onnxruntime", "onnxruntime")):
            rows.append((f"inference ResNet-50 {big.replace('_', ' ')}: keras_resnet vs {label}", peer,
                         inference[big]["ratios"][peer], INFERENCE_TARGET))
        if batches[0] == 1 and len(batches) > 1:
            rows.append(("inference ResNet-50 batch 1: keras_resnet vs onnxruntime", "onnxruntime_batch_1",
                         inference["batch_1"]["ratios"]["onnxruntime"], LATENCY_TARGET))
    for model, section in results.get("litert", {}).items():
        for threads, speedup in section["int8_speedup"].items():
            rows.append((f"LiteRT {model} batch 1, {threads} thread(s): int8 vs fp32", "litert", speedup,
                         litert.TARGET_INT8_SPEEDUP))
    return [{"name": n, "kind": k, "ratio": r, "target": t, "met": r >= t} for n, k, r, t in rows]


def finish(results: dict[str, Any], markdown: Path) -> None:
    """Add the scale projection and the targets to ``results``, write ``markdown`` and print the ratios."""
    if "scaling" in results:
        results["scaling"]["projection"] = scaling.projection(
            results["scaling"], results["machine"]["physical_cores"],
            keras_resnet.ResNet50(weights=None, kernel_initializer="zeros").count_params())
    results["targets"] = targets(results)
    markdown.write_text(report.render(results))
    for target in results["targets"]:
        verdict = "met" if target["met"] else "MISSED"
        print(f"{target['name']}: {target['ratio']:.2f}x (target >= {target['target']:.1f}x) {verdict}")


def _write_json(path: Path, results: dict[str, Any]) -> None:
    path.write_text(json.dumps(results, indent=2) + "\n")


def _logger(clock: float) -> Callable[[str], None]:
    """Prints a message after the seconds since ``clock`` (``time.perf_counter``, which all processes share)."""
    def log(message: str) -> None:
        print(f"[{time.perf_counter() - clock:6.0f} s] {message}", flush=True)

    return log


def _beside(names: list[str], settings: Settings, clock: float, channel: Connection) -> None:
    """The forked process's side: run the :data:`BESIDE` sections ``names`` in order, sending each one's results
    and the load average after it."""
    distribute.split_cpu(max(scaling.REPLICA_COUNTS))  # before this process's first TensorFlow op
    for name in names:
        channel.send((name, BESIDE[name](settings, _logger(clock)), machine.load_average()))


def main(argv: list[str] | None = None) -> int:
    """Run, then write the JSON and the Markdown report; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.from_json:
        finish(json.loads(args.json.read_text()), args.markdown)
        return 0
    settings = settings_from(args)
    started, clock = datetime.datetime.now(datetime.timezone.utc), time.perf_counter()
    load_start, other_load = machine.load_average(), machine.OtherLoad()

    distribute.split_cpu(max(scaling.REPLICA_COUNTS))  # before any TensorFlow op: the scaling benchmark's replicas
    log = _logger(clock)
    description = machine.describe()
    log("machine: " + description["peak_formula"])
    description.update(gemm_gflops=round(machine.measured_gemm_gflops(settings.gemm_size), 1),
                       gemm_size=settings.gemm_size)
    results: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]),
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "settings": dataclasses.asdict(settings), "versions": _versions(), "machine": description,
        "load_average_start": load_start, "load_average_after": {}, "other_cpu_share": {},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    sections = {"training": lambda: training.run(settings, log),
                "inference": lambda: inference.run(settings, description["physical_cores"], log),
                **{name: functools.partial(run, settings, log) for name, run in BESIDE.items()},
                "onednn": lambda: onednn.run(settings, log)}
    beside = list(BESIDE) if settings.side_by_side else []
    if beside:
        channel, child_end = worker.pipe()
        process, beside_load = worker.fork(_beside, beside, settings, clock, child_end), machine.OtherLoad()
        child_end.close()
    for name, section in sections.items():
        if name in beside:
            continue
        results[name] = section()
        results["load_average_after"][name] = machine.load_average()
        results["other_cpu_share"][name] = other_load.share()
        _write_json(args.json, results)  # partial results survive an interrupted run (see --from-json)
    if beside:
        for _ in beside:
            name, results[name], results["load_average_after"][name] = worker.receive(
                channel, process, "the side-by-side sections' process")
        process.join()
        results["other_cpu_share"].update(dict.fromkeys(beside, beside_load.share()))  # over their whole process
        for key in ("load_average_after", "other_cpu_share"):
            results[key] = {name: results[key][name] for name in sections}
    results["duration_s"] = round(time.perf_counter() - clock, 1)
    finish(results, args.markdown)
    _write_json(args.json, results)
    log(f"wrote {args.markdown} and {args.json}")
    return 0
