"""``python -m benchmarks``: what each section runs in which worker, the ratios it reports, and the command line.

TensorFlow runs with ``TF_ENABLE_ONEDNN_OPTS=0`` (Eigen's kernels, the default on CPUs without AVX-512 VNNI/BF16 or
AMX) and ``=1`` side by side, each process-wide setting (:data:`PROCESS_WIDE`) in a worker of its own, PyTorch and
onnxruntime in another (``--tiny``: all but oneDNN off in one). Nothing here imports TensorFlow. The results go to
``benchmarks/results/<CPU kind>.json`` with the CPU other processes took per section; BENCHMARKS.md shows every file.
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

from benchmarks import machine, render, timing, workers
from benchmarks.settings import APPLICATIONS, FOLDED, FULL, TINY, Settings
from keras_resnet import cpu

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("training", "inference", "litert", "scaling")
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
    "XLA_FLAGS=--xla_cpu_use_onednn=true": ({"XLA_FLAGS": "--xla_cpu_use_onednn=true"}, {}, ("training",)),
    "XLA_FLAGS=--xla_cpu_use_xnnpack=true": ({"XLA_FLAGS": "--xla_cpu_use_xnnpack=true"}, {}, ("training",)),
}
#: Workers by role: label, environment, setup (PyTorch and onnxruntime are the peers; the scaling needs 2 CPUs).
ROLES = {"off": ("oneDNN off", {cpu.ONEDNN_ENV: "0"}, {}), "on": ("oneDNN on", {cpu.ONEDNN_ENV: "1"}, {}),
         "peers": ("peers", {}, {}), "replicas": ("oneDNN on, 2 CPUs", {cpu.ONEDNN_ENV: "1"}, {"logical_cpus": 2})}
FIT, PREDICT, PROFILE = "benchmarks.fit_candidates:", "benchmarks.predict_candidates:", "benchmarks.op_profile:profile"
Log = Callable[[str], None]

FLAGS = flags.FLAGS
flags.DEFINE_bool("tiny", False, "Smoke test: every section and ratio once, tiny sizes, two worker processes; unless "
                  "--results is given, it writes to a new temporary folder (never over a real run).")
flags.DEFINE_list("sections", list(SECTIONS), f"Sections to run, any of {SECTIONS}.")
flags.DEFINE_integer("windows", None, "Timed windows per candidate (default 5; tiny 1).", lower_bound=1)
flags.DEFINE_float("window_seconds", None, "Target seconds per window (default 2).", lower_bound=1e-3)
flags.DEFINE_bool("torch_compile", None, "Include the torch.compile candidates (default: yes; tiny: no).")
flags.DEFINE_bool("from_json", False, "Measure nothing: rewrite --markdown from the files in --results.")
flags.DEFINE_string("markdown", str(ROOT / "BENCHMARKS.md"), "Where to write the report.")
flags.DEFINE_string("results", str(ROOT / "benchmarks" / "results"),
                    "Folder of the runs' JSON files, one per CPU kind: this run writes <CPU kind>.json there, and the "
                    "report shows every file in it.")
flags.register_validator("sections", lambda names: set(names) <= set(SECTIONS) and bool(names),
                         f"--sections must be a non-empty comma-separated list of {', '.join(SECTIONS)}")


class Workers:
    """The benchmark's workers by role (:data:`ROLES`), or by label for the process-wide ones; started on first use
    and kept until closed (sections share them). ``settings.shared_workers``: every role but "off" in the "on" one."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.workers = settings, {}

    def get(self, label: str, env: dict[str, str] | None = None, **setup: Any) -> workers.Worker:
        if label not in self.workers:
            self.workers[label] = workers.Worker(label, env, **setup)
        return self.workers[label]

    def role(self, name: str) -> workers.Worker:
        shared = self.settings.shared_workers and name != "off"
        label, env, setup = ROLES["on" if shared else name]
        return self.get(label, env, **(ROLES["replicas"][2] if shared else setup))

    def process_wide(self, section: str) -> list[tuple[workers.Worker, str]]:
        """The process-wide workers ``section`` times (none unless ``settings.process_wide``), with their labels."""
        return [(self.get(f"oneDNN on, {label}", {cpu.ONEDNN_ENV: "1", **env}, **setup), label)
                for label, (env, setup, used) in PROCESS_WIDE.items() if self.settings.process_wide and section in used]

    def drop(self) -> None:
        """Every worker forgets its candidates and their models."""
        for worker in self.workers.values():
            worker.send("drop")
        for worker in self.workers.values():
            worker.receive()

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()


def _against(rows: list[dict[str, Any]], plain: str) -> dict[str, float]:
    """Each keras_resnet row (and the command line's path) over the plain ``plain`` row of its oneDNN state."""
    base = {r["name"]: f"{plain}, oneDNN {r['onednn']}" for r in rows if r.get("onednn") and r["framework"] != "keras"}
    return {name: timing.ratio(rows, {"name": name}, {"name": b})["ratio"] for name, b in base.items() if name != b}


def training(pool: Workers, settings: Settings, log: Log) -> dict[str, Any]:
    """ResNet-20 ``fit``: every candidate interleaved, the ratios, and where the time goes."""
    batch = settings.train_batch

    def keras(worker: workers.Worker, tag: str, info: dict[str, Any], variants: tuple[str, ...], **more: Any) -> tuple:
        return worker, FIT + "keras_candidates", {"batch": batch, "tag": tag, "info": info, "variants": variants,
                                                  **more}

    requests = [keras(pool.role(s), f"oneDNN {s}", {"onednn": s}, settings.training_variants if s == "on" else
                      ("", ", mixed_bfloat16"), user_path_batches=settings.user_path_batches * (s == "on"))
                for s in STATES]
    requests += [keras(w, w.label, {"onednn": "on", "process": label}, (" + XLA" * label.startswith("XLA"),))
                 for w, label in pool.process_wide("training")]
    requests.append((pool.role("peers"), FIT + "torch_candidates", {"batch": batch,
                                                                    "compiled": settings.torch_compile}))
    log(f"training: CIFAR ResNet-20, batch {batch}, {len(requests)} candidate factories")
    rows = timing.rows(timing.interleaved(workers.load(requests), settings.windows, settings.window_seconds,
                                          settings.warmup, log), pool.role("on").call(FIT + "flops"))
    out: dict[str, Any] = {"batch": batch, "rows": rows}
    for key, precision in (("ratios", "fp32"), ("ratios_bf16", "bf16")):
        out[key] = {s: timing.ratio(rows, {"framework": "keras_resnet", "precision": precision, "onednn": s},
                                    {"framework": "torch", "precision": precision}) for s in STATES}
    out["against_plain"] = _against(rows, "keras_resnet fit")
    log("training: where the time goes")
    steps = settings.trace_steps
    out["profiles"] = [pool.role(s).call(PROFILE, name=f"keras_resnet fit, oneDNN {s}", steps=steps)
                       for s in STATES] + [pool.role("peers").call(PROFILE, name="torch channels_last", steps=steps)]
    pool.drop()
    return out


def inference(pool: Workers, settings: Settings, log: Log, cores: int) -> dict[str, Any]:
    """ResNet-50 inference per batch size: every candidate interleaved, the ratios, and where the time goes."""
    with tempfile.TemporaryDirectory(prefix="keras_resnet_inference_") as folder:
        log(f"inference: ResNet-50 at {settings.inference_size}x{settings.inference_size}, weights and references")
        flops = pool.role("on").call(PREDICT + "prepare", folder=folder, size=settings.inference_size,
                                     batches=settings.inference_batches)
        out: dict[str, Any] = {"image_size": settings.inference_size}
        for batch in settings.inference_batches:
            common = {"folder": folder, "batch": batch}
            requests = [(pool.role(s), PREDICT + "keras_candidates", {
                **common, "tag": f"oneDNN {s}", "info": {"onednn": s},
                "variants": settings.inference_variants if s == "on" else (FOLDED, APPLICATIONS)}) for s in STATES]
            requests += [(w, PREDICT + "keras_candidates", {**common, "tag": w.label,
                                                            "info": {"onednn": "on", "process": label}})
                         for w, label in pool.process_wide("inference")]
            requests.append((pool.role("peers"), PREDICT + "peer_candidates",
                             {**common, "threads": cores, "torch_compile": settings.torch_compile}))
            log(f"inference: batch {batch}")
            rows = timing.rows(timing.interleaved(workers.load(requests), settings.windows, settings.window_seconds,
                                                  settings.warmup, log), flops)
            out[f"batch_{batch}"] = {"rows": rows, "against_plain": _against(rows, FOLDED), "ratios": {s: {
                peer: timing.ratio(rows, {"framework": "keras_resnet", "onednn": s},
                                   {"framework": peer, **({"onednn": s} if peer == "keras" else {})})
                for peer in ("keras", "torch", "onnxruntime")} for s in STATES}}
            if batch == max(settings.inference_batches):
                out["profiles"] = [pool.role(s).call(PROFILE, name=f"{FOLDED}, oneDNN {s}", steps=settings.trace_steps)
                                   for s in STATES]
            pool.drop()
    return out


def _write(path: Path, results: dict[str, Any]) -> None:
    """Replace ``path`` by ``results`` in one step (a reader never sees half a file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(partial, path)


def run(settings: Settings, names: list[str], folder: Path, log: Log) -> Path:
    """The sections ``names`` in turn, each with its load record; the JSON file is rewritten after each."""
    started, clock = datetime.datetime.now(datetime.timezone.utc), time.perf_counter()
    description = machine.describe(settings.gemm_size)
    log(f"machine: {cpu.summary()}; float32 GEMM {description['gemm_gflops']} GFLOP/s")
    path = folder / f"{machine.slug(description)}.json"
    results: dict[str, Any] = {"command": shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]]),
                               "started": started.strftime("%Y-%m-%d %H:%M UTC"),
                               "settings": dataclasses.asdict(settings), "versions": machine.versions(),
                               "machine": description, "load_average": {}, "other_cpu_share": {}}
    pool, cores = Workers(settings), description["physical_cores"]
    sections = {"training": lambda: training(pool, settings, log),
                "inference": lambda: inference(pool, settings, log, cores),
                "litert": lambda: pool.role("on").call("benchmarks.litert:run", settings=settings),
                "scaling": lambda: pool.role("replicas").call("benchmarks.scaling:run", settings=settings)}
    try:
        for name in (n for n in SECTIONS if n in names):
            before, other = os.getloadavg(), machine.OtherLoad(lambda: [w.pid for w in pool.workers.values()])
            results[name] = sections[name]()
            results["other_cpu_share"][name] = other.share()
            results["load_average"][name] = {"before": [round(v, 2) for v in before],
                                             "after": [round(v, 2) for v in os.getloadavg()]}
            _write(path, results)  # an interrupted run keeps its sections
    finally:
        pool.close()
    _write(path, {**results, "duration_s": round(time.perf_counter() - clock, 1)})
    return path


def report(folder: Path, markdown: Path) -> None:
    """Write ``markdown`` from every run in ``folder`` (keeping its hand-written part) and print the targets."""
    runs = {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
    if not runs:
        raise app.UsageError(f"--results holds no results (*.json) to report: {folder}")
    text = render.render(runs, render.kept(markdown.read_text()) if markdown.exists() else None)
    partial = markdown.with_name(markdown.name + ".partial")
    partial.write_text(text)
    os.replace(partial, markdown)
    for name, results in runs.items():
        for t in render.targets(results):
            print(f"{name}: {t['name']}: {t['ratio']:.2f}x (target >= {t['target']:.1f}x) {t['verdict']}")


def settings_from_flags() -> Settings:
    """The full or tiny settings with the flags' windows, window length and torch.compile choice."""
    chosen = {"windows": FLAGS.windows, "window_seconds": FLAGS.window_seconds, "torch_compile": FLAGS.torch_compile}
    return dataclasses.replace(TINY if FLAGS.tiny else FULL, **{k: v for k, v in chosen.items() if v is not None})


def main(argv: list[str]) -> int:
    """Run the sections (or, with --from_json, nothing), then write the Markdown report of every run."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    folder, markdown = Path(FLAGS.results), Path(FLAGS.markdown)
    if FLAGS.tiny and not FLAGS["results"].present:
        folder = Path(tempfile.mkdtemp(prefix="benchmarks_tiny_"))
        markdown = markdown if FLAGS["markdown"].present else folder / "BENCHMARKS.md"
    if not folder.is_dir():
        raise app.UsageError(f"--results must be an existing folder; received {folder}")
    if not markdown.parent.is_dir():
        raise app.UsageError(f"--markdown must be a file in an existing folder; received {markdown}")
    if not FLAGS.from_json:
        clock = time.perf_counter()
        path = run(settings_from_flags(), FLAGS.sections, folder,
                   lambda message: print(f"[{time.perf_counter() - clock:6.0f} s] {message}", flush=True))
        print(f"wrote {path}", flush=True)
    report(folder, markdown)
    return 0
