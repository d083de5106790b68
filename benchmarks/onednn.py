"""The oneDNN primitives one ResNet-20 training step runs, per framework, from oneDNN's own verbose log.

Each framework trains :mod:`benchmarks.training`'s ResNet-20 (same model,
recipe and in-memory batch as the timed section: ``keras_model`` + ``fit``;
``torch_step``, channels_last) in a child process of its own, forked from
:mod:`benchmarks.worker`'s server (imports done, no oneDNN primitive run yet), its
standard output in a log file: warm-up steps, then the logged steps between two marker
lines the child writes. oneDNN reads ``ONEDNN_VERBOSE`` once, at its first use (a running
TensorFlow ignores it set later), so the TensorFlow child sets ``ONEDNN_VERBOSE=1`` before
its first step and the markers drop the warm-up's lines; PyTorch turns verbose mode on around the
logged steps only (``torch.backends.mkldnn.verbose``). oneDNN flushes each
line, so lines and markers arrive in order. ``ONEDNN_VERBOSE_TIMESTAMP=1``
adds each primitive's start time.

Times are oneDNN's own execution time of each primitive (it waits for each one
when verbose), summed per group; TensorFlow's executor may run two primitives
at once, so the union of their intervals is kept too, and the step's wall time
(verbose on) less that union is the time no primitive ran: the frameworks' own
kernels (e.g. PyTorch's batch norm), their overhead, and writing the log.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks import worker
from benchmarks.settings import Settings

FRAMEWORKS = ("tensorflow", "torch")
BEGIN, END, WALL = "@@onednn begin", "@@onednn end", "@@onednn wall_ms "
GROUPS = ("conv_forward", "conv_backward_data", "conv_backward_weights", "reorder", "batch_norm", "other")
FORMAT_KINDS = {"blocked", "any", "undef", "opaque", "sparse", "wino", "rnn_packed"}
DTYPE_SUFFIX = re.compile(r"_(f64|f32|bf16|f16|s32|s8|u8|undef)$")


def memory_formats(descriptors: str) -> dict[str, str]:
    """``{"src": "acdb", "wei": "Acdb16a", ...}`` from a verbose line's memory-descriptor field."""
    formats = {}
    for token in descriptors.split():
        parts = token.split(":")
        kind = next((i for i, part in enumerate(parts) if i >= 2 and part in FORMAT_KINDS), None)  # past dtype
        if kind is not None and kind + 1 < len(parts) and parts[kind + 1]:
            formats[DTYPE_SUFFIX.sub("", parts[0])] = parts[kind + 1]
    return formats


def is_plain(tag: str) -> bool:
    """A plain (permuted, unblocked) format such as ``acdb``; blocked ones (``aBcd16b``) have capitals or digits."""
    return bool(re.fullmatch(r"[a-z]+", tag))


def _number(text: str) -> float | None:
    return float(text) if re.fullmatch(r"[0-9.]+(e[-+]?[0-9]+)?", text) else None


def parse_line(line: str) -> dict[str, Any] | None:
    """One executed primitive from a verbose line, or None for any other line. Columns are found from the
    ``exec`` field: 2.x lines (``dnnl_verbose,exec,cpu,...``), 3.x ones (``onednn_verbose,v1,primitive,exec,...``),
    with or without the start time before ``exec`` (``start``, else None); the duration is the last field."""
    fields = line.strip().split(",")
    if not fields[0].endswith("_verbose") or "exec" not in fields:
        return None
    i = fields.index("exec")
    ms = _number(fields[-1])
    if "graph" in fields[:i] or len(fields) < i + 10 or ms is None:
        return None
    start = next((t for t in map(_number, fields[1:i]) if t is not None), None)
    return {"primitive": fields[i + 2], "implementation": fields[i + 3], "propagation": fields[i + 4],
            "formats": memory_formats(fields[i + 5]), "problem": fields[-2], "ms": ms, "start": start}


def busy_ms(records: list[dict[str, Any]]) -> float | None:
    """Wall time during which at least one primitive ran (the union of their intervals), if lines have starts."""
    if not records or any(r["start"] is None for r in records):
        return None
    total, end = 0.0, float("-inf")
    for start, ms in sorted((r["start"], r["ms"]) for r in records):
        total += max(0.0, ms - max(0.0, end - start))  # the part after everything that started before
        end = max(end, start + ms)
    return total


def group(record: dict[str, Any]) -> str:
    """The comparison row a primitive counts in (one of :data:`GROUPS`)."""
    if record["primitive"] == "convolution":
        return "conv_" + ("forward" if record["propagation"].startswith("forward") else record["propagation"])
    return {"reorder": "reorder", "batch_normalization": "batch_norm"}.get(record["primitive"], "other")


def runtime_info(lines: Iterable[str]) -> dict[str, str]:
    """oneDNN's version and CPU runtime (``runtime``, ``nthr``) from its ``info`` lines."""
    info = {}
    for fields in (line.strip().split(",") for line in lines):
        if fields[0].endswith("_verbose") and "info" in fields and "gpu" not in fields:
            for field in fields[fields.index("info") + 1:]:
                if field.startswith(("oneDNN v", "runtime:", "nthr:")):
                    key, value = ("version", field.split()[1]) if field.startswith("oneDNN") else field.split(":", 1)
                    info[key] = value
    return info


def aggregate(lines: Iterable[str], steps: int) -> dict[str, Any]:
    """Per-step ms and calls of the primitives executed in ``lines`` (``steps`` logged steps)."""
    records = [r for r in map(parse_line, lines) if r is not None]
    tallies: dict[tuple, list[float]] = collections.defaultdict(lambda: [0, 0.0])  # key -> [calls, ms]
    sources: collections.Counter[str] = collections.Counter()
    for r in records:
        keys = [("row", r["primitive"], r["implementation"], r["propagation"]), ("group", group(r))]
        if r["primitive"] == "reorder":
            keys.append(("reorder", r["formats"].get("src", "?"), r["formats"].get("dst", "?")))
        elif r["primitive"] == "convolution":
            sources[r["formats"].get("src", r["formats"].get("diff_src", "?"))] += 1
        for key in keys:
            tallies[key][0] += 1
            tallies[key][1] += r["ms"]
    by_ms = sorted(tallies.items(), key=lambda kv: -kv[1][1])
    groups = {name: tallies["group", name] for name in GROUPS}

    def per_step(calls: float, ms: float) -> dict[str, float]:
        return {"calls": round(calls / steps, 2), "ms": round(ms / steps, 3)}

    layouts = {"plain" if is_plain(tag) else "blocked" for tag in sources}
    busy = busy_ms(records)
    return {
        "steps": steps,
        "onednn_ms": round(sum(r["ms"] for r in records) / steps, 3),
        "busy_ms": None if busy is None else round(busy / steps, 3),
        "calls": round(len(records) / steps, 2),
        "groups": {name: per_step(*tally) for name, tally in groups.items()},
        "convolution_ms": {name[5:]: per_step(*groups[name])["ms"] for name in GROUPS[:3]},
        "reorders": {**per_step(*groups["reorder"]),
                     "by_formats": [{"src": k[1], "dst": k[2], **per_step(*t)} for k, t in by_ms if k[0] == "reorder"]},
        "conv_source_formats": {tag: round(n / steps, 2) for tag, n in sources.most_common()},
        "conv_source_layout": layouts.pop() if len(layouts) == 1 else ("mixed" if layouts else "none"),
        "primitives": [{"primitive": k[1], "implementation": k[2], "propagation": k[3], **per_step(*t)}
                       for k, t in by_ms if k[0] == "row"],
    }


def _mark(text: str) -> None:
    sys.stdout.flush()
    os.write(1, (text + "\n").encode())


def _child(framework: str, batch: int, warmup: int, steps: int, log: str) -> None:
    """In the forked child, standard output and error to ``log`` and ``log.err``: warm up, then ``steps``
    logged steps between the markers, then their wall time."""
    for stream, path in ((1, log), (2, log + ".err")):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, stream)
        os.close(fd)
    for name in ("ONEDNN_VERBOSE", "DNNL_VERBOSE", "MKLDNN_VERBOSE"):
        os.environ.pop(name, None)
    os.environ.update(ONEDNN_VERBOSE_TIMESTAMP="1", **({"ONEDNN_VERBOSE": "1"} if framework == "tensorflow" else {}))
    import numpy as np

    from benchmarks import training

    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch, training.SIZE, training.SIZE, 3), dtype=np.float32)
    labels = rng.integers(0, training.CLASSES, batch)
    if framework == "tensorflow":
        import tensorflow as tf

        model = training.keras_model()
        dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
        model.fit(dataset, epochs=1, steps_per_epoch=warmup + 1, verbose=0)
        _mark(BEGIN)
        seconds = training.fit_window(model, dataset)(steps - 1) / (steps - 1)  # `steps` steps, timed between ends
    else:
        import torch

        step = training.torch_step(images, labels, channels_last=True)
        for _ in range(warmup + 1):
            step()
        _mark(BEGIN)
        with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
            start = time.perf_counter()
            for _ in range(steps):
                step()
            seconds = (time.perf_counter() - start) / steps
    _mark(END)
    _mark(f"{WALL}{1e3 * seconds:.3f}")


def _start(framework: str, batch: int, warmup: int, steps: int, folder: str) -> tuple[multiprocessing.Process, str]:
    """Start ``framework``'s child with oneDNN's verbose log on; the process and its log file (in ``folder``)."""
    if steps < 2:
        raise ValueError(f"`steps` must be >= 2 (Keras' step time spans batch ends); received {steps}")
    log = os.path.join(folder, f"{framework}.log")
    return worker.fork(_child, framework, batch, warmup, steps, log), log


def _finish(framework: str, child: tuple[multiprocessing.Process, str], batch: int, steps: int) -> dict[str, Any]:
    """Wait for a started child and aggregate the primitives of its logged steps."""
    process, log = child
    process.join()
    lines = Path(log).read_text().splitlines()
    if process.exitcode != 0 or BEGIN not in lines or END not in lines:
        stderr = Path(log + ".err").read_text() if os.path.exists(log + ".err") else ""
        raise RuntimeError(f"the {framework} oneDNN log failed (exit {process.exitcode}):\n{stderr[-3000:]}")
    logged = lines[lines.index(BEGIN) + 1:lines.index(END)]
    wall = float(next(line for line in lines if line.startswith(WALL))[len(WALL):])
    result = {"framework": framework, "batch": batch, **runtime_info(lines), **aggregate(logged, steps),
              "step_ms": round(wall, 3)}
    if not result["calls"]:
        raise RuntimeError(f"{framework} logged no oneDNN primitive: is its oneDNN verbose mode available?")
    return result


def measure(framework: str, batch: int, warmup: int, steps: int) -> dict[str, Any]:
    """Run ``framework``'s child and aggregate the primitives of its logged steps."""
    with tempfile.TemporaryDirectory() as folder:
        return _finish(framework, _start(framework, batch, warmup, steps, folder), batch, steps)


def compare(tf: dict[str, Any], pt: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of ms per step (TensorFlow, PyTorch, TensorFlow's excess) that add up to the step: the groups, less
    their overlap (primitives running at once), plus the time no primitive ran (the wall time less the union)."""
    def overlap(side: dict[str, Any]) -> float:
        return 0.0 if side["busy_ms"] is None else side["onednn_ms"] - side["busy_ms"]

    rows = [(name, tf["groups"][name], pt["groups"][name]) for name in GROUPS]
    rows += [("overlap", {"ms": 0.0 - overlap(tf)}, {"ms": 0.0 - overlap(pt)}),
             ("outside_onednn", {"ms": tf["step_ms"] - tf["onednn_ms"] + overlap(tf)},
              {"ms": pt["step_ms"] - pt["onednn_ms"] + overlap(pt)}),
             ("step", {"ms": tf["step_ms"], "calls": tf["calls"]}, {"ms": pt["step_ms"], "calls": pt["calls"]})]
    return [{"row": name, "tensorflow_ms": round(a["ms"], 3), "torch_ms": round(b["ms"], 3),
             "gap_ms": round(a["ms"] - b["ms"], 3), "tensorflow_calls": a.get("calls"), "torch_calls": b.get("calls")}
            for name, a, b in rows]


def run(settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Both frameworks' primitives over ``settings.onednn_steps`` logged steps, and their comparison. The two
    children run one after the other, or side by side if ``settings.side_by_side`` (their times then share
    the cores)."""
    results: dict[str, Any] = {"steps": settings.onednn_steps, "batch": settings.train_batch}
    args = (settings.train_batch, settings.warmup, settings.onednn_steps)
    if settings.side_by_side:
        log(f"onednn: verbose logs of {settings.onednn_steps} ResNet-20 training steps, side by side")
        with tempfile.TemporaryDirectory() as folder:
            children = {framework: _start(framework, *args, folder) for framework in FRAMEWORKS}
            for framework, child in children.items():
                results[framework] = _finish(framework, child, settings.train_batch, settings.onednn_steps)
    else:
        for framework in FRAMEWORKS:
            log(f"onednn: verbose log of {settings.onednn_steps} ResNet-20 training steps, {framework}")
            results[framework] = measure(framework, *args)
    results["comparison"] = compare(results["tensorflow"], results["torch"])
    return results


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.onednn [--batch 128] [--warmup 2] [--steps 5]``: print :func:`run`'s JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.onednn", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=Settings.train_batch)
    parser.add_argument("--warmup", type=int, default=Settings.warmup)
    parser.add_argument("--steps", type=int, default=Settings.onednn_steps, help="logged steps (>= 2)")
    args = parser.parse_args(argv)
    settings = Settings(train_batch=args.batch, warmup=args.warmup, onednn_steps=args.steps)
    print(json.dumps(run(settings, lambda m: print(m, file=sys.stderr)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
