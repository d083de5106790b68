"""BENCHMARKS.md from the runs' results (a JSON file per CPU kind in ``benchmarks/results/``), and the targets.

The targets' ratios side by side, a column per run; then each run drawn from its JSON whatever its sections hold (a
table per list of rows, one of its other figures), so older files still render. What the numbers mean is prose written
by hand below ``## Findings``: regenerating keeps it (:func:`kept`), naming the runs it does not cite.
"""

from __future__ import annotations

import re
from typing import Any

IDLE_SHARE = 0.05  # other processes took at most this share of the CPUs during a section: the machine was idle
FINDINGS, NOTE = "## Findings", "> Not yet read against the run(s) of "
STATES = ("off", "on")
PEERS = {"keras": "keras.applications", "torch": "PyTorch's best", "onnxruntime": "onnxruntime"}
TRAINING, TRAINING_BF16, INFERENCE, LATENCY, LITERT_INT8 = 1.2, 1.0, 1.0, 0.9, 2.0
#: Keys of a run's JSON that describe it rather than hold a section's measurements.
ABOUT = ("command", "started", "settings", "versions", "machine", "load_average", "load_average_start",
         "load_average_after", "other_cpu_share", "duration_s", "targets")
RATE = ("median_items_per_s", "min_items_per_s", "max_items_per_s", "windows_items_per_s")
#: Section and comparison of each target kind of a run made before both oneDNN states were measured (oneDNN on).
LEGACY = {"training": ("training", "training fp32 vs PyTorch's best, oneDNN on"),
          "training_bf16": ("training", "training bf16 vs PyTorch's best, oneDNN on"),
          "onnxruntime_batch_1": ("inference", "inference latency (batch 1) vs onnxruntime, oneDNN on"),
          **{kind: ("inference", f"inference batch 32 vs {peer}, oneDNN on") for kind, peer in PEERS.items()}}


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def older_schema(results: dict[str, Any]) -> bool:
    """Whether ``results`` keeps its own targets (a run before both oneDNN states were measured; today's: computed)."""
    return bool(results.get("targets")) and "kind" in results["targets"][0]


def _comparisons(results: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], float]]:
    """(section, comparison, ratio, target) of every target of the sections that ran."""
    if older_schema(results):
        return [(*LEGACY.get(t["kind"], ("litert", t["name"])), {"ratio": t["ratio"]}, t["target"])
                for t in results["targets"]]
    rows = []
    if "training" in results:
        rows += [("training", f"training {p} vs PyTorch's best, oneDNN {s}", results["training"][key][s], target)
                 for p, key, target in (("fp32", "ratios", TRAINING), ("bf16", "ratios_bf16", TRAINING_BF16))
                 for s in STATES]
    if "inference" in results:
        batches = {int(k[6:]): v for k, v in results["inference"].items() if k.startswith("batch_")}
        rows += [("inference", f"inference batch {max(batches)} vs {label}, oneDNN {s}",
                  batches[max(batches)]["ratios"][s][peer], INFERENCE) for peer, label in PEERS.items() for s in STATES]
        rows += [("inference", f"inference latency (batch 1) vs onnxruntime, oneDNN {s}",
                  batches[1]["ratios"][s]["onnxruntime"], LATENCY) for s in STATES if 1 in batches]
    return rows + [("litert", f"LiteRT {model} batch 1, {threads} thread(s): int8 vs fp32", {"ratio": speedup},
                    LITERT_INT8) for model, section in results.get("litert", {}).items()
                   for threads, speedup in section["int8_speedup"].items()]


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the sections that ran; met or missed only where the machine was idle during the section."""
    out = []
    for section, name, ratio, target in _comparisons(results):
        met, idle = ratio["ratio"] >= target, results["other_cpu_share"][section] <= IDLE_SHARE
        verdict = ("met" if met else f"missed by {100 * (1 - ratio['ratio'] / target):.1f} %") if idle else \
            f"not judged: the machine was shared ({'above' if met else 'below'} the target)"
        out.append({"name": name, "section": section, **ratio, "target": target, "met": met, "idle": idle,
                    "verdict": verdict})
    return out


def _nested(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _value(value: Any) -> str:
    if isinstance(value, dict) and {"ratio", "ours", "peer"} <= set(value):
        return f"**{value['ratio']:.2f}×** (`{value['ours']}` over `{value['peer']}`)"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(_value, value))
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "–"}[value]
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _rows(rows: list[dict[str, Any]], gemm: float | None) -> str:
    """Measured rows: what each is (first column), its rate (median, min–max), its other fields, their GFLOP/s over
    the machine's float32 matrix product's (``gemm``)."""
    columns = list(dict.fromkeys(k for r in rows for k, v in r.items() if k not in RATE and not _nested(v)))
    rate, flops = any(RATE[0] in r for r in rows), gemm and any("gflops" in r for r in rows)
    header = [c.replace("_", " ") for c in columns]
    return table(header[:1] + ["items/s median (min–max)"] * rate + header[1:] + ["% of GEMM"] * flops,
                 [[_value(r.get(columns[0]))]
                  + [f"{r[RATE[0]]:.1f} ({r[RATE[1]]:.1f}–{r[RATE[2]]:.1f})" if RATE[0] in r else "–"] * rate
                  + [_value(r.get(c)) for c in columns[1:]]
                  + [f"{100 * r['gflops'] / gemm:.0f} %" if "gflops" in r else "–"] * flops for r in rows])


def _figures(path: list[str], value: Any, gemm: float | None) -> list[str]:
    """``value`` as Markdown: a table per list of rows (nested lists after their row's table), then its other
    figures in one table."""
    figures, parts = [], []

    def visit(path: list[str], v: Any) -> None:
        if _nested(v):
            parts.append(f"{' › '.join(path)}:\n\n{_rows(v, gemm)}")
            for row in v:
                for key, inner in row.items():
                    if _nested(inner):
                        visit([*path, f"`{row.get('name') or row.get('candidate')}`", key], inner)
        elif isinstance(v, dict) and not {"ratio", "ours"} <= set(v) and any(
                isinstance(x, (dict, list)) for x in v.values()):
            for key, inner in v.items():
                visit([*path, key], inner)
        else:
            figures.append([" › ".join(path), _value(v)])

    visit(path, value)
    return ([table(["figure", "value"], figures)] if figures else []) + parts


def _run(name: str, results: dict[str, Any]) -> str:
    sections = [k for k in results if k not in ABOUT]
    shared = {k: v for k, v in results["other_cpu_share"].items() if v > IDLE_SHARE}
    machine = results["machine"]
    return "\n\n".join([
        f"## {name}: {machine.get('cpu') or machine.get('model')}",
        f"`{results['command']}` on {results['started']}, "
        + (f"{results['duration_s'] / 60:.1f} min" if "duration_s" in results else "interrupted")
        + f" ({', '.join(sections)}); median of {results['settings']['windows']} windows with their min–max.",
        "The machine was otherwise idle in every section." if not shared else "**The machine was shared** (other "
        "processes took " + ", ".join(f"{100 * v:.0f} % of the CPUs in {k}" for k, v in shared.items())
        + "): those sections' targets are not judged.",
        "### Machine", *_figures([], {k: results[k] for k in ABOUT[3:9] if k in results}, None),
        *(part for s in sections for part in [f"### {s}", *_figures([s], results[s], machine["gemm_gflops"])])])


def kept(markdown: str) -> str | None:
    """The hand-written part of a report (from its findings heading on, without :func:`render`'s note), or None."""
    start = markdown.find(f"\n{FINDINGS}\n")
    return re.sub(f"\n\n{re.escape(NOTE)}[^\n]*", "", markdown[start + 1:].rstrip()) if start >= 0 else None


def _findings(runs: dict[str, dict[str, Any]], text: str | None) -> str:
    uncited = list(dict.fromkeys(r["started"] for r in runs.values() if text is None or r["started"] not in text))
    note = f"{NOTE}{', '.join(uncited)}: write what their tables show, citing each run by its start time." \
        if uncited else ""
    return (text or FINDINGS).replace(FINDINGS, f"{FINDINGS}\n\n{note}".rstrip(), 1)


def render(runs: dict[str, dict[str, Any]], findings: str | None = None) -> str:
    """The whole BENCHMARKS.md for ``runs`` (name -> results): the targets side by side, each run, the findings."""
    judged = {name: {t["name"]: t for t in targets(results)} for name, results in runs.items()}
    order = sorted(judged, key=lambda name: -len(judged[name]))  # the run with most comparisons sets the row order
    names = list(dict.fromkeys(key for name in order for key in judged[name]))
    cell = {name: {key: f"{t['ratio']:.2f}× ({t['verdict'].partition(' (')[0]})" for key, t in j.items()}
            for name, j in judged.items()}
    return "\n\n".join([
        "# Benchmarks",
        "Generated by `python -m benchmarks` from `benchmarks/results/` (a file per CPU kind); each run's candidates "
        "ran interleaved (window after window, order rotating, each in its worker process) after warm-up. Ratios are "
        "throughput ratios (higher: keras_resnet faster).",
        "## Targets", table(["comparison (each in one run)", "target", *(f"`{name}`" for name in runs)],
                            [[key, f"≥ {next(j[key]['target'] for j in judged.values() if key in j):.1f}×",
                              *(cell[name].get(key, "–") for name in runs)] for key in names]),
        "\n".join(f"- `{name}`: {r['machine'].get('cpu') or r['machine'].get('model')}, run {r['started']}"
                  for name, r in runs.items()),
        *(_run(name, results) for name, results in runs.items()), _findings(runs, findings)]) + "\n"
