"""Smoke test: ``python -m benchmarks --tiny`` runs every section and computes every ratio end to end, in two worker
processes, and writes well-formed outputs; the report sets runs of several CPU kinds side by side, older files
included; the committed BENCHMARKS.md is what the committed results render to.

No timing is asserted: tiny settings check the plumbing. Needs the benchmark-only packages
(``requirements-bench.txt``, installed by ``.ci/setup``): a missing one fails the test rather than skipping it.
"""

import ast
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks import machine, render
from keras_resnet import cpu

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
SECTIONS = ["training", "inference", "litert", "scaling"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    folder = tmp_path_factory.mktemp("benchmarks")
    (folder / "results").mkdir()
    run = _run("--tiny", f"--sections={','.join(reversed(SECTIONS))}", "--results", str(folder / "results"),
               "--markdown", str(folder / "BENCHMARKS.md"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    [written] = (folder / "results").iterdir()
    return json.loads(written.read_text()), (folder / "BENCHMARKS.md").read_text(), written


def _finite_positive(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_results_say_where_they_ran(outputs: tuple[dict, str, Path]) -> None:
    results, markdown, path = outputs
    described = results["machine"]
    assert path.name == f"{machine.slug(described)}.json"
    assert described["cpu"] == cpu.cpu_model() and described["features"] == cpu.features()
    assert described["onednn_by_default"] == cpu.onednn_by_default() and _finite_positive(described["gemm_gflops"])
    assert results["versions"]["tensorflow"] != "not installed" and results["settings"]["windows"] == 1
    assert list(results["other_cpu_share"]) == SECTIONS  # in their own order
    assert all(0 <= share <= 1 for share in results["other_cpu_share"].values())
    assert f"## {path.stem}: {described['cpu']}" in markdown and "| machine › features | avx2 " in markdown


def test_both_onednn_states_and_pytorch_run_side_by_side(outputs: tuple[dict, str, Path]) -> None:
    results, _, _ = outputs
    rows = {row["name"]: row for row in results["training"]["rows"]}
    assert set(rows) == {"keras_resnet fit, oneDNN off", "keras_resnet fit, oneDNN on", "torch NCHW",
                         "keras_resnet fit, mixed_bfloat16, oneDNN off", "keras_resnet fit, mixed_bfloat16, oneDNN on",
                         "torch channels_last", "torch channels_last, autocast bf16"}
    assert rows["keras_resnet fit, oneDNN off"]["worker"] == "oneDNN off"
    assert {row["worker"] for name, row in rows.items() if not name.endswith("off")} == {"oneDNN on"}  # two workers
    against = results["training"]["against_plain"]  # each variant over the plain fit of its oneDNN state
    assert set(against) == {f"keras_resnet fit, mixed_bfloat16, oneDNN {state}" for state in ("off", "on")}
    assert against["keras_resnet fit, mixed_bfloat16, oneDNN off"] == pytest.approx(
        rows["keras_resnet fit, mixed_bfloat16, oneDNN off"]["median_items_per_s"]
        / rows["keras_resnet fit, oneDNN off"]["median_items_per_s"], abs=1e-3)
    for state in ("off", "on"):
        for key in ("ratios", "ratios_bf16"):
            ratio = results["training"][key][state]
            assert _finite_positive(ratio["ratio"]) and rows[ratio["ours"]]["onednn"] == state
            assert rows[ratio["peer"]]["framework"] == "torch"
    batch = results["inference"]["batch_1"]
    assert {row["name"] for row in batch["rows"]} == {
        "keras_resnet folded BN, oneDNN off", "keras.applications, oneDNN off", "keras_resnet folded BN, oneDNN on",
        "keras.applications, oneDNN on", "onnxruntime",
        "torch NCHW", "torch channels_last", "torch channels_last TorchScript frozen"}
    assert all(row["max_abs_diff_vs_applications"] <= 1e-3 for row in batch["rows"])
    assert set(batch["ratios"]["off"]) == set(batch["ratios"]["on"]) == {"keras", "torch", "onnxruntime"}
    assert batch["against_plain"] == {}  # the tiny run times no other variant of the folded net


def test_every_row_has_its_window(outputs: tuple[dict, str, Path]) -> None:
    results, _, _ = outputs
    rows = results["training"]["rows"] + results["inference"]["batch_1"]["rows"]
    rows += results["litert"]["resnet20"]["rows"] + results["scaling"]["replicas"]
    for row in rows:
        assert len(row["windows_items_per_s"]) == 1 and _finite_positive(row["median_items_per_s"])
        assert row["min_items_per_s"] <= row["median_items_per_s"] <= row["max_items_per_s"]
    litert = results["litert"]["resnet20"]
    assert {(row["variant"], row["threads"], row["xnnpack"]) for row in litert["rows"]} == {
        (v, t, True) for v in ("fp32", "int8") for t in (1, 2)} | {("fp32", 1, False), ("int8", 1, False)}
    assert set(litert["int8_speedup"]) == {"1", "2"} and set(litert["xnnpack_speedup"]) == {"fp32", "int8"}
    assert [row["replicas"] for row in results["scaling"]["replicas"]] == [1, 2]
    assert _finite_positive(results["scaling"]["two_replica_speedup"])


def test_targets_are_judged_and_printed(outputs: tuple[dict, str, Path]) -> None:
    results, markdown, path = outputs
    targets = render.targets(results)
    assert len(targets) == 4 + 4 * 2 + 2  # training fp32/bf16, inference 3 peers + latency, per state; LiteRT 1 and 2
    assert {t["section"] for t in targets} == {"training", "inference", "litert"}
    for t in targets:
        assert t["met"] == (t["ratio"] >= t["target"])
        assert t["idle"] == (results["other_cpu_share"][t["section"]] <= render.IDLE_SHARE)
        assert t["verdict"].startswith(("met", "missed") if t["idle"] else "not judged")
        assert f"| {t['name']} | ≥ {t['target']:.1f}× | {t['ratio']:.2f}× (" in markdown
    assert f"| comparison (each in one run) | target | `{path.stem}` |" in markdown
    for heading in ("## Targets", "### Machine", "### training", "### inference", "### litert", "### scaling",
                    render.FINDINGS):
        assert f"\n{heading}\n" in markdown


def test_where_the_time_goes(outputs: tuple[dict, str, Path]) -> None:
    """The profiles name each worker's kernels: oneDNN's (``_Mkl``) op types only where oneDNN is on."""
    results, markdown, _ = outputs
    off, on, torch_side = results["training"]["profiles"]
    assert not any(op["op"].startswith("_Mkl") for op in off["top"])
    assert any(op["op"].startswith("_Mkl") for op in on["top"])
    assert all(op["op"].startswith("aten::") for op in torch_side["top"])
    for profile in (off, on, torch_side, *results["inference"]["profiles"]):
        assert 0 < profile["conv_ms"] <= profile["op_ms"] and _finite_positive(profile["step_ms"])
        assert f"`{profile['candidate']}` › top:" in markdown


@pytest.mark.subprocess
def test_runs_of_several_cpu_kinds_side_by_side(outputs: tuple[dict, str, Path], tmp_path: Path) -> None:
    """--from_json: this run, an interrupted one and the committed ones (older schemas too), a column each."""
    results, _, path = outputs
    shutil.copytree(RESULTS, tmp_path / "results")
    shutil.copy(path, tmp_path / "results" / "this-run.json")
    partial = {k: v for k, v in results.items() if k not in ("litert", "scaling", "duration_s")}
    partial["other_cpu_share"] = {k: v for k, v in partial["other_cpu_share"].items() if k in partial}
    (tmp_path / "results" / "interrupted.json").write_text(json.dumps(partial))
    markdown = tmp_path / "BENCHMARKS.md"
    markdown.write_text(f"# Benchmarks\n\nold tables\n\n{render.FINDINGS}\n\nFrom the run of {results['started']}.\n")
    run = _run("--from_json", "--results", str(tmp_path / "results"), "--markdown", str(markdown))
    assert run.returncode == 0, run.stderr[-3000:]
    text = markdown.read_text()
    runs = {p.stem: json.loads(p.read_text()) for p in sorted((tmp_path / "results").glob("*.json"))}
    assert "| comparison (each in one run) | target | " + " | ".join(f"`{n}`" for n in runs) + " |" in text
    for name, run_results in runs.items():
        assert f"\n## {name}: " in text
        for t in render.targets(run_results):
            assert f"{name}: {t['name']}: {t['ratio']:.2f}x" in run.stdout
    assert "interrupted (training, inference)" in text and "old tables" not in text
    assert text.endswith(f"From the run of {results['started']}.\n")
    [note] = [line[37:] for line in text.splitlines() if line.startswith("> Not yet read against the run(s) of ")]
    uncited = set(note.split(": write")[0].split(", "))
    assert uncited == {r["started"] for r in runs.values()} - {results["started"]}


def test_an_older_schema_keeps_its_targets() -> None:
    """Files written before both oneDNN states were measured: their targets, with oneDNN on, under today's names."""
    older = [r for r in (json.loads(p.read_text()) for p in RESULTS.glob("*.json")) if render.older_schema(r)]
    assert older, "no committed results file of the older schema left to check"
    for results in older:
        assert [(t["ratio"], t["target"]) for t in render.targets(results)] == [
            (t["ratio"], t["target"]) for t in results["targets"]]
        assert {t["name"] for t in render.targets(results) if t["section"] != "litert"} <= {
            f"training {p} vs PyTorch's best, oneDNN on" for p in ("fp32", "bf16")} | {
            f"inference batch 32 vs {peer}, oneDNN on" for peer in render.PEERS.values()} | {
            "inference latency (batch 1) vs onnxruntime, oneDNN on"}


def test_benchmarks_md_is_the_committed_results_rendered() -> None:
    text = (ROOT / "BENCHMARKS.md").read_text()
    runs = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    assert text == render.render(runs, render.kept(text)), "regenerate it: python -m benchmarks --from_json"


@pytest.mark.parametrize(("argv", "expected"), [
    ([], {"windows": 5, "window_seconds": 2.0, "torch_compile": True, "train_batch": 128, "shared_workers": False}),
    (["--tiny"], {"windows": 1, "torch_compile": False, "train_batch": 4, "shared_workers": True}),
    (["--windows=3", "--window_seconds=0.5", "--notorch_compile"], {"windows": 3, "window_seconds": 0.5,
                                                                     "torch_compile": False, "train_batch": 128}),
    (["--tiny", "--torch_compile"], {"windows": 1, "torch_compile": True}),
])
def test_the_flags_choose_the_settings(argv: list[str], expected: dict) -> None:
    from benchmarks import cli

    cli.FLAGS(["benchmarks", *argv])
    try:
        settings = cli.settings_from_flags()
        assert {key: getattr(settings, key) for key in expected} == expected
    finally:
        cli.FLAGS.unparse_flags()


@pytest.mark.subprocess
@pytest.mark.parametrize(("argv", "message"), [
    (["--sections=training,nope"], "--sections must be a non-empty comma-separated list of"),
    (["--results=/nonexistent/folder"], "--results must be an existing folder; received /nonexistent/folder"),
    (["--from_json", "--results=/tmp", "--markdown=/nonexistent/BENCHMARKS.md"], "--markdown must be a file in an"),
    (["--tiny", "--from_json"], "--from_json reports the runs in --results: give --results (a --tiny run without"),
    (["--tiny", "--markdown=/nonexistent/BENCHMARKS.md"], "--markdown must be a file in an existing folder"),
])
def test_a_bad_flag_is_refused_in_one_line(argv: list[str], message: str) -> None:
    before = set(Path(tempfile.gettempdir()).glob("benchmarks_tiny_*"))
    run = _run(*argv)
    assert run.returncode != 0 and message in run.stderr and "Traceback" not in run.stderr
    assert set(Path(tempfile.gettempdir()).glob("benchmarks_tiny_*")) == before  # refused before any folder is made


def test_an_empty_results_folder_is_refused(tmp_path: Path) -> None:
    from absl import app

    from benchmarks import cli

    with pytest.raises(app.UsageError, match="--results holds no results"):
        cli.report(tmp_path, tmp_path / "BENCHMARKS.md")
    assert not (tmp_path / "BENCHMARKS.md").exists()


def test_a_target_is_judged_only_on_an_idle_machine() -> None:
    results = {"other_cpu_share": {"litert": render.IDLE_SHARE},
               "litert": {"resnet20": {"int8_speedup": {"1": 2.5, "2": 1.5}}}}
    assert [t["verdict"] for t in render.targets(results)] == ["met", "missed by 25.0 %"]
    results["other_cpu_share"]["litert"] = render.IDLE_SHARE + 0.01
    shared = "not judged: the machine was shared"
    assert [t["verdict"] for t in render.targets(results)] == [f"{shared} (above the target)",
                                                               f"{shared} (below the target)"]


def test_the_product_never_imports_benchmarks() -> None:
    for path in [*ROOT.glob("keras_resnet/**/*.py"), *ROOT.glob("export/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "benchmarks" or n.startswith("benchmarks.") for n in names), path
