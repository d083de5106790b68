"""benchmarks.trace: parsing and summing oneDNN verbose lines, on lines captured from both frameworks.

The lines are verbatim from this repository's benchmark (ResNet-20 training, batch 8): TensorFlow 2.21 (oneDNN
3.7.3, ``ONEDNN_VERBOSE=1``) and PyTorch 2.13 (oneDNN 3.12.0, ``torch.backends.mkldnn.verbose``), both with
``ONEDNN_VERBOSE_TIMESTAMP=1``, and one TensorFlow line without the time stamp. No timing is measured here.
"""

import pytest

from benchmarks import trace

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
    assert trace.parse_line(TF_STEP[1]) == {"primitive": "convolution", "implementation": "brg_conv_fwd:avx512_core",
                                            "propagation": "forward_training", "ms": 0.198975,
                                            "start": 1796317275111.75}
    plain = trace.parse_line(TF_NO_STAMP)
    assert plain["start"] is None and plain["ms"] == 0.00317383 and plain["primitive"] == "reorder"
    assert trace.parse_line(TF_STEP[-1])["implementation"] == ""  # the gemm line names no implementation
    for line in TF_INFO + TORCH_INFO + ["", "WARNING: All log messages before absl"]:
        assert trace.parse_line(line) is None


def test_summarise_per_step() -> None:
    one = trace.summarise(TF_INFO + TF_STEP, steps=1, step_ms=3.0)
    assert one["version"] == "v3.7.3" and one["calls"] == 9 and one["step_ms"] == 3.0
    assert one["onednn_ms"] == 2.48  # 0.00610352 + 0.198975 + ... + 0.0371094 = 2.47803192
    kernels = one["kernels"]
    assert [k["ms"] for k in kernels] == sorted((k["ms"] for k in kernels), reverse=True)
    assert kernels[0] == {"primitive": "convolution", "propagation": "backward_data", "calls": 1, "ms": 1.05,
                          "implementation": "brg_conv_bwd:avx512_core+brg_conv_fwd:avx512_core"}
    assert {"primitive": "reorder", "implementation": "jit:uni", "propagation": "undef", "calls": 3,
            "ms": 0.27} in kernels  # 0.00610352 + 0.147949 + 0.119873
    assert sum(k["calls"] for k in kernels) == one["calls"]
    # The stem's intervals are apart; in the backward, backward weights [127.231, 127.836] runs inside backward data
    # [126.873, 127.927], which the next reorder and batch norm overlap too: the union is 0.006 + 0.199 + 0.170
    # + (126.863 - 126.715) + (128.100 - 126.873) + 0.037 (to the precision of the ms time stamps).
    assert one["busy_ms"] == pytest.approx(0.00610352 + 0.198975 + 0.169922 + 0.147949 + 1.227051 + 0.0371094,
                                           abs=1e-2)
    two = trace.summarise(TF_STEP * 2, steps=2, step_ms=3.0)  # the same step logged twice: the same figures per step
    assert two["kernels"] == kernels and two["onednn_ms"] == one["onednn_ms"]
    assert two["busy_ms"] == pytest.approx(one["busy_ms"] / 2, abs=1e-2)  # the same intervals twice: union once
    assert trace.summarise(TF_STEP + [TF_NO_STAMP], steps=1, step_ms=3.0)["busy_ms"] is None


def test_summarise_the_torch_lines() -> None:
    torch_side = trace.summarise(TORCH_INFO + TORCH_STEP, steps=1, step_ms=40.0)
    assert torch_side["version"] == "v3.12.0" and torch_side["onednn_ms"] == 38.05  # 38.04833
    assert torch_side["busy_ms"] == pytest.approx(38.04833, abs=1e-2)  # one after the other: no overlap
    assert not any(k["primitive"] == "batch_normalization" for k in torch_side["kernels"])
