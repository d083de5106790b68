"""``python -m benchmarks``: what each section runs in which worker, the ratios it reports, and the command line.

TensorFlow runs with ``TF_ENABLE_ONEDNN_OPTS=0`` (Eigen's kernels, the default on CPUs without AVX-512 VNNI/BF16 or
AMX) and ``=1`` side by side, each process-wide setting in a worker of its own, PyTorch and onnxruntime in another
(:mod:`benchmarks.settings`; ``--tiny``: all but oneDNN off in one). Nothing here imports TensorFlow. The results go to
``benchmarks/results/<CPU kind>.json`` with the CPU other processes took per section; BENCHMARKS.md shows every file.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from absl import app, flags

from benchmarks import machine, render
from benchmarks.settings import FOLDED, FULL, LITERT_THREADS, OFF_VARIANTS, ROLES, TINY, WITHOUT_XNNPACK, Settings
from benchmarks.workers import Pool, Worker, interleaved, load, ratio
from keras_resnet import cpu
from keras_resnet.io import atomic_path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS, STATES = ("training", "inference", "litert", "scaling"), ("off", "on")
CANDIDATES, PROFILE = "benchmarks.candidates:", "benchmarks.workers:profile"
START = time.perf_counter()

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


def _time(requests: list[tuple[Worker, str, dict[str, Any]]], settings: Settings,
          flops: float | None = None, window_seconds: float | None = None) -> list[dict[str, Any]]:
    """Rows of the candidates of ``requests`` (worker, factory in :mod:`benchmarks.candidates`, its arguments)."""
    return interleaved(load([(w, CANDIDATES + factory, kwargs) for w, factory, kwargs in requests]), settings.windows,
                       window_seconds or settings.window_seconds, settings.warmup, log, flops)


def _compare(pool: Pool, settings: Settings, section: str, common: dict[str, Any], flops: float,
             **on: Any) -> dict[str, Any]:
    """Every candidate of ``section`` interleaved: keras_resnet's (``{section}_candidates``, with ``common``
    arguments; ``on``: more with oneDNN on) in each oneDNN state and process-wide worker, and the peers
    (``{section}_peers``); their rows and each keras_resnet row over the plain one of its oneDNN state."""
    variants, keras = getattr(settings, f"{section}_variants"), f"{section}_candidates"
    requests = [(pool.role(s), keras, {**common, "tag": f"oneDNN {s}", "info": {"onednn": s}, **(
        {"variants": variants, **on} if s == "on" else {"variants": OFF_VARIANTS[section]})}) for s in STATES]
    requests += [(w, keras, {**common, "tag": w.label, "info": {"onednn": "on", "process": label},
                             "variants": (variant,)}) for w, label, variant in pool.process_wide(section)]
    requests.append((pool.role("peers"), f"{section}_peers", {**common, "torch_compile": settings.torch_compile}))
    log(f"{section}: {len(requests)} candidate factories")
    rows = _time(requests, settings, flops)
    plain = FOLDED if section == "inference" else "keras_resnet fit"
    base = {r["name"]: f"{plain}, oneDNN {r['onednn']}" for r in rows if r.get("onednn") and r["framework"] != "keras"}
    return {"rows": rows, "against_plain": {name: ratio(rows, {"name": name}, {"name": b})["ratio"]
                                            for name, b in base.items() if name != b}}


def training(pool: Pool, settings: Settings) -> dict[str, Any]:
    """ResNet-20 ``fit``: every candidate interleaved, the ratios, and where the time goes."""
    log(f"training: CIFAR ResNet-20, batch {settings.train_batch}")
    flops = pool.role("on").call(CANDIDATES + "training_flops")
    out = {"batch": settings.train_batch, **_compare(pool, settings, "training", {"batch": settings.train_batch},
                                                     flops, user_path_batches=settings.user_path_batches)}
    for key, precision in (("ratios", "fp32"), ("ratios_bf16", "bf16")):
        out[key] = {s: ratio(out["rows"], {"framework": "keras_resnet", "precision": precision, "onednn": s},
                             {"framework": "torch", "precision": precision}) for s in STATES}
    log("training: where the time goes")
    out["profiles"] = [pool.role(role).call(PROFILE, name=name, steps=settings.trace_steps) for role, name in (
        *((s, f"keras_resnet fit, oneDNN {s}") for s in STATES), ("peers", "torch channels_last"))]
    pool.drop()
    return out


def inference(pool: Pool, settings: Settings) -> dict[str, Any]:
    """ResNet-50 inference per batch size: every candidate interleaved, the ratios, and where the time goes."""
    size, out = settings.inference_size, {"image_size": settings.inference_size}
    with tempfile.TemporaryDirectory(prefix="keras_resnet_inference_") as folder:
        log(f"inference: ResNet-50 at {size}x{size}, weights and references")
        flops = pool.role("peers").call(CANDIDATES + "prepare", folder=folder, size=size,
                                        batches=settings.inference_batches)
        for batch in settings.inference_batches:
            log(f"inference: batch {batch}")
            measured = _compare(pool, settings, "inference", {"folder": folder, "batch": batch}, flops)
            out[f"batch_{batch}"] = {**measured, "ratios": {s: {
                peer: ratio(measured["rows"], {"framework": "keras_resnet", "onednn": s},
                            {"framework": peer, **({"onednn": s} if peer == "keras" else {})})
                for peer in ("keras", "torch", "onnxruntime")} for s in STATES}}
            if batch == max(settings.inference_batches):
                out["profiles"] = [pool.role(s).call(PROFILE, name=f"{FOLDED}, oneDNN {s}", steps=settings.trace_steps)
                                   for s in STATES]
            pool.drop()
    return out


def litert(pool: Pool, settings: Settings) -> dict[str, Any]:
    """Per model: LiteRT batch-1 latency rows, file sizes, and the int8-over-fp32 speed-up at each thread count."""
    out = {}
    for model in settings.litert_models:
        size = 32 if model == "resnet20" else settings.litert_size
        log(f"litert: exporting {model} ({' '.join(settings.litert_variants)})")
        rows = _time([(pool.role("on"), "litert_candidates", {
            "model": model, "size": size, "variants": settings.litert_variants,
            "calibration_images": settings.calibration_images})], settings, None, settings.litert_window_seconds)
        ms = {row["name"]: row["median_ms_per_step"] for row in rows}
        out[model] = {"input_shape": [size, size, 3], "rows": rows,
                      "int8_speedup": {str(t): round(ms[f"fp32 {t}t"] / ms[f"int8 {t}t"], 3) for t in LITERT_THREADS},
                      "xnnpack_speedup": {v: round(ms[f"{v} 1t no XNNPACK"] / ms[f"{v} 1t"], 3)
                                          for v in WITHOUT_XNNPACK}}
        pool.drop()
    return out


def scaling(pool: Pool, settings: Settings) -> dict[str, Any]:
    """1 vs 2 data-parallel replicas of ResNet-20 ``fit`` (:func:`benchmarks.candidates.replica_candidates`)."""
    log(f"scaling: 1 and 2 replicas, global batch {settings.train_batch}")
    rows = _time([(pool.role("replicas"), "replica_candidates", {"batch": settings.train_batch})], settings)
    pool.drop()
    return {"replicas": rows, "two_replica_speedup": round(rows[1]["median_items_per_s"]
                                                           / rows[0]["median_items_per_s"], 3)}


def log(message: str) -> None:
    print(f"[{time.perf_counter() - START:6.0f} s] {message}", flush=True)


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as partial:  # a reader never sees half a file
        Path(partial).write_text(text)


def run(settings: Settings, names: list[str], folder: Path) -> Path:
    """The sections ``names`` in turn, each with the CPU share other processes took, rewriting the JSON file."""
    started = datetime.datetime.now(datetime.timezone.utc)
    description = machine.describe(settings.gemm_size)
    log(f"machine: {cpu.summary()}; float32 GEMM {description['gemm_gflops']} GFLOP/s")
    path = folder / f"{machine.slug(description)}.json"
    results: dict[str, Any] = {"command": shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]]),
                               "started": started.strftime("%Y-%m-%d %H:%M UTC"),
                               "settings": dataclasses.asdict(settings), "versions": machine.versions(),
                               "machine": description, "other_cpu_share": {}}
    pool, sections = Pool(settings), {"training": training, "inference": inference, "litert": litert,
                                      "scaling": scaling}
    for role in ROLES:  # every role's worker starts now, side by side
        pool.role(role)
    try:
        for name in (n for n in SECTIONS if n in names):
            other = machine.OtherLoad(lambda: sum(pool.cpu_seconds.values()))  # each section ends with pool.drop()
            results[name] = sections[name](pool, settings)
            results["other_cpu_share"][name] = other.share()
            _write(path, json.dumps(results, indent=2) + "\n")  # an interrupted run keeps its sections
    finally:
        pool.close()
    _write(path, json.dumps({**results, "duration_s": round(time.perf_counter() - START, 1)}, indent=2) + "\n")
    return path


def report(folder: Path, markdown: Path) -> None:
    """Write ``markdown`` from every run in ``folder`` (keeping its hand-written part) and print the targets."""
    runs = {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
    if not runs:
        raise app.UsageError(f"--results holds no results (*.json) to report: {folder}")
    _write(markdown, render.render(runs, render.kept(markdown.read_text()) if markdown.exists() else None))
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
    temporary = FLAGS.tiny and not FLAGS["results"].present  # checked first: a refused run leaves no folder behind
    if temporary and FLAGS.from_json:
        raise app.UsageError("--from_json reports the runs in --results: give --results (a --tiny run without it "
                             "writes to a new temporary folder, which holds none)")
    if not temporary and not folder.is_dir():
        raise app.UsageError(f"--results must be an existing folder; received {folder}")
    if not markdown.parent.is_dir():
        raise app.UsageError(f"--markdown must be a file in an existing folder; received {markdown}")
    if temporary:
        folder = Path(tempfile.mkdtemp(prefix="benchmarks_tiny_"))
        markdown = markdown if FLAGS["markdown"].present else folder / "BENCHMARKS.md"
    if not FLAGS.from_json:
        log(f"wrote {run(settings_from_flags(), FLAGS.sections, folder)}")
    report(folder, markdown)
    return 0
