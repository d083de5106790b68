"""BENCHMARKS.md from a results dictionary (the same one written to results.json)."""

from __future__ import annotations

from typing import Any

from benchmarks.markdown import table
from benchmarks.report_onednn import render_onednn, training_why

DGX_A100_CORES = 128  # 2x AMD EPYC 7742 (NVIDIA's DGX A100 datasheet)
TEN_GBE = 10.0  # Gb/s


def _rate(row: dict[str, Any]) -> str:
    return f"{row['median_items_per_s']:.1f} ({row['min_items_per_s']:.1f}–{row['max_items_per_s']:.1f})"


def _percent(gflops: float, ceiling: float) -> str:
    return f"{100 * gflops / ceiling:.0f} %" if ceiling else "n/a"


def _machine(results: dict[str, Any]) -> str:
    m = results["machine"]
    rows = [
        ["CPU", f"{m['vendor']} {m['model']} (family/model/stepping {'/'.join(map(str, m['family_model_stepping']))}, "
                f"hypervisor {m['hypervisor']})"],
        ["cores", f"{m['physical_cores']} physical, {m['logical_cpus']} logical; "
                  f"L2 {m['l2_l3'][0]}, L3 {m['l2_l3'][1]}"],
        ["memory", f"{m['memory_gib']} GiB"],
        ["vector ISA", ", ".join(m["isa"])],
        ["clock", f"{m['clock_mhz']:.0f} MHz ({m['clock_source']})"],
        ["peak fp32 (formula)", m["peak_formula"]],
        ["measured fp32 GEMM", f"{m['gemm_gflops']:.0f} GFLOP/s (NumPy BLAS, {m['gemm_size']}³, best of 5)"],
        ["load average (1/5/15 min)", f"start {results['load_average_start']}, "
                                      + ", ".join(f"after {k} {v}" for k, v in results["load_average_after"].items())],
        ["CPU taken by other processes",
         ", ".join(f"{k} {100 * v:.1f} %" for k, v in results["other_cpu_share"].items())],
        ["software", ", ".join(f"{k} {v}" for k, v in results["versions"].items())],
    ]
    return table(["", ""], rows)


def _shortfall(target: dict[str, Any]) -> str:
    """How far a missed target's ratio is below it, in per cent of the target (one decimal)."""
    return f"{100 * (1 - target['ratio'] / target['target']):.1f} %"


def _targets(results: dict[str, Any]) -> str:
    rows = [[t["name"], f"{t['ratio']:.2f}×", f"≥ {t['target']:.1f}×",
             "met" if t["met"] else f"**missed** by {_shortfall(t)}"]
            for t in results["targets"]]
    return table(["comparison (same run)", "measured", "target", "verdict"], rows)


def _speed_rows(section: dict[str, Any], peak: float, gemm: float, extra: str | None = None) -> str:
    header = ["candidate", "images/s median (min–max)", "ms per batch", "GFLOP/s", "% of peak", "% of GEMM"]
    rows = []
    for row in section["rows"]:
        rows.append([row["name"], _rate(row), f"{row['median_ms_per_step']:.1f}", f"{row['gflops']:.0f}",
                     _percent(row["gflops"], peak), _percent(row["gflops"], gemm)]
                    + ([f"{row[extra]:.1e}"] if extra else []))
    return table(header + ([extra.replace("_", " ")] if extra else []), rows)


def _training(results: dict[str, Any], peak: float, gemm: float) -> str:
    t = results["training"]
    return "\n\n".join([
        f"## Training: CIFAR ResNet-20, batch {results['settings']['train_batch']}, 32×32, float32",
        f"FLOPs per image: {t['flops_per_image'] / 1e6:.0f} M (3 × forward: forward + backward). Best: "
        f"keras_resnet `{t['best']['keras']}`, PyTorch `{t['best']['torch']}`; ratio **{t['ratios']['torch']:.2f}×**. "
        f"In bfloat16 (both sides, this CPU has AVX512_BF16): keras_resnet `{t['best_bf16']['keras']}`, "
        f"PyTorch `{t['best_bf16']['torch']}`; ratio **{t['ratios_bf16']['torch']:.2f}×** (GFLOP/s columns count "
        "the same FLOPs whatever the precision; the peak is fp32's).",
        *([_user_path(t["user_path"])] if t.get("user_path") else []),
        _speed_rows(t, peak, gemm),
    ])


def _user_path(ratios: dict[str, float]) -> str:
    return ("The path users run, `keras_resnet.training.fit` (`python -m keras_resnet.training`: Fashion-MNIST "
            "through the tf.data pipeline with augmentation, every callback), trains at "
            + ", ".join(f"**{ratio:.2f}×** (`{name}`)" for name, ratio in ratios.items())
            + " the speed of the synthetic `keras_resnet fit` on one in-memory batch (both timed between batch ends).")


def _profiletable(section: dict[str, Any]) -> str:
    rows = [[f"`{row['op']}`", f"{row['ms']:.1f}", f"{100 * row['share']:.0f} %"] for row in section["top"]]
    return table(["op", "ms per step", "share of op time"], rows)


def _profile(results: dict[str, Any], peak: float, gemm: float) -> str:
    p = results["profile"]
    keras_t, torch_t, infer = p["keras_training"], p["torch_training"], p["keras_inference"]
    return "\n\n".join([
        "## Profile: where the time goes",
        f"Traced after the timed sections ({p['steps']} training steps per framework, batch "
        f"{results['settings']['train_batch']}; `benchmarks/profile.py`: TensorFlow's profiler XSpace summed by "
        "op type on the compute threads, `torch.profiler` self CPU time). Step times here include tracing overhead.",
        f"**Training, keras_resnet `fit` (float32)**: {keras_t['step_ms']:.0f} ms per step, of which convolutions "
        f"(forward, backprop-input, backprop-filter) take **{keras_t['conv_ms_per_step']:.0f} ms** "
        f"({100 * keras_t['conv_ms_per_step'] / keras_t['op_ms_per_step']:.0f} % of op time).",
        _profiletable(keras_t),
        f"**Training, PyTorch channels_last (float32, eager)**: {torch_t['step_ms']:.0f} ms per step, of which "
        f"convolutions take **{torch_t['conv_ms_per_step']:.0f} ms** "
        f"({100 * torch_t['conv_ms_per_step'] / torch_t['op_ms_per_step']:.0f} % of op time).",
        _profiletable(torch_t),
        f"**Inference, keras_resnet ResNet-50 with folded batch norm, batch {infer['batch']}**: "
        f"{infer['step_ms']:.0f} ms per batch, convolutions {infer['conv_ms_per_step']:.0f} ms "
        f"({100 * infer['conv_ms_per_step'] / infer['op_ms_per_step']:.0f} % of op time).",
        _profiletable(infer),
    ])


def _inference(results: dict[str, Any], peak: float, gemm: float) -> str:
    inf = results["inference"]
    parts = [f"## Inference: ResNet-50, {inf['image_size']}×{inf['image_size']}, float32, same weights everywhere"]
    for key, section in inf.items():
        if not key.startswith("batch_"):
            continue
        ratios = ", ".join(f"vs {p} ({section['best'][p]}) **{r:.2f}×**" for p, r in section["ratios"].items())
        parts += [f"### Batch {key.split('_')[1]}",
                  f"keras_resnet's best (`{section['best']['keras_resnet']}`): {ratios}.",
                  _speed_rows(section, peak, gemm, extra="max_abs_diff_vs_applications"),
                  *(_layouts(row) for row in section["rows"] if "conv_data_formats" in row)]
    return "\n\n".join(parts)


def _layouts(row: dict[str, Any]) -> str:
    ran = ", ".join(f"{count} {layout}" for layout, count in row["conv_data_formats"].items())
    return (f"`{row['name']}`: after grappler's rewrites the session ran its convolutions as {ran}"
            + (" — TensorFlow's layout optimizer does not convert NHWC to NCHW on the CPU (it logs \"Conversion "
               "from NHWC to NCHW is currently not available for CPU\"), so this row is the frozen graph "
               "in a session." if "NCHW" not in row["conv_data_formats"] else ".")
            )


def _litert(results: dict[str, Any], peak: float, gemm: float) -> str:
    parts = ["## LiteRT (ai-edge-litert), batch 1 latency",
             "Files from `export.export_model` (TFLite builtin ops). Latency: median ms per `invoke()` "
             "(min–max of the windows' medians), XNNPACK delegate unless noted."]
    for name, section in results["litert"].items():
        rows = [[r["name"], f"{r['size_bytes'] / 2**20:.2f} MiB", f"{r['median_ms_per_step']:.2f}",
                 f"{1e3 / r['max_items_per_s']:.2f}–{1e3 / r['min_items_per_s']:.2f}"] for r in section["rows"]]
        speedups = ", ".join(f"{t} thread(s) **{s:.2f}×**" for t, s in section["int8_speedup"].items())
        xnn = ", ".join(f"{v} {s:.2f}×" for v, s in section["xnnpack_speedup"].items())
        parts += [f"### {name}, input {'×'.join(map(str, section['input_shape']))}",
                  table(["file / threads", "size", "ms median", "ms range"], rows),
                  f"int8 over fp32: {speedups}. XNNPACK over reference kernels (1 thread): {xnn}."]
    return "\n\n".join(parts)


def _scaling(results: dict[str, Any], peak: float, gemm: float) -> str:
    s = results["scaling"]
    parts = ["## Scale plan"]
    if "replicas" in s:
        parts += [f"Data parallelism on this CPU (`MirroredStrategy` over logical CPUs, ResNet-20 `fit`, global batch "
                  f"{results['settings']['train_batch']}): 2 replicas run at **{s['two_replica_speedup']:.2f}×** "
                  "the speed of 1. Both replicas share the same cores, so this measures the cost of replication "
                  "(batch split + all-reduce every step), not added compute.",
                  table(["replicas", "images/s median (min–max)", "per-replica batch"],
                         [[r["replicas"], _rate(r), r["per_replica_batch"]] for r in s["replicas"]])]
    parts += ["Input pipeline (`keras_resnet.datasets.pipeline`, training mode, on this machine's cores):",
              table(["pipeline", "images/s median (min–max)", "batch"],
                     [[r["name"], _rate(r), r["batch"]] for r in s["pipelines"]])]
    p = s["projection"]
    rows = [[r["system"], r["precision"], r["batch_per_gpu"], r["gpus_1"], r["gpus_8"],
             f"{r['scaling_efficiency_8']:.2f}", r["pipeline_img_s_needed"], r["cores_needed_at_measured_rate"],
             f"{r['allreduce_gb_s_per_gpu']:.2f}"] for r in p["rows"]]
    best = max(p["rows"], key=lambda r: r["gpus_8"])
    fits = best["cores_needed_at_measured_rate"] <= DGX_A100_CORES
    link = 8 * best["allreduce_gb_s_per_gpu"]  # GB/s -> Gb/s between servers
    efficiencies = [r["scaling_efficiency_8"] for r in p["rows"]]
    parts += [
        f"Published ResNet-50 TensorFlow training throughput ({s['published']['source']}; cited, not measured) "
        "and what it implies with this repository's pipeline:",
        table(["system", "precision", "batch/GPU", "1 GPU img/s", "8 GPUs img/s", "8-GPU efficiency",
                "pipeline img/s needed", "CPU cores needed (measured JPEG rate)", "ring all-reduce GB/s per GPU"],
               rows),
        f"**Expectation.** NVIDIA's own runs scale ResNet-50 to 8 GPUs at {min(efficiencies):.2f}–"
        f"{max(efficiencies):.2f} of linear; `keras_resnet.training.fit(strategy="
        "\"mirrored\")` uses the same `MirroredStrategy` all-reduce, so with XLA and mixed precision it should land "
        "in that range if, and only if, the input pipeline keeps up. At the fastest published rate, "
        f"{best['gpus_8']} img/s, the JPEG pipeline measured here ({p['jpeg_pipeline_img_s_per_core']:.0f} img/s "
        f"per core) needs about {best['cores_needed_at_measured_rate']:.0f} CPU cores per 8-GPU server just for "
        f"decoding and augmentation ({'within' if fits else 'more than'} the {DGX_A100_CORES} cores of a DGX "
        "A100); hosts with fewer cores per GPU need decoding on the GPU (e.g. DALI) or pre-resized records. "
        "Across workers (`strategy=\"multi_worker\"`), every step all-reduces ResNet-50's float32 gradients: the "
        "table's GB/s per GPU is what the interconnect must sustain; with hierarchical all-reduce (NVLink inside "
        f"a server) that is about {link:.0f} Gb/s between servers at the fastest rate, so 100 Gb/s-class "
        "networking keeps weak scaling near the single-server figure"
        f"{', while 10 GbE would bound it' if link > TEN_GBE else ' and even 10 GbE suffices'}. "
        "On CPU-only workers the per-replica compute is the limit, and the 1-vs-2 replica figure above "
        "is what synchronisation costs on shared cores.",
    ]
    return "\n\n".join(parts)


WHY = {
    "keras": "keras_resnet and keras.applications build the same graph; the only difference is batch-norm folding, "
             "worth one element-wise pass per convolution, a few per cent of a compute-bound batch. A miss within "
             "the windows' min–max spread is noise, not a difference.",
    "torch": "PyTorch's frozen/compiled channels_last graph runs oneDNN convolutions with fused bias+ReLU post-ops "
             "and no per-op Python or executor work; TensorFlow's executor adds per-op scheduling, and the "
             "profile section shows how much of keras_resnet's batch is convolution.",
    "onnxruntime": "onnxruntime's MLAS kernels run convolutions in a blocked NCHWc layout with ReLU and the "
                   "residual add fused into the convolution, after its own BN folding and transpose elimination: "
                   "fewer, larger kernels than TensorFlow's oneDNN path (see the GFLOP/s columns). The profile "
                   "section shows keras_resnet's batch is almost all convolution already, so the remaining gap is "
                   "in the convolution kernels (MLAS' NCHWc kernels against oneDNN's), not in the graph. TensorFlow "
                   "cannot be asked for that layout: its grappler layout optimizer does not convert NHWC to NCHW on "
                   "the CPU (the `grappler NHWC_TO_NCHW` row's session still ran every convolution in NHWC).",
    "onnxruntime_batch_1": "At batch 1 each convolution is small, so what surrounds it weighs more: Keras' "
                           "`predict_on_batch` and TensorFlow's executor per op, and oneDNN's reorder of every "
                           "weight tensor on every call unless the weights are constants (compare the frozen-graph "
                           "and TF_ONEDNN_ASSUME_FROZEN_WEIGHTS rows with the plain folded row).",
    "litert": "int8 kernels (XNNPACK QS8, AVX-512 VNNI) do 4× the multiply-accumulates per instruction of fp32 FMA, "
              "but the quantize/dequantize ops at the ends, requantization between layers and the layers that stay "
              "memory-bound (pooling, adds, the small 32×32 net's tiny convolutions) do not speed up; XNNPACK's "
              "fp32 path is itself fast on AVX-512 (see the XNNPACK-over-reference figures).",
}


GPU = ("## GPU\n\n`python -m benchmarks.gpu` measures ResNet-50 on an NVIDIA GPU: training images/s in mixed "
       "precision with XLA at batch 256, and inference at batch 256 and 1, beside NVIDIA's published TensorFlow "
       "training figures (`benchmarks/published.py`). No GPU was available here, so this report has no GPU figures.")


def _misses(results: dict[str, Any]) -> str:
    missed = [t for t in results["targets"] if not t["met"]]
    if not missed:
        return "## Misses\n\nEvery target was met in this run."
    lines = ["## Misses: by how much, and why"]
    for target in missed:
        lines.append(f"- **{target['name']}**: {target['ratio']:.2f}× against ≥ {target['target']:.1f}× "
                     f"(missed by {_shortfall(target)}). "
                     + (training_why(results) if target["kind"].startswith("training") else WHY[target["kind"]]))
    return "\n".join(lines)


IDLE_SHARE = 0.1  # other processes took at most this share of the CPUs in every section: an idle machine


def _load_warning(results: dict[str, Any]) -> str:
    cpus = results["machine"]["logical_cpus"]
    share = max(results["other_cpu_share"].values())
    if share <= IDLE_SHARE:
        return (f"The machine was otherwise idle: other processes took at most {100 * share:.1f} % of its {cpus} CPUs "
                "in any section (the load average also counts this benchmark's own threads and worker processes).")
    return (f"**This run shared the machine** (other processes took up to {100 * share:.1f} % of its {cpus} CPUs in "
            "a section, see Machine): absolute "
            "figures are low and noisy. Interleaving spreads the load over all candidates, but not evenly: "
            "PyTorch's OpenMP threads wait at spinning barriers and slow down far more than TensorFlow's thread "
            "pool when other processes take their cores, so ratios against PyTorch overstate keras_resnet's lead.")


def render(results: dict[str, Any]) -> str:
    """The whole BENCHMARKS.md (the sections that ran, if the run was interrupted)."""
    peak, gemm = results["machine"]["peak_gflops_fp32"], results["machine"]["gemm_gflops"]
    sections = {"training": _training, "inference": _inference, "litert": _litert, "scaling": _scaling,
                "profile": _profile, "onednn": render_onednn}
    missing = [name for name in sections if name not in results]
    duration = (f"in {results['duration_s'] / 60:.1f} min" if "duration_s" in results
                else f"(interrupted: no {', '.join(missing)} section{'s' if len(missing) > 1 else ''})")
    body = [sections[name](results, peak, gemm) for name in sections if name in results]
    return "\n\n".join([
        "# Benchmarks",
        f"Generated by `{results['command']}` on {results['started']} {duration}; "
        "raw numbers in `benchmarks/results.json`. All comparisons of a table ran interleaved in one process "
        "(window after window, order rotating), after warm-up; figures are the median of "
        f"{results['settings']['windows']} windows, with the min–max of the windows. Ratios are throughput ratios "
        "(higher = keras_resnet faster).",
        _load_warning(results),
        "## Targets", _targets(results),
        "## Machine", _machine(results),
        *body,
        GPU,
        _misses(results),
    ]) + "\n"
