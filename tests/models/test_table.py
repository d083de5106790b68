"""The model table (paper Table 1 style): rows, formats, CLI."""

import csv
import io
import subprocess
import sys

import pytest

from keras_resnet import table


def test_rows_report_counts_for_net_and_plain_twin():
    rows = table.rows(["resnet20", "resnet18"])
    by_name = {r["model"]: r for r in rows}
    assert list(by_name) == ["resnet20", "plain_resnet20", "resnet18", "plain_resnet18"]
    assert by_name["resnet20"]["trainable_params"] == 269_722
    assert by_name["resnet20"]["layers"] == 20 and by_name["resnet18"]["layers"] == 18
    assert by_name["plain_resnet20"]["shortcut"] == "none"
    # Option A is parameter-free, so plain-20 and ResNet-20 have the same parameters;
    # ResNet-18 loses its three projection shortcuts.
    assert by_name["plain_resnet20"]["params"] == by_name["resnet20"]["params"]
    assert by_name["plain_resnet18"]["params"] < by_name["resnet18"]["params"]
    assert abs(by_name["resnet18"]["macs"] - 1.81e9) / 1.81e9 < 0.01


def test_markdown_and_csv_rendering():
    rows = table.rows(["resnet20"], plain=False)
    md = table.render(rows, "markdown")
    assert md.splitlines()[0].startswith("| model | family")
    assert "| resnet20 | cifar basic | — | 3x3x3 | 20 | A | 271,098 | 269,722 | 40.55M |" in md
    parsed = list(csv.DictReader(io.StringIO(table.render(rows, "csv"))))
    assert parsed[0]["trainable_params"] == "269722" and parsed[0]["macs"] == str(40_550_400 + 64 * 10)  # convs + fc
    with pytest.raises(ValueError, match="`format`"):
        table.render(rows, "html")
    with pytest.raises(ValueError, match="`models`"):
        table.rows(["resnet7"])


@pytest.mark.subprocess
def test_cli_csv():
    out = subprocess.run(
        [sys.executable, "-m", "keras_resnet.table", "--models", "resnet32", "--format", "csv", "--noplain"],
        check=True, capture_output=True, text=True,
    ).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["model"] for r in rows] == ["resnet32"]
    assert rows[0]["trainable_params"] == "464154"
    for flag, allowed in (("--format=html", "<markdown|csv>"), ("--models=resnet20,resnet7", "resnet18, ")):
        bad = subprocess.run([sys.executable, "-m", "keras_resnet.table", flag], capture_output=True, text=True)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
        assert bad.stderr.startswith(f"python -m keras_resnet.table: error: flag {flag}") and allowed in bad.stderr
