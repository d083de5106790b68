"""keras_resnet.experiments: each study as a short smoke run on real
Fashion-MNIST (tiny subset, one epoch, width x0.25), through the command-line
flags, plus the pieces the figures and claims rest on."""

import csv
import dataclasses
import json
import operator
import re
from pathlib import Path

import keras
import matplotlib.image
import numpy as np
import pytest
from absl import app, flags

from keras_resnet.experiments import cli, design, outputs, plots, runs
from keras_resnet.experiments.claims import Claim, compare, trains_claim

TINY = ["--width_multiplier=0.25", "--train_examples=256", "--eval_examples=128", "--epochs=1",
        "--batch_size=64", "--depths=8,14"]


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run folder for the module: the studies share (and reuse) their training runs."""
    return tmp_path_factory.mktemp("runs")


def run_cli(argv: list[str], work_dir: Path) -> list[Claim]:
    fv = flags.FlagValues()
    cli.define_flags(fv)
    fv(["experiments", *TINY, f"--work_dir={work_dir}", *argv])
    keras.backend.clear_session()
    return cli.run_study(fv, command="test")


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_png(path: Path) -> None:
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    assert image.std() > 0.01  # not blank


def claim_lines(summary: str) -> list[str]:
    return re.findall(r"^- .+: \*\*(?:yes|no)\*\* \(.+ vs .+\)$", summary, flags=re.M)


def check_results(path: Path, nets: set[str], seeds: set[str]) -> None:
    rows = read_csv(path)
    assert tuple(rows[0]) == outputs.EPOCH_COLUMNS
    assert {r["net"] for r in rows} == nets
    assert {r["seed"] for r in rows} == seeds
    for row in rows:
        assert 0 <= float(row["train_error"]) <= 100 and 0 <= float(row["test_error"]) <= 100
        assert int(row["params"]) > 0 and int(row["iteration"]) == 4 * int(row["epoch"])


@pytest.mark.subprocess
def test_degradation_smoke(tmp_path: Path, work_dir: Path) -> None:
    claims = run_cli([f"--out_dir={tmp_path / 'deg'}"], work_dir)
    out = tmp_path / "deg"
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "results.csv", "summary.md"]
    check_png(out / "curves.png")
    check_results(out / "results.csv", {"plain-8", "plain-14", "ResNet-8", "ResNet-14"}, {"0"})
    summary = (out / "summary.md").read_text()
    lines = claim_lines(summary)
    assert [c.text for c in claims] == ["plain-14 train error > plain-8", "ResNet-14 train error < plain-14",
                                        "ResNet-14 train error <= ResNet-8"]
    assert len(lines) == 3 and all(line.startswith(f"- {c.text}: ") for line, c in zip(lines, claims, strict=True))
    assert re.search(r"^\| plain-14 \| [\d,]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$", summary, flags=re.M)
    iterations = runs.read_iterations(work_dir / "plain_resnet14_seed0" / runs.ITERATIONS)
    assert iterations["iteration"] == [1, 2, 3, 4]
    assert all(0 <= e <= 100 for e in iterations["train_error"])


@pytest.mark.subprocess
def test_finished_runs_are_reused(tmp_path: Path, work_dir: Path) -> None:
    run_cli([f"--out_dir={tmp_path / 'first'}"], work_dir)
    record = work_dir / "resnet8_seed0" / runs.RECORD
    before = record.stat().st_mtime_ns
    run_cli([f"--out_dir={tmp_path / 'again'}"], work_dir)
    assert record.stat().st_mtime_ns == before
    assert (tmp_path / "again" / "curves.png").exists()


@pytest.mark.subprocess
def test_shortcuts_smoke(tmp_path: Path, work_dir: Path) -> None:
    claims = run_cli([f"--out_dir={tmp_path}/sc", "--study=shortcuts"], work_dir)
    rows = read_csv(tmp_path / "sc" / "results.csv")
    assert {r["shortcut"] for r in rows} == {"A", "B", "C"}
    params = {r["shortcut"]: int(r["params"]) for r in rows}
    assert params["A"] < params["B"] < params["C"]  # §3.3: A is parameter-free, C projects every shortcut
    summary = (tmp_path / "sc" / "summary.md").read_text()
    assert [c.text for c in claims] == ["ResNet-8 (B) test error < ResNet-8 (A)",
                                        "ResNet-8 (C) test error < ResNet-8 (B)"]
    assert len(claim_lines(summary)) == 2
    for option in "ABC":
        assert f"| ResNet-8 ({option}) | {params[option]:,} |" in summary


@pytest.mark.subprocess
def test_depth_smoke(tmp_path: Path, work_dir: Path) -> None:
    claims = run_cli([f"--out_dir={tmp_path}/depth", "--study=depth", "--deep_models=preact_resnet8",
                      "--deep_steps=2", "--deep_batch_size=4"], work_dir)
    summary = (tmp_path / "depth" / "summary.md").read_text()
    assert "2 steps of batch 4" in summary
    assert [c.text.split(" (")[0] for c in claims] == ["ResNet-14 train error <= ResNet-8",
                                                       "preact-ResNet-8 trains without diverging"]
    assert len(claim_lines(summary)) == 2
    row = re.search(r"^\| preact-ResNet-8 \| [\d,]+ \|.*\| 2 \| (?P<time>[\d.]+) \| (?P<xent>[^|]+) \| "
                    r"(?P<penalty>[^|]+) \| (?P<kernel>\w+) \((?P<share>\d+) %\) \|$", summary, flags=re.M)
    assert row and float(row["time"]) > 0
    xent, penalty = ([float(v) for v in row[name].split(" → ")] for name in ("xent", "penalty"))
    assert 0 < xent[0] < 10 and 0 < penalty[0] < 1  # a CIFAR net's penalty at init is far below ln(10)
    model = keras.models.load_model(work_dir / "preact_resnet8_seed0" / "final.keras", compile=False)
    assert row["kernel"] in {layer.name for layer in model.layers if hasattr(layer, "kernel")}
    assert 0 < int(row["share"]) <= 100
    nets = {r["net"] for r in read_csv(tmp_path / "depth" / "results.csv")}
    assert nets == {"ResNet-8", "ResNet-14", "preact-ResNet-8"}


@pytest.mark.subprocess
def test_responses_smoke(tmp_path: Path, work_dir: Path) -> None:
    claims = run_cli([f"--out_dir={tmp_path}/resp", "--study=responses", "--response_examples=64"], work_dir)
    out = tmp_path / "resp"
    check_png(out / "responses.png")
    rows = read_csv(out / "responses.csv")
    assert tuple(rows[0]) == ("net", "layer_index", "layer", "std")
    layers = [r["layer"] for r in rows if r["net"] == "plain-14"]
    assert len(layers) == 13 and layers[:3] == ["conv1_bn", "conv2_block1_1_bn", "conv2_block1_2_bn"]
    assert all(float(r["std"]) > 0 for r in rows)
    assert [c.text for c in claims] == ["ResNet-8 mean response std < plain-8",
                                        "ResNet-14 mean response std < plain-14",
                                        "ResNet-14 mean response std < ResNet-8"]
    assert len(claim_lines((out / "summary.md").read_text())) == 3


@pytest.mark.subprocess
def test_bad_flags_fail_clearly(tmp_path: Path, work_dir: Path) -> None:
    with pytest.raises(ValueError, match="at least two depths"):
        run_cli([f"--out_dir={tmp_path}", "--depths=8"], work_dir)
    with pytest.raises(app.UsageError, match="--shortcuts"):
        run_cli([f"--out_dir={tmp_path}", "--study=shortcuts", "--shortcuts=A,D"], work_dir)
    with pytest.raises(app.UsageError, match="lr_decay_epochs"):
        run_cli([f"--out_dir={tmp_path}", "--lr_decay_epochs=1"], work_dir)
    assert not any(tmp_path.iterdir())


def test_recipe_flags() -> None:
    fv = flags.FlagValues()
    cli.define_flags(fv)
    fv(["experiments", "--dataset=cifar10", "--data_dir=/d", "--train_examples=0", "--eval_examples=100",
        "--epochs=12", "--batch_size=32", "--learning_rate=0.05", "--lr_schedule=step", "--lr_decay_epochs=6,9",
        "--warmup_steps=40", "--width_multiplier=2", "--jit_compile"])
    flagged = cli.recipe_from_flags(fv)
    assert flagged == dataclasses.replace(
        design.RECIPE, dataset="cifar10", data_dir="/d", train_examples=None, eval_examples=100, epochs=12,
        global_batch_size=32, learning_rate=0.05, lr_schedule="step", lr_decay_epochs=(6.0, 9.0), warmup_steps=40,
        width_multiplier=2.0, jit_compile=True)
    config = design.train_config(flagged, runs.Net("resnet56", plain=True, shortcut="B"), 3, "/m")
    assert (config.model, config.plain, config.shortcut, config.seed, config.lr_decay_epochs) == (
        "resnet56", True, "B", 3, (6.0, 9.0))
    assert (config.image_size, config.model_dir, config.global_batch_size) == (32, "/m", 32)
    constant = design.train_config(dataclasses.replace(design.RECIPE, epochs=4), runs.Net("resnet20"), 0, "/m")
    assert constant.lr_schedule == "constant" and constant.lr_decay_epochs is None  # a real constant schedule
    with pytest.raises(flags.IllegalFlagValueError, match="--seeds must be a comma-separated list of ints"):
        fv(["experiments", "--seeds=0,x"])
    with pytest.raises(flags.IllegalFlagValueError, match="--deep_models must be a comma-separated list of model"):
        fv(["experiments", "--deep_models=resnet1202,vgg16"])


def test_iteration_log_recovers_each_batch(tmp_path: Path) -> None:
    log = runs.IterationLog(tmp_path / "it.csv")
    for epoch in range(2):
        log.on_epoch_begin(epoch)
        accuracies = [0.5, 0.7, 0.9]
        for batch in range(3):
            log.on_train_batch_begin(batch)
            mean = float(np.mean(accuracies[:batch + 1]))
            log.on_train_batch_end(batch, {"accuracy": mean, "loss": 1.0 + batch, "cross_entropy": 0.5 + batch})
        log.on_epoch_end(epoch)
    table = runs.read_iterations(tmp_path / "it.csv")
    assert table["iteration"] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(table["train_error"], [50, 30, 10] * 2, atol=1e-3)
    np.testing.assert_allclose(table["loss"], [1, 3, 5] * 2, atol=1e-4)
    np.testing.assert_allclose(table["cross_entropy"], [0.5, 2.5, 4.5] * 2, atol=1e-4)


def test_changed_settings_invalidate_a_run(tmp_path: Path) -> None:
    config = design.train_config(design.RECIPE, runs.Net("resnet20"), 0, str(tmp_path / "run"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    outputs.write_csv(run_dir / "x.csv", ["a"], [])
    (run_dir / runs.RECORD).write_text("{}")
    (run_dir / "config.json").write_text(json.dumps({**config.to_dict(), "extra": 1}))
    assert runs._finished(run_dir, config)
    other = design.train_config(design.RECIPE, runs.Net("resnet20"), 1, str(run_dir))
    assert not runs._finished(run_dir, other) and not run_dir.exists()


def test_an_older_iteration_log_invalidates_a_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    config = design.train_config(design.RECIPE, runs.Net("resnet20"), 0, str(run_dir))
    run_dir.mkdir()
    (run_dir / runs.RECORD).write_text("{}")
    (run_dir / "config.json").write_text(json.dumps(config.to_dict()))
    (run_dir / runs.ITERATIONS).write_text(",".join(runs.IterationLog.COLUMNS) + "\n1,50,2,2,1\n")
    assert runs._finished(run_dir, config)
    (run_dir / runs.ITERATIONS).write_text("iteration,train_error,loss,seconds\n1,50,2,1\n")  # no cross-entropy
    assert not runs._finished(run_dir, config) and not run_dir.exists()


def test_claims_and_tables() -> None:
    claim = compare("x > y", [3.0, 1.0], [2.0, 2.0], operator.gt)
    assert claim.line() == "- x > y: **no** (2.0 % vs 2.0 %; every seed: no, 1/2)"
    assert compare("a < b", [1.0], [2.0], operator.lt).line() == "- a < b: **yes** (1.0 % vs 2.0 %)"
    assert outputs.mean_std([1.0, 3.0]) == "2.0 ± 1.4" and outputs.mean_std([1.25]) == "1.2"
    np.testing.assert_allclose(plots.smooth([1, 3, 5, 7], 2), [1, 2, 4, 6])


def test_trains_claim_needs_a_fall_below_a_uniform_guess() -> None:
    falling = [2.2] * 5 + [1.5] * 5
    assert trains_claim("a", falling, 10).holds
    to_chance = [25.0] * 5 + [2.32] * 5  # a huge initial loss that falls only to ln(10) = 2.303
    claim = trains_claim("b", to_chance, 10)
    assert not claim.holds and (claim.left, claim.right) == (25.0, 2.32)
    assert not trains_claim("c", [2.2] * 5 + [2.25] * 5, 10).holds  # rises, below chance
    assert not trains_claim("d", None, 10).holds  # NaN: diverged
    assert "ln 10 = 2.303" in claim.line()


def fake_run(net: runs.Net, seed: int, train_error: float) -> runs.RunRecord:
    history = {"accuracy": [0.5, 1 - train_error / 100], "loss": [2.0, 1.0], "cross_entropy": [1.9, 0.9],
               "val_accuracy": [0.5, 0.6],
               "val_loss": [2.0, 1.5]}
    iterations = {"iteration": [1, 2, 3, 4], "train_error": [60, 50, 40, train_error], "loss": [2, 2, 1, 1],
                  "cross_entropy": [1.9, 1.9, 0.9, 0.9],
                  "seconds": [9, 0.1, 0.3, 0.2]}
    return runs.RunRecord(net, seed, history, {"accuracy": 0.6}, iterations, 2, 1000, "")


def test_seed_statistics_and_curves(tmp_path: Path) -> None:
    plain, res = runs.Net("resnet20", plain=True), runs.Net("resnet20")
    records = [fake_run(plain, 0, 30.0), fake_run(plain, 1, 20.0), fake_run(res, 0, 10.0), fake_run(res, 1, 10.0)]
    table = outputs.error_table(outputs.by_net(records))
    assert "| plain-20 | 1,000 | 25.0 ± 7.1 | 40.0 ± 0.0 | 30.0, 20.0 |" in table
    assert records[0].seconds_per_step == pytest.approx(0.25)  # median after the 2 compiling steps
    plots.training_curves(records, tmp_path / "c.png", "fake")
    check_png(tmp_path / "c.png")
