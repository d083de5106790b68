"""BENCHMARKS.md from a results dictionary (the one in results.json), and the targets' verdicts.

The generated part holds tables and verdicts only. What the numbers mean is prose written by hand from a run, below
the ``## Findings`` heading; regenerating keeps it (:func:`kept`) and says so when it was written from another run.
"""

from __future__ import annotations

import re
from typing import Any

from benchmarks.settings import FOLDED

IDLE_SHARE = 0.05  # other processes took at most this share of the CPUs during a section: the machine was idle
TRAINING, TRAINING_BF16, INFERENCE, LATENCY, LITERT_INT8 = 1.2, 1.0, 1.0, 0.9, 2.0
FINDINGS, WRITTEN_FROM = "## Findings", re.compile(r"Written from the run of ([0-9-]+ [0-9:]+ UTC)")
STATES = ("off", "on")
PEERS = {"keras": "keras.applications", "torch": "PyTorch", "onnxruntime": "onnxruntime"}


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _state(results: dict[str, Any], state: str) -> str:
    default = " (this CPU's default)" if results["machine"]["onednn_by_default"] == (state == "on") else ""
    return f"TensorFlow oneDNN {state}{default}"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the sections that ran; met or missed only where the machine was idle during the section."""
    rows = []
    if "training" in results:
        t = results["training"]
        rows += [("training", f"training {p}, ResNet-20 batch {t['batch']}: {_state(results, s)} vs PyTorch's best",
                  t[key][s], target) for s in STATES
                 for p, key, target in (("fp32", "ratios", TRAINING), ("bf16", "ratios_bf16", TRAINING_BF16))]
    if "inference" in results:
        i = results["inference"]
        last = max(int(k[6:]) for k in i if k.startswith("batch_"))
        for s in STATES:
            rows += [("inference", f"inference ResNet-50 batch {last}: {_state(results, s)} vs {label}",
                      i[f"batch_{last}"]["ratios"][s][peer], INFERENCE) for peer, label in PEERS.items()]
            rows += [("inference", f"inference ResNet-50 batch 1: {_state(results, s)} vs onnxruntime",
                      i["batch_1"]["ratios"][s]["onnxruntime"], LATENCY)] if "batch_1" in i else []
    rows += [("litert", f"LiteRT {model} batch 1, {threads} thread(s): int8 vs fp32", {"ratio": speedup}, LITERT_INT8)
             for model, section in results.get("litert", {}).items()
             for threads, speedup in section["int8_speedup"].items()]
    out = []
    for section, name, ratio, target in rows:
        met, idle = ratio["ratio"] >= target, results["other_cpu_share"][section] <= IDLE_SHARE
        verdict = ("met" if met else f"missed by {100 * (1 - ratio['ratio'] / target):.1f} %") if idle else \
            f"not judged: the machine was shared ({'above' if met else 'below'} the target)"
        out.append({"name": name, "section": section, **ratio, "target": target, "met": met, "idle": idle,
                    "verdict": verdict})
    return out


def _rate(row: dict[str, Any]) -> str:
    return f"{row['median_items_per_s']:.1f} ({row['min_items_per_s']:.1f}–{row['max_items_per_s']:.1f})"


def _rows(results: dict[str, Any], rows: list[dict[str, Any]], *extra: str) -> str:
    """Rows of measurements: rates, ms per step, achieved GFLOP/s against the peak and the GEMM (where counted)."""
    peak, gemm = results["machine"]["peak_gflops_fp32"] or 1, results["machine"]["gemm_gflops"]
    return table(["candidate", "items/s median (min–max)", "ms per step", "GFLOP/s", "% of peak", "% of GEMM",
                  *(e.replace("_", " ") for e in extra)],
                 [[r["name"], _rate(r), f"{r['median_ms_per_step']:.2f}",
                   *((f"{r['gflops']:.0f}", f"{100 * r['gflops'] / peak:.0f} %", f"{100 * r['gflops'] / gemm:.0f} %")
                     if "gflops" in r else ("–",) * 3), *(f"{r[e]:.3g}" for e in extra)] for r in rows])


def _against(ratios: dict[str, float], plain: str) -> str:
    return (f"Over `{plain}` of the same oneDNN state: "
            + ", ".join(f"`{name}` **{value:.2f}×**" for name, value in ratios.items()) + ".")


def _ratio(r: dict[str, Any]) -> str:
    return f"**{r['ratio']:.2f}×** (`{r['ours']}` over `{r['peer']}`)"


def _machine(results: dict[str, Any]) -> str:
    m = results["machine"]
    return table(["", ""], [
        ["CPU", m["cpu"]], ["ISA features", ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["features"].items())],
        ["TensorFlow oneDNN", f"{'on' if m['onednn_by_default'] else 'off'} by default here; both measured"],
        ["cores", f"{m['physical_cores']} physical, {m['logical_cpus']} logical, {m['clock_mhz']:.0f} MHz"],
        ["peak fp32 (formula)", m["peak_formula"]],
        ["measured fp32 GEMM", f"{m['gemm_gflops']:.0f} GFLOP/s (NumPy BLAS, {m['gemm_size']}³, best of 5)"],
        ["load average (1/5/15 min)", "; ".join(f"{k}: before {v['before']}, after {v['after']}"
                                               for k, v in results["load_average"].items())],
        ["CPU taken by other processes",
         ", ".join(f"{k} {100 * v:.1f} %" for k, v in results["other_cpu_share"].items())],
        ["software", ", ".join(f"{k} {v}" for k, v in results["versions"].items())]])


def _profiles(profiles: list[dict[str, Any]]) -> str:
    return "\n\n".join(
        f"`{p['candidate']}`: {p['step_ms']:.1f} ms per step; op time {p['op_ms']:.1f} ms, convolutions "
        f"{p['conv_ms']:.1f} ms ({100 * p['conv_ms'] / (p['op_ms'] or 1):.0f} %).\n\n"
        + table(["op", "ms per step", "share of op time"],
                [[f"`{o['op']}`", f"{o['ms']:.2f}", f"{100 * o['share']:.0f} %"] for o in p["top"]]) for p in profiles)


def _onednn(logs: list[dict[str, Any]]) -> str:
    parts = []
    for log in logs:
        busy = f"{log['busy_ms']:.1f}" if log["busy_ms"] is not None else "n/a"
        parts += [f"`{log['candidate']}` (oneDNN {log['version']}): step {log['step_ms']:.1f} ms, {log['calls']:g} "
                  f"primitive calls, {log['onednn_ms']:.1f} ms in oneDNN, {busy} ms with any primitive running.",
                  table(["primitive", "implementation", "propagation", "calls", "ms per step"],
                        [[k["primitive"], f"`{k['implementation']}`", k["propagation"], f"{k['calls']:g}",
                          f"{k['ms']:.2f}"] for k in log["kernels"][:8]])]
    return "\n\n".join(["### oneDNN primitives, training", "oneDNN's verbose log of the steps (`benchmarks/trace.py`), "
                        "per step. With oneDNN off TensorFlow runs Eigen's kernels, which log nothing: its op types "
                        "are in the profiles above.", *parts])


def _training(results: dict[str, Any]) -> str:
    t = results["training"]
    lines = [f"{_state(results, s)}: best fp32 vs PyTorch's best {_ratio(t['ratios'][s])}; bfloat16 "
             f"{_ratio(t['ratios_bf16'][s])}." for s in STATES]
    lines.append(_against(t["against_plain"], "keras_resnet fit"))
    lines += [f"Keras backends against `keras_resnet fit, oneDNN {t['onednn_default']}`: "
              + ", ".join(f"{b} **{r:.2f}×**" for b, r in t["backends"].items()) + "."] * bool(t["backends"])
    return "\n\n".join([f"## Training: CIFAR ResNet-20, batch {t['batch']}, 32×32",
                        f"FLOPs per image: {t['flops_per_image'] / 1e6:.0f} M (3 × forward).", *lines,
                        _rows(results, t["rows"]), "### Where the time goes, training", _profiles(t["profiles"]),
                        _onednn(t["onednn_logs"])])


def _inference(results: dict[str, Any]) -> str:
    inf = results["inference"]
    parts = [f"## Inference: ResNet-50, {inf['image_size']}×{inf['image_size']}, float32, same weights everywhere"]
    for key, section in ((k, v) for k, v in inf.items() if k.startswith("batch_")):
        parts += [f"### Batch {key[6:]}", *(f"{_state(results, s)}: " + ", ".join(
            f"vs {PEERS[p]} {_ratio(r)}" for p, r in section["ratios"][s].items()) + "." for s in STATES),
                  _against(section["against_plain"], FOLDED),
                  _rows(results, section["rows"], "max_abs_diff_vs_applications")]
        parts += [f"`{r['name']}` ran its convolutions, after grappler's rewrites, as "
                  + ", ".join(f"{n} {layout}" for layout, n in r["conv_data_formats"].items()) + "."
                  for r in section["rows"] if "conv_data_formats" in r]
    return "\n\n".join([*parts, "### Where the time goes, inference (largest batch)", _profiles(inf["profiles"])])


def _litert(results: dict[str, Any]) -> str:
    parts = ["## LiteRT (ai-edge-litert), batch 1 latency",
             "Files from `export.export_model`, timed per `invoke()` with the XNNPACK delegate unless noted."]
    for name, s in results["litert"].items():
        parts += [f"### {name}, input {'×'.join(map(str, s['input_shape']))}", _rows(results, s["rows"], "size_bytes"),
                  "int8 over fp32: " + ", ".join(f"{t} thread(s) **{v:.2f}×**" for t, v in s["int8_speedup"].items())
                  + "; XNNPACK over the reference kernels (1 thread): "
                  + ", ".join(f"{v} {x:.2f}×" for v, x in s["xnnpack_speedup"].items()) + "."]
    return "\n\n".join(parts)


def _scaling(results: dict[str, Any]) -> str:
    s, p = results["scaling"], results["scaling"]["projection"]
    return "\n\n".join([
        "## Scale plan", f"`MirroredStrategy` over 2 logical CPUs (the same cores), ResNet-20 `fit`, global batch "
        f"{results['settings']['train_batch']}: 2 replicas at **{s['two_replica_speedup']:.2f}×** the speed of 1.",
        _rows(results, s["replicas"], "per_replica_batch"), "Input pipelines (`keras_resnet.datasets.pipeline`):",
        _rows(results, s["pipelines"], "batch"),
        f"Published ResNet-50 training ({s['published']['source']}; cited, not measured) and what it needs from "
        f"this machine's JPEG pipeline ({p['jpeg_pipeline_img_s_per_core']:.0f} img/s per core):",
        table(["system", "precision", "batch/GPU", "1 GPU img/s", "8 GPUs img/s", "8-GPU efficiency",
               "CPU cores needed", "ring all-reduce GB/s per GPU"],
              [[r["system"], r["precision"], r["batch_per_gpu"], r["gpus_1"], r["gpus_8"],
                f"{r['scaling_efficiency_8']:.2f}", f"{r['cores_needed_at_measured_rate']:.0f}",
                f"{r['allreduce_gb_s_per_gpu']:.2f}"] for r in p["rows"]])])


def _gpu(results: dict[str, Any]) -> str:
    g = results["gpu"]
    if not g["device"]:
        return "## GPU\n\nNo NVIDIA GPU was visible to TensorFlow: nothing measured."
    ratio = (f"Training over NVIDIA's published {g['published']['gpus_1']} img/s ({g['published']['system']}, "
             f"{g['published']['precision']}): **{g['ratio_to_published']:.2f}×**." if g["published"] else
             "No published figure is for this GPU.")
    return "\n\n".join([f"## GPU: {g['device']}", _rows(results, g["rows"]), ratio,
                        f"Source: {g['published_source']}."])


def kept(markdown: str) -> str | None:
    """The hand-written part of an existing report (from its findings heading on), or None."""
    start = markdown.find(f"\n{FINDINGS}\n")
    return markdown[start + 1:].rstrip() if start >= 0 else None


def _findings(results: dict[str, Any], text: str | None) -> str:
    if text is None:
        return f"{FINDINGS}\n\nNot written yet. Start with \"Written from the run of {results['started']}.\""
    written = WRITTEN_FROM.search(text)
    if written and written[1] == results["started"]:
        return text
    source = f"the run of {written[1]}" if written else "another run"
    return text.replace(FINDINGS, f"{FINDINGS}\n\n> Written from {source}, not from the tables above "
                                  f"({results['started']}): re-read it against them.", 1)


def render(results: dict[str, Any], findings: str | None = None) -> str:
    """The whole BENCHMARKS.md: the sections that ran (an interrupted run's too), then the hand-written ``findings``."""
    sections = {"training": _training, "inference": _inference, "litert": _litert, "scaling": _scaling, "gpu": _gpu}
    ran = [name for name in sections if name in results]
    shared = {k: v for k, v in results["other_cpu_share"].items() if v > IDLE_SHARE}
    return "\n\n".join([
        "# Benchmarks",
        f"Generated by `{results['command']}` on {results['started']} "
        + (f"in {results['duration_s'] / 60:.1f} min" if "duration_s" in results else "(interrupted)")
        + f" on {results['machine']['cpu']} ({', '.join(ran)}); raw numbers in `benchmarks/results.json`. Each "
        "table's candidates ran interleaved (window after window, order rotating, each in its worker process) "
        f"after warm-up; figures are the median of {results['settings']['windows']} windows with their min–max. "
        "Ratios are throughput ratios (higher: keras_resnet faster).",
        "The machine was otherwise idle in every section." if not shared else "**The machine was shared** (other "
        "processes took " + ", ".join(f"{100 * v:.0f} % of the CPUs in {k}" for k, v in shared.items())
        + "): those sections' targets are not judged, and their figures are low and noisy.",
        "## Targets", table(["comparison (same run)", "measured", "target", "verdict"],
                            [[t["name"], f"{t['ratio']:.2f}×", f"≥ {t['target']:.1f}×", t["verdict"]]
                             for t in results["targets"]]),
        "## Machine", _machine(results), *(sections[name](results) for name in ran),
        _findings(results, findings)]) + "\n"
