"""Smoke test: ``python -m benchmarks --tiny`` runs every section end to end and writes well-formed outputs; the
worker mechanism sets each worker's environment before TensorFlow and Keras read it.

No timing is asserted: tiny settings check the plumbing. Needs the benchmark-only packages
(``requirements-bench.txt``, installed by ``.ci/setup``): a missing one fails the test rather than skipping it.
"""

import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report
from keras_resnet import cpu

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = "training,inference,litert,scaling,gpu"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    folder = tmp_path_factory.mktemp("benchmarks")
    run = _run("--tiny", f"--sections={SECTIONS}", "--markdown", str(folder / "BENCHMARKS.md"),
               "--json", str(folder / "results.json"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads((folder / "results.json").read_text()), (folder / "BENCHMARKS.md").read_text(), folder


def _finite_positive(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_results_say_where_they_ran(outputs: tuple[dict, str, Path]) -> None:
    results, markdown, _ = outputs
    machine = results["machine"]
    assert machine["cpu"] == cpu.cpu_model() and machine["features"] == cpu.features()
    assert machine["onednn_by_default"] == cpu.onednn_by_default()
    assert _finite_positive(machine["peak_gflops_fp32"]) and _finite_positive(machine["gemm_gflops"])
    assert results["versions"]["tensorflow"] != "not installed" and results["settings"]["windows"] == 2
    sections = SECTIONS.split(",")
    assert list(results["other_cpu_share"]) == list(results["load_average"]) == sections
    assert all(0 <= share <= 1 for share in results["other_cpu_share"].values())
    assert f"| CPU | {machine['cpu']} |" in markdown and "avx512_vnni " in markdown
    assert results["gpu"] == {"device": None} and "No NVIDIA GPU was visible" in markdown  # none on the CI machines


def test_both_onednn_states_and_pytorch_run_side_by_side(outputs: tuple[dict, str, Path]) -> None:
    results, _, _ = outputs
    rows = {row["name"]: row for row in results["training"]["rows"]}
    assert {"keras_resnet fit, oneDNN off", "keras_resnet fit, oneDNN on", "torch channels_last",
            "keras_resnet fit, mixed_bfloat16, oneDNN off", "torch channels_last, autocast bf16"} <= set(rows)
    assert rows["keras_resnet fit, oneDNN off"]["worker"] == "oneDNN off"
    first = rows["keras_resnet fit, channels_first, oneDNN on"]  # needs oneDNN: in the oneDNN-on worker
    assert first["data_format"] == "channels_first" and first["worker"] == "oneDNN on"
    assert rows["keras_resnet fit, steps_per_execution 8, oneDNN on"]["items_per_step"] == 8 * 8
    against = results["training"]["against_plain"]  # each variant over the plain fit of its oneDNN state
    assert set(against) == {name for name, row in rows.items() if row.get("onednn")} - {
        "keras_resnet fit, oneDNN off", "keras_resnet fit, oneDNN on"}
    assert against["keras_resnet fit, mixed_bfloat16, oneDNN off"] == pytest.approx(
        rows["keras_resnet fit, mixed_bfloat16, oneDNN off"]["median_items_per_s"]
        / rows["keras_resnet fit, oneDNN off"]["median_items_per_s"], abs=1e-3)
    for state in ("off", "on"):
        for key in ("ratios", "ratios_bf16"):
            ratio = results["training"][key][state]
            assert _finite_positive(ratio["ratio"]) and rows[ratio["ours"]]["onednn"] == state
            assert rows[ratio["peer"]]["framework"] == "torch"
    batch = results["inference"]["batch_1"]
    names = {row["name"] for row in batch["rows"]}
    assert {"keras_resnet folded BN, oneDNN off", "keras.applications, oneDNN off", "onnxruntime", "torch NCHW",
            "keras_resnet folded BN, frozen graph, oneDNN on"} <= names
    assert all(row["max_abs_diff_vs_applications"] <= 1e-3 for row in batch["rows"])
    assert set(batch["ratios"]["off"]) == set(batch["ratios"]["on"]) == {"keras", "torch", "onnxruntime"}
    layouts = next(r for r in batch["rows"] if "conv_data_formats" in r)["conv_data_formats"]
    assert sum(layouts.values()) == 53 and set(layouts) <= {"NHWC", "NCHW"}  # ResNet-50's 53 convolutions


def test_every_row_has_its_windows(outputs: tuple[dict, str, Path]) -> None:
    results, _, _ = outputs
    rows = results["training"]["rows"] + results["inference"]["batch_1"]["rows"]
    rows += results["litert"]["resnet20"]["rows"] + results["scaling"]["replicas"] + results["scaling"]["pipelines"]
    for row in rows:
        assert len(row["windows_items_per_s"]) == 2 and all(map(_finite_positive, row["windows_items_per_s"]))
        assert row["min_items_per_s"] <= row["median_items_per_s"] <= row["max_items_per_s"]
    assert {row["variant"] for row in results["litert"]["resnet20"]["rows"]} == {"fp32", "dynamic", "fp16", "int8"}
    assert [row["replicas"] for row in results["scaling"]["replicas"]] == [1, 2]
    assert results["scaling"]["projection"]["rows"]


def test_targets_are_judged_and_printed(outputs: tuple[dict, str, Path]) -> None:
    results, markdown, _ = outputs
    assert {t["section"] for t in results["targets"]} == {"training", "inference", "litert"}
    assert len(results["targets"]) == 4 + 4 * 2 + 2  # training fp32/bf16 x 2 states, 4 inference x 2, LiteRT 1 and 2
    for target in results["targets"]:
        assert target["met"] == (target["ratio"] >= target["target"])
        assert target["idle"] == (results["other_cpu_share"][target["section"]] <= report.IDLE_SHARE)
        assert target["verdict"].startswith(("met", "missed") if target["idle"] else "not judged")
        assert f"| {target['name']} | {target['ratio']:.2f}× |" in markdown
    for heading in ("## Targets", "## Machine", "## Training", "## Inference", "## LiteRT", "## Scale plan", "## GPU",
                    "### oneDNN primitives, training", report.FINDINGS):
        assert heading in markdown


def test_where_the_time_goes(outputs: tuple[dict, str, Path]) -> None:
    """The profiles name each worker's kernels: oneDNN's (``_Mkl``) op types only where oneDNN is on."""
    results, _, _ = outputs
    off, on, torch_side = results["training"]["profiles"]
    assert not any(op["op"].startswith("_Mkl") for op in off["top"])
    assert any(op["op"].startswith("_Mkl") for op in on["top"])
    assert all(op["op"].startswith("aten::") for op in torch_side["top"])
    for profile in (off, on, torch_side, *results["inference"]["profiles"]):
        assert 0 < profile["conv_ms"] <= profile["op_ms"] and _finite_positive(profile["step_ms"])
    for log in results["training"]["onednn_logs"]:
        assert log["version"].startswith("v") and _finite_positive(log["calls"])
        assert log["busy_ms"] <= log["onednn_ms"] + 1e-2
        assert {k["primitive"] for k in log["kernels"]} >= {"convolution", "reorder"}


def test_report_is_rewritten_from_partial_json_keeping_the_findings(outputs: tuple[dict, str, Path],
                                                                    tmp_path: Path) -> None:
    results, _, _ = outputs
    partial = {k: v for k, v in results.items() if k not in ("litert", "scaling", "gpu", "duration_s", "targets")}
    (tmp_path / "results.json").write_text(json.dumps(partial))
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\nold tables\n\n## Findings\n\nWritten from the run of 2000-01-01 00:00 UTC. "
                        "Prose.\n")
    run = _run("--from_json", "--json", str(tmp_path / "results.json"), "--markdown", str(markdown))
    assert run.returncode == 0, run.stderr[-3000:]
    text = markdown.read_text()
    assert "(interrupted)" in text and "## Inference" in text and "## LiteRT" not in text and "old tables" not in text
    assert text.endswith("Written from the run of 2000-01-01 00:00 UTC. Prose.\n")
    assert f"> Written from the run of 2000-01-01 00:00 UTC, not from the tables above ({results['started']})" in text


@pytest.mark.parametrize(("argv", "expected"), [
    ([], {"windows": 5, "window_seconds": 2.0, "torch_compile": True, "train_batch": 128}),
    (["--tiny"], {"windows": 2, "torch_compile": False, "train_batch": 8}),
    (["--windows=3", "--window_seconds=0.5", "--notorch_compile"], {"windows": 3, "window_seconds": 0.5,
                                                                     "torch_compile": False, "train_batch": 128}),
    (["--tiny", "--torch_compile"], {"windows": 2, "torch_compile": True}),
])
def test_the_flags_choose_the_settings(argv: list[str], expected: dict) -> None:
    from benchmarks import cli

    cli.FLAGS(["benchmarks", *argv])
    try:
        settings = cli.settings_from_flags()
        assert {key: getattr(settings, key) for key in expected} == expected
    finally:
        cli.FLAGS.unparse_flags()


def test_a_bad_flag_is_refused_in_one_line() -> None:
    run = _run("--sections=training,nope")
    assert run.returncode != 0 and "--sections must be a non-empty comma-separated list of" in run.stderr


def test_a_target_is_judged_only_on_an_idle_machine() -> None:
    results = {"machine": {"onednn_by_default": False}, "other_cpu_share": {"litert": report.IDLE_SHARE},
               "litert": {"resnet20": {"int8_speedup": {"1": 2.5, "2": 1.5}}}}
    assert [t["verdict"] for t in report.targets(results)] == ["met", "missed by 25.0 %"]
    results["other_cpu_share"]["litert"] = report.IDLE_SHARE + 0.01
    shared = "not judged: the machine was shared"
    assert [t["verdict"] for t in report.targets(results)] == [f"{shared} (above the target)",
                                                               f"{shared} (below the target)"]


def test_the_product_never_imports_benchmarks() -> None:
    for path in [*ROOT.glob("keras_resnet/**/*.py"), *ROOT.glob("export/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "benchmarks" or n.startswith("benchmarks.") for n in names), path
