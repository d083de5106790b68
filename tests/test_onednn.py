"""benchmarks.onednn: parsing and aggregating oneDNN verbose lines, on lines captured from both frameworks.

The lines are verbatim from this repository's benchmark (ResNet-20 training, batch 8): TensorFlow 2.21 (oneDNN
3.7.3, ``ONEDNN_VERBOSE=1``) and PyTorch 2.13 (oneDNN 3.12.0, ``torch.backends.mkldnn.verbose``), both with
``ONEDNN_VERBOSE_TIMESTAMP=1``, and one TensorFlow line without the time stamp. No timing is measured here.
"""

import pytest

from benchmarks import onednn, report_onednn

TF_INFO = [
    "onednn_verbose,v1,info,oneDNN v3.7.3 (commit N/A)",
    "onednn_verbose,v1,info,cpu,runtime:threadpool,nthr:2",
    "onednn_verbose,v1,info,gpu,runtime:none",
    "onednn_verbose,v1,primitive,info,template:timestamp,operation,engine,primitive,implementation,prop_kind,"
    "memory_descriptors,attributes,auxiliary,problem_desc,exec_time",
]
# The forward of the stem (weight reorder, convolution, batch norm), then the backward of a 64-channel 3x3
# convolution, where TensorFlow runs backward data and backward weights at the same time, then the dense layer's
# gradient GEMM.
TF_STEP = [
    "onednn_verbose,v1,1796317275111.699951,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:cdba::f0 "
    "dst:f32::blocked:Acdb16a::f0,,,16x3x3x3,0.00610352",
    "onednn_verbose,v1,1796317275111.750000,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,"
    "forward_training,src:f32::blocked:acdb::f0 wei:f32:a:blocked:Acdb16a::f0 bia:undef::undef::: "
    "dst:f32::blocked:acdb::f0,attr-scratchpad:user,alg:convolution_direct,"
    "mb8_ic3oc16_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1,0.198975",
    "onednn_verbose,v1,1796317275111.985107,primitive,exec,cpu,batch_normalization,bnorm_tbb_jit:avx512_core,"
    "forward_training,data:f32::blocked:acdb::f0,,flags:CHR,mb8ic16ih32iw32,0.169922",
    "onednn_verbose,v1,1796317275126.715088,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:cdba::f0 "
    "dst:f32::blocked:Bcda64b::f0,,,64x64x3x3,0.147949",
    "onednn_verbose,v1,1796317275127.230957,primitive,exec,cpu,convolution,jit:avx512_core,backward_weights,"
    "src:f32::blocked:acdb::f0 wei:f32:a:blocked:ABcd16b16a::f0 bia:undef::undef::: dst:f32::blocked:acdb::f0,,"
    "alg:convolution_direct,mb8_ic64oc64_ih8oh8kh3sh1dh0ph1_iw8ow8kw3sw1dw0pw1,0.60498",
    "onednn_verbose,v1,1796317275126.873047,primitive,exec,cpu,convolution,"
    "brg_conv_bwd:avx512_core+brg_conv_fwd:avx512_core,backward_data,src:f32::blocked:acdb::f0 "
    "wei:f32:a:blocked:Bcda64b::f0 bia:undef::undef::: dst:f32::blocked:acdb::f0,,alg:convolution_direct,"
    "mb8_ic64oc64_ih8oh8kh3sh1dh0ph1_iw8ow8kw3sw1dw0pw1,1.05396",
    "onednn_verbose,v1,1796317275127.850098,primitive,exec,cpu,reorder,jit:uni,undef,"
    "src:f32::blocked:ABcd16b16a::f0 dst:f32::blocked:cdba::f0,,,64x64x3x3,0.119873",
    "onednn_verbose,v1,1796317275127.960938,primitive,exec,cpu,batch_normalization,bnorm_tbb_jit:avx512_core,"
    "backward,data:f32::blocked:acdb::f0 diff:f32::blocked:acdb::f0,,flags:CH,mb8ic64ih8iw8,0.13916",
    "onednn_verbose,v1,1796317275012.597900,primitive,exec,cpu,gemm_api,,undef,src_f32::blocked:ba:f0 "
    "wei_f32::blocked:ab:f0 dst_f32::blocked:ab:f0,,,64x8:8x10,0.0371094",
]
TF_NO_STAMP = ("onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:cdba::f0 "
               "dst:f32::blocked:Acdb16a::f0,,,16x3x3x3,0.00317383")
TORCH_INFO = [
    "onednn_verbose,v1,info,oneDNN v3.12.0 (commit 80afa71049cd69a3df32adcccb623b12cd7baa22)",
    "onednn_verbose,v1,info,cpu,runtime:OpenMP,nthr:2",
    "onednn_verbose,v1,info,gpu,runtime:none",
    "onednn_verbose,v1,graph,info,template:timestamp,operation,engine,partition_id,partition_kind,op_names,"
    "data_formats,logical_tensors,fpmath_mode,implementation,backend,exec_time",
]
TORCH_STEP = [
    "onednn_verbose,v1,1796317285991.670898,primitive,exec,cpu,reorder,jit:blk,undef,src:f32::blocked:acdb::f0 "
    "dst:f32::blocked:Acdb16a::f0,attr-scratchpad:user,,16x3x3x3,6.66406",
    "onednn_verbose,v1,1796317285998.522949,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core,"
    "forward_training,src:f32::blocked:acdb::f0 wei:f32:a:blocked:Acdb16a::f0 bia:undef::undef::: "
    "dst:f32::blocked:acdb::f0,attr-scratchpad:user,alg:convolution_direct,"
    "mb8_ic3oc16_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1,7.89404",
    "onednn_verbose,v1,1796317287474.469971,primitive,exec,cpu,convolution,"
    "brg_conv_bwd:avx512_core+brg_conv_fwd:avx512_core,backward_data,src:f32::blocked:acdb::f0 "
    "wei:f32:a:blocked:Bcda64b::f0 bia:undef::undef::: dst:f32::blocked:acdb::f0,attr-scratchpad:user,"
    "alg:convolution_direct,mb8_ic64oc64_ih8oh8kh3sh1dh0ph1_iw8ow8kw3sw1dw0pw1,8.00415",
    "onednn_verbose,v1,1796317287482.647949,primitive,exec,cpu,convolution,jit:avx512_core,backward_weights,"
    "src:f32::blocked:acdb::f0 wei:f32:a:blocked:ABcd16b16a::f0 bia:undef::undef::: dst:f32::blocked:acdb::f0,"
    "attr-scratchpad:user,alg:convolution_direct,mb8_ic64oc64_ih8oh8kh3sh1dh0ph1_iw8ow8kw3sw1dw0pw1,7.83911",
    "onednn_verbose,v1,1796317287490.653076,primitive,exec,cpu,reorder,jit:uni,undef,"
    "src:f32::blocked:ABcd16b16a::f0 dst:f32::blocked:abcd::f0,attr-scratchpad:user,,64x64x3x3,7.64697",
]


def test_parse_line_finds_the_columns_with_and_without_time_stamp() -> None:
    conv = onednn.parse_line(TF_STEP[1])
    assert conv == {
        "primitive": "convolution", "implementation": "brg_conv_fwd:avx512_core", "propagation": "forward_training",
        "formats": {"src": "acdb", "wei": "Acdb16a", "dst": "acdb"},  # no bias: "bia:undef::undef:::"
        "problem": "mb8_ic3oc16_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1", "ms": 0.198975,
        "start": 1796317275111.75,
    }
    plain = onednn.parse_line(TF_NO_STAMP)
    assert plain["start"] is None and plain["ms"] == 0.00317383
    assert plain["formats"] == {"src": "cdba", "dst": "Acdb16a"} and plain["primitive"] == "reorder"
    gemm = onednn.parse_line(TF_STEP[-1])  # no implementation name, "src_f32::..." descriptors
    assert gemm["implementation"] == "" and gemm["formats"] == {"src": "ba", "wei": "ab", "dst": "ab"}
    for line in TF_INFO + TORCH_INFO + ["@@onednn begin", "", "WARNING: All log messages before absl"]:
        assert onednn.parse_line(line) is None
    assert onednn.is_plain("acdb") and onednn.is_plain("abcd")
    assert not any(map(onednn.is_plain, ("aBcd16b", "Acdb16a", "ABcd16b16a")))


def test_runtime_info_reads_the_cpu_lines() -> None:
    assert onednn.runtime_info(TF_INFO + TF_STEP) == {"version": "v3.7.3", "runtime": "threadpool", "nthr": "2"}
    assert onednn.runtime_info(TORCH_INFO) == {"version": "v3.12.0", "runtime": "OpenMP", "nthr": "2"}


def test_aggregate_sums_per_step() -> None:
    one = onednn.aggregate(TF_INFO + TF_STEP, steps=1)
    assert one["calls"] == 9
    assert one["onednn_ms"] == 2.478  # 0.00610352 + 0.198975 + ... + 0.0371094 = 2.47803192
    assert one["groups"] == {
        "conv_forward": {"calls": 1, "ms": 0.199},
        "conv_backward_data": {"calls": 1, "ms": 1.054},
        "conv_backward_weights": {"calls": 1, "ms": 0.605},
        "reorder": {"calls": 3, "ms": 0.274},  # 0.00610352 + 0.147949 + 0.119873
        "batch_norm": {"calls": 2, "ms": 0.309},  # 0.169922 + 0.13916
        "other": {"calls": 1, "ms": 0.037},
    }
    assert one["convolution_ms"] == {"forward": 0.199, "backward_data": 1.054, "backward_weights": 0.605}
    assert one["reorders"]["calls"] == 3 and one["reorders"]["ms"] == 0.274
    assert one["reorders"]["by_formats"] == [
        {"src": "cdba", "dst": "Bcda64b", "calls": 1, "ms": 0.148},
        {"src": "ABcd16b16a", "dst": "cdba", "calls": 1, "ms": 0.12},
        {"src": "cdba", "dst": "Acdb16a", "calls": 1, "ms": 0.006},
    ]
    assert one["conv_source_formats"] == {"acdb": 3} and one["conv_source_layout"] == "plain"
    rows = one["primitives"]
    assert [r["ms"] for r in rows] == sorted((r["ms"] for r in rows), reverse=True)
    assert rows[0] == {"primitive": "convolution", "propagation": "backward_data", "calls": 1, "ms": 1.054,
                       "implementation": "brg_conv_bwd:avx512_core+brg_conv_fwd:avx512_core"}
    assert {"primitive": "reorder", "implementation": "jit:uni", "propagation": "undef", "calls": 3,
            "ms": 0.274} in rows
    assert sum(r["calls"] for r in rows) == one["calls"]
    # The stem's intervals are apart; in the backward, backward weights [127.231, 127.836] runs inside backward data
    # [126.873, 127.927], which the next reorder and batch norm overlap too: the union is 0.006 + 0.199 + 0.170
    # + (126.863 - 126.715) + (128.100 - 126.873) + 0.037 (to the precision of the ms time stamps).
    assert one["busy_ms"] == pytest.approx(0.00610352 + 0.198975 + 0.169922 + 0.147949 + 1.227051 + 0.0371094,
                                           abs=2e-3)

    two = onednn.aggregate(TF_STEP * 2, steps=2)  # the same step logged twice: the same figures per step
    assert {k: v for k, v in two.items() if k not in ("steps", "busy_ms")} == \
           {k: v for k, v in one.items() if k not in ("steps", "busy_ms")}
    assert two["busy_ms"] == pytest.approx(one["busy_ms"] / 2, abs=1e-3)  # same intervals twice: union once
    assert onednn.aggregate(TF_STEP + [TF_NO_STAMP], steps=1)["busy_ms"] is None


def test_aggregate_of_the_torch_lines_and_of_blocked_sources() -> None:
    torch_side = onednn.aggregate(TORCH_INFO + TORCH_STEP, steps=1)
    assert torch_side["groups"]["batch_norm"] == {"calls": 0, "ms": 0.0}
    assert torch_side["groups"]["reorder"] == {"calls": 2, "ms": 14.311}  # 6.66406 + 7.64697
    assert torch_side["onednn_ms"] == 38.048  # + 7.89404 + 8.00415 + 7.83911 = 38.04833
    assert torch_side["busy_ms"] == pytest.approx(38.04833, abs=2e-3)  # one after the other: no overlap
    blocked = TF_STEP[1].replace("src:f32::blocked:acdb", "src:f32::blocked:aBcd16b")
    assert onednn.aggregate([blocked], 1)["conv_source_layout"] == "blocked"
    assert onednn.aggregate([blocked, TF_STEP[4]], 1)["conv_source_layout"] == "mixed"
    assert onednn.aggregate(TF_INFO, 1)["conv_source_layout"] == "none"


def _results() -> dict:
    tf = {**onednn.aggregate(TF_INFO + TF_STEP, 1), "step_ms": 3.0, **onednn.runtime_info(TF_INFO)}
    pt = {**onednn.aggregate(TORCH_INFO + TORCH_STEP, 1), "step_ms": 40.0, **onednn.runtime_info(TORCH_INFO)}
    return {"onednn": {"steps": 1, "batch": 8, "tensorflow": tf, "torch": pt,
                       "comparison": onednn.compare(tf, pt)}}


def test_compare_rows_add_up_to_the_step() -> None:
    o = _results()["onednn"]
    rows = {r["row"]: r for r in o["comparison"]}
    assert list(rows) == [*onednn.GROUPS, "overlap", "outside_onednn", "step"]
    for side in ("tensorflow", "torch"):
        parts = sum(r[f"{side}_ms"] for name, r in rows.items() if name != "step")
        assert parts == pytest.approx(o[side]["step_ms"], abs=1e-2)
    assert rows["step"]["tensorflow_ms"] == 3.0 and rows["step"]["gap_ms"] == -37.0
    assert rows["reorder"] == {"row": "reorder", "tensorflow_ms": 0.274, "torch_ms": 14.311, "gap_ms": -14.037,
                               "tensorflow_calls": 3, "torch_calls": 2}
    assert rows["overlap"]["torch_ms"] == 0.0 and rows["overlap"]["tensorflow_ms"] < 0


def test_report_renders_the_tables_and_the_miss() -> None:
    results = _results()
    text = report_onednn.render_onednn(results, 1.0, 1.0)
    assert text.startswith("### oneDNN primitives")
    assert "| reorders | 0.3 (3) | 14.3 (2) | -14.0 |" in text
    assert "| convolution backward data | 1.1 (1) | 8.0 (1) | -7.0 |" in text
    assert "PyTorch runs no batch-norm primitive in oneDNN" in text and "TensorFlow runs no" not in text
    assert "oneDNN v3.7.3 (threadpool runtime, 2 threads)" in text and "`cdba`→`Bcda64b` 1 × 0.1 ms" in text
    assert "| `convolution` | `brg_conv_bwd:avx512_core+brg_conv_fwd:avx512_core` | backward_data | 1 | 1.1 |" in text
    why = report_onednn.training_why(results)
    assert "reorders 3 calls, 0.3 ms vs 2 calls, 14.3 ms" in why
    assert "backward weights 0.6 vs 7.8 ms (-7.2)" in why and "batch norm (+0.3 ms)" in why
    assert "plain in TensorFlow (acdb)" in why
    assert "reorder to oneDNN's blocked layout inside every call" not in why
    assert "no oneDNN primitives section" in report_onednn.training_why({})


def test_measure_needs_two_steps() -> None:
    with pytest.raises(ValueError, match="steps"):
        onednn.measure("torch", batch=2, warmup=0, steps=1)


def test_a_failed_child_reports_its_error() -> None:
    """The forked child's standard error (here NumPy refusing a negative batch) is in the parent's message."""
    with pytest.raises(RuntimeError, match=r"(?s)the torch oneDNN log failed \(exit 1\).*negative dimensions"):
        onednn.measure("torch", batch=-1, warmup=0, steps=2)
