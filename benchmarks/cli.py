"""``python -m benchmarks``: what each section runs in which worker, the ratios it reports, and the command line.

TensorFlow runs in two workers side by side, ``TF_ENABLE_ONEDNN_OPTS=0`` (Eigen's kernels, the default on CPUs
without AVX-512 VNNI/BF16 or AMX) and ``=1`` (oneDNN's); each process-wide setting (:data:`PROCESS_WIDE`) in its own
worker with oneDNN on; PyTorch and onnxruntime in the peers' worker. A section's candidates run interleaved. Nothing
here imports TensorFlow. Each section records the load average around it and the CPU other processes took
(:class:`benchmarks.machine.OtherLoad`); the report judges a target only where that stayed below its threshold.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from absl import app, flags

from benchmarks import machine, report, timing, workers
from benchmarks.settings import APPLICATIONS, FOLDED, FULL, TINY, Settings
from benchmarks.trace import VERBOSE_ENV
from keras_resnet import cpu

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("training", "inference", "litert", "scaling", "gpu")
STATES = ("off", "on")
FROZEN = {"TF_ONEDNN_ASSUME_FROZEN_WEIGHTS": "1"}  # oneDNN keeps reordered weights across calls
#: Process-wide settings, a worker each (oneDNN on): label -> (environment, worker setup, sections that time it).
PROCESS_WIDE: dict[str, tuple[dict[str, str], dict[str, Any], tuple[str, ...]]] = {
    "1 inter-op thread": ({}, {"inter_op": 1}, ("training", "inference")),
    "1 intra-op thread": ({}, {"intra_op": 1}, ("training", "inference")),
    "threads pinned to cores": ({}, {"pin": True}, ("training", "inference")),
    "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1": (FROZEN, {}, ("inference",)),
    "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1, 1 inter-op thread": (FROZEN, {"inter_op": 1}, ("inference",)),
    "ONEDNN_PRIMITIVE_CACHE_CAPACITY=4096": ({"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "4096"}, {}, ("inference",)),  # 4x
    "XLA_FLAGS=--xla_cpu_use_onednn=true": ({"XLA_FLAGS": "--xla_cpu_use_onednn=true"}, {}, ("xla",)),
    "XLA_FLAGS=--xla_cpu_use_xnnpack=true": ({"XLA_FLAGS": "--xla_cpu_use_xnnpack=true"}, {}, ("xla",)),
}
TRAINING_VARIANTS = ("", ", channels_first", ", steps_per_execution 8", ", mixed_bfloat16")  # benchmarks.training's
Log = Callable[[str], None]

FLAGS = flags.FLAGS
flags.DEFINE_bool("tiny", False, "Tiny sizes, no process-wide or slow-to-compile candidates: a smoke test.")
flags.DEFINE_list("sections", list(SECTIONS[:-1]), f"Sections to run, any of {SECTIONS} (gpu needs an NVIDIA GPU).")
flags.DEFINE_integer("windows", None, "Timed windows per candidate (default 5; tiny 2).", lower_bound=1)
flags.DEFINE_float("window_seconds", None, "Target seconds per window (default 2).", lower_bound=1e-3)
flags.DEFINE_bool("torch_compile", None, "Include the torch.compile candidates (default: yes; tiny: no).")
flags.DEFINE_bool("from_json", False, "Measure nothing: rewrite --markdown from --json (e.g. of an interrupted run).")
flags.DEFINE_string("markdown", str(ROOT / "BENCHMARKS.md"), "Where to write the report.")
flags.DEFINE_string("json", str(ROOT / "benchmarks" / "results.json"), "Where to write the raw results.")
flags.register_validator("sections", lambda names: set(names) <= set(SECTIONS) and bool(names),
                         f"--sections must be a non-empty comma-separated list of {', '.join(SECTIONS)}")


def tensorflow(pool: workers.Pool, state: str) -> workers.Worker:
    return pool.get(f"oneDNN {state}", {cpu.ONEDNN_ENV: str(int(state == "on"))})


def peers(pool: workers.Pool) -> workers.Worker:
    """PyTorch's and onnxruntime's worker (oneDNN's verbose lines, when PyTorch turns them on, carry start times)."""
    return pool.get("peers", {"ONEDNN_VERBOSE_TIMESTAMP": "1"})


def _process_wide(pool: workers.Pool, settings: Settings, section: str) -> list[tuple[workers.Worker, str]]:
    """The process-wide workers ``section`` times (none unless ``settings.process_wide``), with their labels."""
    return [(pool.get(f"oneDNN on, {label}", {cpu.ONEDNN_ENV: "1", **env}, **setup), label)
            for label, (env, setup, used) in PROCESS_WIDE.items() if settings.process_wide and
            (section in used or (section == "training" and settings.xla and "xla" in used))]


def _against(rows: list[dict[str, Any]], plain: str) -> dict[str, float]:
    """Each keras_resnet row (and the command line's path) over the plain ``plain`` row of its oneDNN state."""
    base = {r["name"]: f"{plain}, oneDNN {r['onednn']}" for r in rows if r.get("onednn") and r["framework"] != "keras"}
    return {name: timing.ratio(rows, {"name": name}, {"name": b})["ratio"] for name, b in base.items() if name != b}


def training(pool: workers.Pool, settings: Settings, log: Log) -> dict[str, Any]:
    """ResNet-20 ``fit``: every candidate interleaved, the ratios, and where the time goes."""
    batch, factory, steps = settings.train_batch, "benchmarks.training:keras_candidates", settings.trace_steps
    requests = [(tensorflow(pool, s), factory, {
        "batch": batch, "tag": f"oneDNN {s}", "info": {"onednn": s},
        "variants": TRAINING_VARIANTS + (" + XLA",) * settings.xla if s == "on" else ("", ", mixed_bfloat16"),
        "user_path_batches": settings.user_path_batches if s == "on" else ()}) for s in STATES]
    requests += [(worker, factory, {"batch": batch, "tag": worker.label, "info": {"onednn": "on", "process": label},
                                    "variants": (" + XLA",) if label.startswith("XLA") else ("",)})
                 for worker, label in _process_wide(pool, settings, "training")]
    requests += [(pool.get(f"KERAS_BACKEND={b}", {"KERAS_BACKEND": b}), factory,  # Keras' jit_compile="auto" on CPU
                  {"batch": batch, "tag": f"KERAS_BACKEND={b}", "info": {"backend": b},
                   "variants": (" + XLA",) if b == "jax" else ("",)}) for b in settings.backends]
    requests.append((peers(pool), "benchmarks.training:torch_candidates",
                     {"batch": batch, "compiled": settings.torch_compile}))
    log(f"training: CIFAR ResNet-20, batch {batch}, {len(requests)} workers")
    measured = timing.interleaved(workers.load(requests), settings.windows, settings.window_seconds,
                                  settings.warmup, log)
    flops = tensorflow(pool, "on").call("benchmarks.training:flops")
    rows, default = timing.rows(measured, flops), "on" if cpu.onednn_by_default() else "off"
    out: dict[str, Any] = {"batch": batch, "flops_per_image": flops, "rows": rows, "onednn_default": default}
    for key, precision in (("ratios", "fp32"), ("ratios_bf16", "bf16")):
        out[key] = {s: timing.ratio(rows, {"framework": "keras_resnet", "precision": precision, "onednn": s},
                                    {"framework": "torch", "precision": precision}) for s in STATES}
    out["against_plain"] = _against(rows, "keras_resnet fit")
    out["backends"] = {b: timing.ratio(rows, {"backend": b}, {"name": f"keras_resnet fit, oneDNN {default}"})["ratio"]
                       for b in settings.backends}
    log("training: where the time goes")
    out["profiles"] = [tensorflow(pool, s).call("benchmarks.trace:profile", name=f"keras_resnet fit, oneDNN {s}",
                                                steps=steps) for s in STATES]
    out["profiles"].append(peers(pool).call("benchmarks.trace:profile", name="torch channels_last", steps=steps))
    pool.drop()
    verbose = pool.get("oneDNN on, verbose log", {cpu.ONEDNN_ENV: "1", **VERBOSE_ENV})
    workers.load([(verbose, factory, {"batch": batch, "tag": "oneDNN on", "info": {"onednn": "on"}}),
                  (peers(pool), "benchmarks.training:torch_candidates", {"batch": batch, "compiled": False})])
    out["onednn_logs"] = [worker.call("benchmarks.trace:onednn_log", name=name, steps=steps) for worker, name in
                          ((verbose, "keras_resnet fit, oneDNN on"), (peers(pool), "torch channels_last"))]
    pool.close(verbose.label)  # its log would fill later sections' output
    pool.drop()
    return out


def inference(pool: workers.Pool, settings: Settings, log: Log, cores: int) -> dict[str, Any]:
    """ResNet-50 inference per batch size: every candidate interleaved, the ratios, and where the time goes."""
    folder, factory = tempfile.TemporaryDirectory(prefix="keras_resnet_inference_"), "benchmarks.inference:"
    with folder:
        log(f"inference: ResNet-50 at {settings.inference_size}x{settings.inference_size}, weights and references")
        flops = tensorflow(pool, "on").call(factory + "prepare", folder=folder.name, size=settings.inference_size,
                                            batches=settings.inference_batches)
        out: dict[str, Any] = {"image_size": settings.inference_size, "flops_per_image": flops}
        for batch in settings.inference_batches:
            common = {"folder": folder.name, "batch": batch}
            requests = [(tensorflow(pool, s), factory + "keras_candidates",
                         {**common, "tag": f"oneDNN {s}", "info": {"onednn": s},
                          "variants": settings.inference_variants if s == "on" else (FOLDED, APPLICATIONS)})
                        for s in STATES]
            requests += [(w, factory + "keras_candidates", {**common, "tag": w.label,
                                                            "info": {"onednn": "on", "process": label}})
                         for w, label in _process_wide(pool, settings, "inference")]
            requests.append((peers(pool), factory + "peer_candidates",
                             {**common, "threads": cores, "torch_compile": settings.torch_compile}))
            log(f"inference: batch {batch}")
            rows = timing.rows(timing.interleaved(workers.load(requests), settings.windows, settings.window_seconds,
                                                  settings.warmup, log), flops)
            out[f"batch_{batch}"] = {"rows": rows, "against_plain": _against(rows, FOLDED), "ratios": {s: {
                peer: timing.ratio(rows, {"framework": "keras_resnet", "onednn": s},
                                   {"framework": peer, **({"onednn": s} if peer == "keras" else {})})
                for peer in ("keras", "torch", "onnxruntime")} for s in STATES}}
            if batch == max(settings.inference_batches):
                out["profiles"] = [tensorflow(pool, s).call("benchmarks.trace:profile", name=f"{FOLDED}, oneDNN {s}",
                                                            steps=settings.trace_steps) for s in STATES]
            pool.drop()
    return out


def run(settings: Settings, names: list[str], command: str, json_path: Path, log: Log) -> dict[str, Any]:
    """The sections ``names`` in turn, each with its load record; ``json_path`` is rewritten after each."""
    started, clock = datetime.datetime.now(datetime.timezone.utc), time.perf_counter()
    description = machine.describe(settings.gemm_size)
    log(f"machine: {cpu.summary()}; {description['peak_formula']}")
    results: dict[str, Any] = {"command": command, "started": started.strftime("%Y-%m-%d %H:%M UTC"),
                               "settings": dataclasses.asdict(settings), "versions": machine.versions(),
                               "machine": description, "load_average": {}, "other_cpu_share": {}}
    pool, cores = workers.Pool(), description["physical_cores"]
    sections = {"training": lambda: training(pool, settings, log),
                "inference": lambda: inference(pool, settings, log, cores),
                "litert": lambda: tensorflow(pool, "on").call("benchmarks.litert:run", settings=settings),
                "scaling": lambda: pool.get("oneDNN on, 2 logical CPUs", {cpu.ONEDNN_ENV: "1"}, logical_cpus=2).call(
                    "benchmarks.scaling:run", settings=settings, cores=cores),
                "gpu": lambda: tensorflow(pool, "on" if cpu.onednn_by_default() else "off").call(
                    "benchmarks.gpu:run", settings=settings)}
    try:
        for name in (n for n in SECTIONS if n in names):
            before, other = os.getloadavg(), machine.OtherLoad(lambda: [w.pid for w in pool.workers.values()])
            results[name] = sections[name]()
            results["other_cpu_share"][name] = other.share()
            results["load_average"][name] = {"before": [round(v, 2) for v in before],
                                             "after": [round(v, 2) for v in os.getloadavg()]}
            _write(json_path, json.dumps(results, indent=2) + "\n")  # an interrupted run keeps its sections
    finally:
        pool.close()
    return {**results, "duration_s": round(time.perf_counter() - clock, 1)}


def _write(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one step (a reader never sees half a file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def finish(results: dict[str, Any], markdown: Path) -> None:
    """Judge the targets, write ``markdown`` (keeping its hand-written part) and print the targets."""
    results["targets"] = report.targets(results)
    _write(markdown, report.render(results, report.kept(markdown.read_text()) if markdown.exists() else None))
    for t in results["targets"]:
        print(f"{t['name']}: {t['ratio']:.2f}x (target >= {t['target']:.1f}x) {t['verdict']}")


def settings_from_flags() -> Settings:
    """The full or tiny settings with the flags' windows, window length and torch.compile choice."""
    chosen = {"windows": FLAGS.windows, "window_seconds": FLAGS.window_seconds, "torch_compile": FLAGS.torch_compile}
    return dataclasses.replace(TINY if FLAGS.tiny else FULL, **{k: v for k, v in chosen.items() if v is not None})


def main(argv: list[str]) -> int:
    """Run the sections (or, with --from_json, only re-render), then write the JSON and the Markdown report."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    json_path, markdown = Path(FLAGS.json), Path(FLAGS.markdown)
    for flag, path in (("json", json_path), ("markdown", markdown)):
        if not path.parent.is_dir():
            raise app.UsageError(f"--{flag} must be a file in an existing directory; received {path}")
    if FLAGS.from_json:
        finish(json.loads(json_path.read_text()), markdown)
        return 0
    settings, clock = settings_from_flags(), time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - clock:6.0f} s] {message}", flush=True)

    command = shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]])
    results = run(settings, FLAGS.sections, command, json_path, log)
    finish(results, markdown)
    _write(json_path, json.dumps(results, indent=2) + "\n")
    log(f"wrote {markdown} and {json_path}")
    return 0
