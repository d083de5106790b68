"""torchvision / timm checkpoints load exactly (weights= and the converter CLI).

Nothing is downloaded: the PyTorch references below are written here from the
documented state-dict layouts (torchvision's ``ResNet`` with ``BasicBlock`` /
``Bottleneck`` v1.5; timm's ``resnet*d`` with its deep stem and average-pool
downsample), get random weights and non-trivial batch-norm statistics, and are
saved as ``.pth`` and ``.safetensors`` into ``tmp_path``.
"""

import builtins
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from absl import flags

import keras_resnet as kr
from keras_resnet import checkpoints
from keras_resnet.convert import cli as convert_cli
from keras_resnet.flagtypes import flags_parser

torch = pytest.importorskip("torch")  # installed in CI (requirements-bench.txt)
nn = torch.nn
F = torch.nn.functional
safetensors_torch = pytest.importorskip("safetensors.torch")

# Published parameter counts: torchvision's model docs (resnet18..152) and timm's resnet50d.
PUBLISHED = {
    ("resnet18", "v1"): 11_689_512,
    ("resnet34", "v1"): 21_797_672,
    ("resnet50", "v1.5"): 25_557_032,
    ("resnet101", "v1.5"): 44_549_160,
    ("resnet152", "v1.5"): 60_192_808,
    ("resnet50", "d"): 25_576_264,
}
DEPTHS = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3)),
          "resnet50": ("bottleneck", (3, 4, 6, 3)), "resnet101": ("bottleneck", (3, 4, 23, 3)),
          "resnet152": ("bottleneck", (3, 8, 36, 3))}


def convert_main(argv: list[str]) -> int:
    """``python -m keras_resnet.convert`` with ``argv``, in this process (its own flags)."""
    fv = flags.FlagValues()
    convert_cli.define_flags(fv)
    return convert_cli.main(flags_parser(convert_cli.PROG, fv)([convert_cli.PROG, *argv]), fv)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """PyTorch's spinning worker threads crawl beside TensorFlow's on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False)


class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, width, 3, stride), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = _conv(width, width, 3), nn.BatchNorm2d(width)
        self.downsample = downsample

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """v1.5: the stride sits in the 3x3 conv (torchvision, timm)."""

    expansion = 4

    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1, self.bn1 = _conv(cin, width, 1), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = _conv(width, width, 3, stride), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = _conv(width, width * 4, 1), nn.BatchNorm2d(width * 4)
        self.downsample = downsample

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(y)))))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class TorchResNet(nn.Module):
    """torchvision's ``ResNet`` (``deep=False``) or timm's ResNet-D (``deep=True``), by key names."""

    def __init__(self, name: str, deep: bool = False, classes: int = 1000):
        super().__init__()
        kind, blocks = DEPTHS[name]
        block = Bottleneck if kind == "bottleneck" else Basic
        if deep:  # timm: stem_type="deep", stem_width=32
            self.conv1 = nn.Sequential(_conv(3, 32, 3, 2), nn.BatchNorm2d(32), nn.ReLU(), _conv(32, 32, 3),
                                       nn.BatchNorm2d(32), nn.ReLU(), _conv(32, 64, 3))
        else:
            self.conv1 = _conv(3, 64, 7, 2)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for stage, (n, width) in enumerate(zip(blocks, (64, 128, 256, 512), strict=True), start=1):
            layers = []
            for index in range(n):
                stride = 2 if stage > 1 and index == 0 else 1
                out = width * block.expansion
                down = None
                if stride != 1 or cin != out:
                    if deep:  # timm's downsample_avg
                        pool = (nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
                                if stride > 1 else nn.Identity())
                        down = nn.Sequential(pool, _conv(cin, out, 1), nn.BatchNorm2d(out))
                    else:
                        down = nn.Sequential(_conv(cin, out, 1, stride), nn.BatchNorm2d(out))
                layers.append(block(cin, width, stride, down))
                cin = out
            setattr(self, f"layer{stage}", nn.Sequential(*layers))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for stage in range(1, 5):
            x = getattr(self, f"layer{stage}")(x)
        return self.fc(x.mean((2, 3)))


def reference(name: str, variant: str, classes: int = 1000, seed: int = 0) -> TorchResNet:
    """A reference in eval mode with random weights and random batch-norm statistics."""
    torch.manual_seed(seed)
    net = TorchResNet(name, deep=variant == "d", classes=classes)
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.uniform_(0.3, 1.0)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
                module.num_batches_tracked.fill_(c)
        net.fc.weight.normal_(0.0, 0.1)
    return net.eval()


def save(net: nn.Module, folder, stem: str) -> tuple[str, str]:
    """The state dict as torchvision (``.pth``) and the Hub (``.safetensors``) publish it."""
    pth, st = os.path.join(folder, f"{stem}.pth"), os.path.join(folder, f"{stem}.safetensors")
    torch.save(net.state_dict(), pth)
    safetensors_torch.save_file({k: v.contiguous() for k, v in net.state_dict().items()}, st)
    return pth, st


def torch_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def logits(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def torch_logits(net: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()


def build(name: str, variant: str, **kwargs) -> keras.Model:
    kwargs.setdefault("input_shape", (None, None, 3))
    return kr.get_model(name, variant=variant, classifier_activation=None, **kwargs)


# (net, variant, image sizes): 224x224 plus a non-square size whose feature maps
# go odd (200x264: 25x33 after stage 2, so ResNet-D's ceil-mode average pool
# averages partial windows); ResNet-34/101 at smaller sizes to keep the suite fast.
CASES = [
    ("resnet18", "v1", [(224, 224), (200, 264)]),
    ("resnet18", "d", [(224, 224), (200, 264)]),
    ("resnet50", "v1.5", [(224, 224), (200, 264)]),
    ("resnet50", "d", [(224, 224), (200, 264)]),
    ("resnet34", "v1", [(72, 104)]),
    ("resnet34", "d", [(72, 104)]),
    ("resnet101", "v1.5", [(72, 104)]),
    ("resnet101", "d", [(72, 104)]),
]


@pytest.mark.parametrize("name,variant,sizes", CASES, ids=[f"{n}-{v}" for n, v, _ in CASES])
def test_checkpoint_logits_and_params_match_pytorch(tmp_path, name, variant, sizes):
    net = reference(name, variant)
    pth, st = save(net, tmp_path, name)
    model = build(name, variant, weights=pth)
    assert kr.count_trainable_params(model) == torch_params(net)
    if (name, variant) in PUBLISHED:
        assert torch_params(net) == PUBLISHED[name, variant]
    rng = np.random.default_rng(1)
    for height, width in sizes:
        x = rng.normal(size=(2, height, width, 3)).astype("float32")
        expected = torch_logits(net, x)
        assert np.abs(expected).max() > 1.0  # logits large enough for 1e-4 to mean something
        np.testing.assert_allclose(logits(model, x), expected, rtol=0, atol=1e-4)
    if variant == "d" and sizes[-1] == (200, 264):
        # The odd size does reach the average pool's partial windows: a pool that
        # averaged them with zero padding (divided by 4) would change the logits.
        for module in net.modules():
            if isinstance(module, nn.Sequential) and isinstance(module[0], nn.AvgPool2d):
                module[0] = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.AvgPool2d(2, 2))
        assert np.abs(torch_logits(net, x) - expected).max() > 1e-3
    # The same tensors from .safetensors (read without PyTorch), into a zeroed model.
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    checkpoints.load(model, st, include_top=True, avg_down=variant == "d")
    np.testing.assert_allclose(logits(model, x), expected, rtol=0, atol=1e-4)



def test_resnet152_reference_counts_torchvisions_parameters():
    """The reference the converter is timed with; keras_resnet's own ResNet-152 v1.5 count is
    tested against the same published number in test_formats_features."""
    assert torch_params(TorchResNet("resnet152")) == PUBLISHED["resnet152", "v1.5"]

@pytest.fixture(scope="module")
def r18(tmp_path_factory):
    """A ResNet-18 reference, its state dict and its .pth/.safetensors files."""
    folder = tmp_path_factory.mktemp("r18")
    net = reference("resnet18", "v1")
    pth, st = save(net, folder, "resnet18")
    return net, net.state_dict(), pth, st


def edited(folder, state, drop=(), **replace) -> str:
    """A .safetensors copy of ``state`` without ``drop`` and with ``replace`` (keys with / for .)."""
    state = {k: v for k, v in state.items() if k not in drop}
    state.update({k.replace("/", "."): v for k, v in replace.items()})
    path = os.path.join(folder, "edited.safetensors")
    safetensors_torch.save_file({k: v.contiguous() for k, v in state.items()}, path)
    return path


def test_missing_tensor_is_named_with_its_keras_layer(tmp_path, r18):
    path = edited(tmp_path, r18[1], drop=["layer2.0.bn1.running_var"])
    with pytest.raises(ValueError, match=r"resnet18 variant='v1', 1000 classes\) does not fit resnet18: "
                       r"no tensor 'layer2.0.bn1.running_var' for keras layer 'conv3_block1_1_bn' \(shape \(128,\)\)"):
        build("resnet18", "v1", weights=path)


def test_extra_tensor_is_named(tmp_path, r18):
    path = edited(tmp_path, r18[1], **{"layer4/2/conv1/weight": torch.zeros(512, 512, 3, 3)})
    with pytest.raises(ValueError, match=r"tensor 'layer4.2.conv1.weight' \(512, 512, 3, 3\) has no keras layer"):
        build("resnet18", "v1", weights=path)


def test_deeper_checkpoint_is_refused_naming_its_depth(tmp_path):
    _, st = save(reference("resnet34", "v1"), tmp_path, "resnet34")
    with pytest.raises(ValueError, match=r"\(resnet34 variant='v1', 1000 classes\) does not fit resnet18: "
                       r"tensor 'layer1.2.bn1.bias' \(64,\) has no keras layer"):
        build("resnet18", "v1", weights=st)


def test_misshaped_tensor_is_named_with_both_shapes(tmp_path, r18):
    path = edited(tmp_path, r18[1], **{"layer3/1/conv2/weight": torch.zeros(256, 256, 1, 1)})
    with pytest.raises(ValueError, match=r"tensor 'layer3.1.conv2.weight' has shape \(256, 256, 1, 1\); "
                       r"keras layer 'conv4_block2_2_conv' needs \(256, 256, 3, 3\)"):
        build("resnet18", "v1", weights=path)


def test_variant_mismatch_names_the_checkpoints_variant(tmp_path):
    _, st = save(reference("resnet18", "d"), tmp_path, "resnet18d")
    with pytest.raises(ValueError, match=r"\(resnet18 variant='d', 1000 classes\) does not fit resnet18: "
                       r"no tensor 'conv1.weight' for keras layer 'conv1_conv'"):
        build("resnet18", "v1", weights=st)
    _, st = save(reference("resnet50", "v1.5"), tmp_path, "resnet50")
    with pytest.raises(ValueError, match=r"\(resnet50 variant='v1.5', 1000 classes\) does not fit resnet50: "
                       r"no tensor 'conv1.bias' for keras layer 'conv1_conv'"):
        build("resnet50", "v1", weights=st)  # keras.applications' layout has conv biases


def test_classes_other_than_the_checkpoints_need_include_top_false(tmp_path):
    net = reference("resnet18", "v1", classes=10)
    pth, _ = save(net, tmp_path, "resnet18_10")
    with pytest.raises(ValueError, match=r"it has 10 classes \(fc.weight \(10, 512\)\) and the model "
                       r"classes=1000; pass classes=10, or include_top=False to drop fc"):
        build("resnet18", "v1", weights=pth)
    x = np.random.default_rng(2).normal(size=(1, 64, 96, 3)).astype("float32")
    model = build("resnet18", "v1", weights=pth, classes=10)
    np.testing.assert_allclose(logits(model, x), torch_logits(net, x), rtol=0, atol=1e-4)
    # include_top=False drops fc.*: the pooled features are PyTorch's input to fc.
    features = build("resnet18", "v1", weights=pth, include_top=False, pooling="avg")
    net.fc = nn.Identity()
    np.testing.assert_allclose(logits(features, x), torch_logits(net, x), rtol=0, atol=1e-4)


def test_nets_without_a_pytorch_layout_are_refused(r18):
    with pytest.raises(ValueError, match=r"tensor 'layer2.0.downsample.0.weight' .* has no keras layer"):
        build("resnet18", "v1", weights=r18[2], plain=True)
    with pytest.raises(ValueError, match=r"keras layer 'conv2_block1_preact_bn' of resnet18v2 has no "
                       r"torchvision/timm counterpart"):
        kr.get_model("resnet18v2", weights=r18[2])


def test_unreadable_checkpoints(tmp_path):
    for suffix in (".pth", ".safetensors"):
        path = tmp_path / f"garbage{suffix}"
        path.write_bytes(os.urandom(256))
        with pytest.raises(ValueError, match=rf"garbage\{suffix}' is not a readable PyTorch checkpoint"):
            build("resnet18", "v1", weights=str(path))
    # Corrupt pickles that make torch's unpickler fail with IndexError (TUPLE1 on an empty stack) and KeyError
    # (GET of a missing memo entry): random bytes hit these now and then.
    for name, data in (("empty_stack", b"\x80\x02\x85."), ("missing_memo", b"\x80\x02h\x05.")):
        path = tmp_path / f"{name}.pth"
        path.write_bytes(data)
        with pytest.raises(ValueError, match=rf"{name}\.pth' is not a readable PyTorch checkpoint"):
            build("resnet18", "v1", weights=str(path))
    not_a_state_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_a_state_dict)
    with pytest.raises(ValueError, match="holds no flat state dict of tensors"):
        build("resnet18", "v1", weights=str(not_a_state_dict))


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="the PyTorch backend itself needs torch")
def test_without_torch_pth_fails_clearly_and_safetensors_loads(monkeypatch, capsys, r18):
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ImportError, match=r"resnet18.pth' is a PyTorch pickle: reading it needs PyTorch "
                       r"\(`pip install torch`\)"):
        build("resnet18", "v1", weights=r18[2])
    with pytest.raises(SystemExit) as exit_info:
        convert_main([r18[2], "--model", "resnet18", "--variant", "v1", "--output", "o.weights.h5"])
    assert exit_info.value.code == 2 and "`pip install torch`" in capsys.readouterr().err
    model = build("resnet18", "v1", weights=r18[3])
    monkeypatch.undo()
    x = np.random.default_rng(3).normal(size=(1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(logits(model, x), torch_logits(r18[0], x), rtol=0, atol=1e-4)


def test_convert_cli_writes_weights_that_load_with_weights_path(tmp_path, capsys):
    net = reference("resnet18", "d")
    _, st = save(net, tmp_path, "resnet18d")
    out = tmp_path / "out" / "resnet18d.weights.h5"
    assert convert_main([st, "--model", "resnet18", "--variant", "d", "--output", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert os.listdir(out.parent) == [out.name]
    x = np.random.default_rng(4).normal(size=(1, 72, 104, 3)).astype("float32")
    model = build("resnet18", "d", weights=str(out))
    np.testing.assert_allclose(logits(model, x), torch_logits(net, x), rtol=0, atol=1e-4)

    notop = tmp_path / "resnet18d_notop.keras"
    assert convert_main([st, "--model", "resnet18", "--variant", "d", "--output", str(notop),
                         "--noinclude_top"]) == 0
    loaded = keras.models.load_model(notop)
    assert loaded.output.shape[-1] == 512 and len(loaded.output.shape) == 4  # no classifier
    features = build("resnet18", "d", weights=st, include_top=False)
    np.testing.assert_allclose(logits(loaded, x), logits(features, x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("argv,message", [
    (["{st}", "--model", "resnet19", "--variant", "d", "--output", "o.weights.h5"],
     "flag --model=resnet19: value should be one of <resnet18|"),
    (["{st}", "--model", "resnet18", "--variant", "v2", "--output", "o.weights.h5"],
     "flag --variant=v2: value should be one of <v1|"),
    (["{st}", "--model", "resnet18", "--variant", "d"], "Flag --output must have a value other than None"),
    (["{st}", "--model", "resnet18", "--variant", "d", "--output", "o.h5"],
     "--output must end in .weights.h5 or .keras; received --output='o.h5'"),
    (["{st}", "--model", "resnet18", "--variant", "d", "--output", "{tmp}/folder.keras"],
     "--output cannot be written"),
    (["{st}", "--model", "resnet18", "--variant", "d", "--output", "{tmp}/notes.txt/o.keras"],
     "--output cannot be written"),
    (["{tmp}/nope.pth", "--model", "resnet18", "--variant", "d", "--output", "o.keras"],
     "CHECKPOINT file not found"),
    (["{tmp}/notes.txt", "--model", "resnet18", "--variant", "d", "--output", "o.keras"],
     "CHECKPOINT must end in .safetensors, .pth, .pt"),
    (["--model", "resnet18", "--variant", "d", "--output", "o.keras"], "expected one CHECKPOINT"),
])
def test_convert_cli_rejects_bad_flags_in_one_line(tmp_path, capsys, r18, argv, message):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "folder.keras").mkdir()
    argv = [a.format(st=r18[3], tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        convert_main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m keras_resnet.convert: error: ") and message in err


@pytest.mark.subprocess
def test_convert_command_line(r18):
    """``python -m keras_resnet.convert``: --helpshort lists the flags; a bad flag exits 2 with one line."""
    command = [sys.executable, "-m", "keras_resnet.convert"]
    shown = subprocess.run([*command, "--helpshort"], capture_output=True, text=True).stdout
    assert all(flag in shown for flag in ("--model:", "--variant:", "--output:", "--[no]include_top:")), shown
    bad = subprocess.run([*command, r18[3], "--model=resnet18", "--variant=v2", "--output=o.keras"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr == ("python -m keras_resnet.convert: error: flag --variant=v2: value "
                                                  "should be one of <v1|v1.5|d>\n")


def test_convert_cli_leaves_nothing_behind_when_the_checkpoint_does_not_fit(tmp_path, capsys, r18):
    out = tmp_path / "resnet34.weights.h5"
    status = convert_main([r18[2], "--model", "resnet34", "--variant", "v1", "--output", str(out)])
    assert status == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no tensor 'layer1.2.conv1.weight' for keras layer 'conv2_block3_1_conv'" in err
    assert os.listdir(tmp_path) == []


def test_convert_cli_write_failure_leaves_no_partial_file(tmp_path, capsys, monkeypatch, r18):
    def broken_save(model, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save_weights", broken_save)
    out = tmp_path / "resnet18.weights.h5"
    assert convert_main([r18[3], "--model", "resnet18", "--variant", "v1", "--output", str(out)]) == 1
    assert "disk full" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.onednn
def test_channels_first_models_load_the_same_kernels(tmp_path):
    net = reference("resnet50", "d")
    _, st = save(net, tmp_path, "resnet50d")
    # 40x56: unequal sides, and maps that go odd (5x7 after stage 3, 3x4 after stage 4), so ResNet-D's ceil-mode
    # average pool averages partial windows on both axes; small, as oneDNN's NCHW kernels on AVX2 CPUs take
    # seconds per image.
    x = np.random.default_rng(5).normal(size=(1, 40, 56, 3)).astype("float32")
    with kr.image_data_format("channels_first"):
        model = build("resnet50", "d", weights=st, input_shape=(3, None, None))
        got = logits(model, x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(got, torch_logits(net, x), rtol=0, atol=1e-4)


_OTHER_BACKEND = """
import sys
import numpy as np
import keras
import keras_resnet as kr

checkpoint, converted, expected = sys.argv[1:]
data = np.load(expected)
for weights in (checkpoint, converted):
    model = kr.get_model("resnet18", variant="d", weights=weights, input_shape=(None, None, 3),
                         classifier_activation=None)
    got = keras.ops.convert_to_numpy(model(data["x"], training=False))
    print(keras.backend.backend(), weights, float(np.abs(got - data["logits"]).max()))
"""


@pytest.mark.subprocess
@pytest.mark.parametrize("backend", ["jax", "torch", "tensorflow"])
def test_checkpoints_and_converted_files_load_on_every_backend(tmp_path, backend):
    """In a fresh process per backend (the current backend is covered by the tests above)."""
    if backend == keras.backend.backend():
        pytest.skip(f"{backend} is this process's backend: covered in-process")
    pytest.importorskip(backend)
    net = reference("resnet18", "d")
    _, st = save(net, tmp_path, "resnet18d")
    converted = str(tmp_path / "resnet18d.weights.h5")
    assert convert_main([st, "--model", "resnet18", "--variant", "d", "--output", converted]) == 0
    x = np.random.default_rng(6).normal(size=(1, 72, 104, 3)).astype("float32")
    np.savez(tmp_path / "expected.npz", x=x, logits=torch_logits(net, x))
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": os.getcwd()}
    run = subprocess.run([sys.executable, "-c", _OTHER_BACKEND, st, converted, str(tmp_path / "expected.npz")],
                         env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(backend + " ") for line in lines), run.stdout
    assert all(float(line.split()[-1]) <= 1e-4 for line in lines), run.stdout


@pytest.mark.subprocess
@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="export/ runs on the TensorFlow backend")
def test_converted_checkpoint_goes_through_the_export(tmp_path):
    """The deployment chain, small: a random-weight torchvision-layout ResNet-18 checkpoint,
    converted, loaded with weights=, saved as .keras, exported by ``python -m export`` (SavedModel and
    LiteRT) with torchvision's ImageNet normalisation carried by the ``image_bytes`` signature."""
    tf = pytest.importorskip("tensorflow")
    import export_support

    from keras_resnet.imagenet import preprocess_input

    _, st = save(reference("resnet18", "v1", classes=10), tmp_path, "resnet18")
    converted = str(tmp_path / "resnet18.weights.h5")
    assert convert_main([st, "--model", "resnet18", "--variant", "v1", "--output", converted]) == 0
    model = kr.ResNet18(weights=converted, input_shape=(64, 64, 3), classes=10)
    model.save(tmp_path / "model.keras")
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(24, 64, 64, 3)).astype("uint8")
    x = preprocess_input(pixels.astype("float32"), mode="torch")
    keras_probabilities = model.predict(x, verbose=0)
    y = keras_probabilities.argmax(axis=1)  # the Keras model's own answers: accuracy = agreement
    out = tmp_path / "out"
    status = export_support.run_cli(
        f"--model={tmp_path / 'model.keras'}", f"--output_dir={out}", "--model_name=resnet18",
        f"--eval_data={export_support.write_npz(tmp_path / 'eval.npz', x, y)}",
        f"--calibration_data={export_support.write_npz(tmp_path / 'calibration.npz', x, y)}",
        "--formats=savedmodel,tflite", "--variants=fp32,int8", "--calibration_steps=8",
        "--latency_runs=1", "--threads=1", "--resize=bilinear", f"--pixel_scale={1 / 255}",
        "--pixel_mean=0.485,0.456,0.406", "--pixel_std=0.229,0.224,0.225")
    assert status == 0
    rows = {row["variant"]: row for row in json.loads((out / "report.json").read_text())["rows"]}
    assert rows["fp32"]["agreement"] == 1.0 and rows["fp32"]["max_abs_diff"] <= 1e-5
    assert rows["int8"]["agreement"] > 0.5  # random weights: a loose sanity bound for int8
    served = tf.saved_model.load(str(out / "resnet18" / "1"))
    encoded = [tf.io.encode_png(image).numpy() for image in pixels[:4]]
    got = served.signatures["image_bytes"](image_bytes=tf.constant(encoded))["probabilities"].numpy()
    np.testing.assert_allclose(got, keras_probabilities[:4], rtol=0, atol=1e-5)
