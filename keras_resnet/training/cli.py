"""Command line: ``python -m keras_resnet.training [--flags]`` (``--help`` lists them).

A thin shell over :func:`keras_resnet.training.fit`: every flag is a field of
:class:`keras_resnet.training.TrainConfig`. With no flags it trains CIFAR
ResNet-20 (§4.2) on the embedded Fashion-MNIST for 3 epochs and prints the
test accuracy. The flags are parsed and checked (as a ``TrainConfig``)
before TensorFlow is imported, so a bad one is refused in a second.

``--recipe`` names a preset (:data:`~keras_resnet.training.presets.RECIPES`:
``paper``, the default, or ``finetune``): it sets the other flags' defaults,
and flags given on the command line override it. TensorFlow's native log
lines (CUDA probing, C++ warnings) are silenced unless ``--verbose``
(:mod:`keras_resnet.quiet`); Keras shows progress within each epoch on a
terminal, one line per epoch otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence

from absl import app, flags

from keras_resnet import cpu, quiet
from keras_resnet.datasets.info import BAD_IMAGES, DatasetUnavailableError
from keras_resnet.distribute import STRATEGIES
from keras_resnet.flagtypes import define_list
from keras_resnet.specs import SHORTCUTS
from keras_resnet.training.config import (
    AUGMENT_CHOICES,
    CLASS_WEIGHTS,
    LR_SCHEDULES,
    MIXED_PRECISION,
    OPTIMIZERS,
    TrainConfig,
    recipe_config,
)
from keras_resnet.training.presets import RECIPES

_DEFAULTS = TrainConfig()


def _model_flags(fv: flags.FlagValues, d: TrainConfig) -> None:
    """Model flags."""
    flags.DEFINE_string("model", d.model, "Network: resnet18..152(v2), resnet20/32/44/56/110/1202 or any CIFAR "
                        "resnet<6n+2>, preact_resnet110/164/1001.", flag_values=fv)
    flags.DEFINE_bool("plain", d.plain, "Train the plain twin (no shortcuts, paper §4.1).", flag_values=fv)
    flags.DEFINE_enum("shortcut", d.shortcut, list(SHORTCUTS), "Shortcut option (§3.3); default: A for CIFAR "
                      "nets, B otherwise.", flag_values=fv)
    flags.DEFINE_float("width_multiplier", d.width_multiplier, "Width multiplier of CIFAR nets.", flag_values=fv)
    flags.DEFINE_integer("image_size", d.image_size, "Input side; default 32 for CIFAR nets, 224 for ImageNet "
                         "nets.", lower_bound=1, flag_values=fv)


def _data_flags(fv: flags.FlagValues, d: TrainConfig) -> None:
    """Data flags."""
    flags.DEFINE_string("dataset", d.dataset, "fashion_mnist (embedded default), a tensorflow-datasets name "
                        "(cifar10, imagenet2012, ...) or a folder of class sub-folders of images.", flag_values=fv)
    flags.DEFINE_string("data_dir", d.data_dir, "Folder of the Fashion-MNIST IDX files or tensorflow-datasets' "
                        "data_dir.", flag_values=fv)
    define_list("classes", None, int, "Train on these labels only (renumbered 0..k-1), e.g. 5,6,7,8,9.",
                flag_values=fv)
    flags.DEFINE_integer("examples_per_class", d.examples_per_class, "Use the first N training images of each "
                         "class.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("train_examples", d.train_examples, "Use the first N training images.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_integer("eval_examples", d.eval_examples, "Evaluate on the first N test images.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_enum("augment", d.augment, list(AUGMENT_CHOICES), "Augmentation: cifar (pad 4, crop, "
                      "flip; §4.2), imagenet (random-resized crop, flip; §3.4), none; auto picks by net.",
                      flag_values=fv)
    flags.DEFINE_integer("rand_augment", d.rand_augment, "keras.layers.RandAugment operations per image after "
                         "--augment (Cubuk et al. 2020); 0: off.", lower_bound=0, flag_values=fv)
    flags.DEFINE_float("mixup", d.mixup, "keras.layers.MixUp's alpha (Zhang et al. 2018); 0: off. With --cutmix "
                       "too, each batch gets one of them.", lower_bound=0, flag_values=fv)
    flags.DEFINE_float("cutmix", d.cutmix, "keras.layers.CutMix's factor in [0, 1] (Yun et al. 2019); 0: off.",
                       lower_bound=0, upper_bound=1, flag_values=fv)
    flags.DEFINE_float("random_erasing", d.random_erasing, "Probability of keras.layers.RandomErasing per image "
                       "(Zhong et al. 2020); 0: off.", lower_bound=0, upper_bound=1, flag_values=fv)


def _photo_flags(fv: flags.FlagValues, d: TrainConfig) -> None:
    """Photo folder and class imbalance flags."""
    flags.DEFINE_float("validation_split", d.validation_split, "Image folders: hold out this fraction of each "
                       "class's training images for validation (a seeded draw, the same in every run); default 0.1 "
                       "for a folder without val/ or test/ sub-folders, else none.", flag_values=fv)
    flags.DEFINE_enum("class_weight", d.class_weight, list(CLASS_WEIGHTS), "balanced: weigh each class's loss by "
                      "n / (k * n_class), so rare classes count as much as frequent ones.", flag_values=fv)
    flags.DEFINE_enum("bad_images", d.bad_images, list(BAD_IMAGES), "Image files that cannot be decoded (found "
                      "before training, listed in model_dir/bad_images.txt): skip them, or fail.", flag_values=fv)


def _recipe_flags(fv: flags.FlagValues, d: TrainConfig) -> None:
    """Recipe flags."""
    flags.DEFINE_enum("recipe", d.recipe, list(RECIPES), "Preset of the other flags' defaults (flags given "
                      "override it): paper (He et al. 2016, for training from scratch) or finetune (AdamW, warm-up "
                      "+ cosine, label smoothing, RandAugment, mixup, random erasing, EMA; with --init_weights: "
                      "head, then 10 epochs of the top 3 stages).", flag_values=fv)
    flags.DEFINE_enum("optimizer", d.optimizer, list(OPTIMIZERS), "sgd (with --momentum; --weight_decay as an L2 "
                      "penalty) or adamw (--weight_decay decoupled, Loshchilov & Hutter 2019).", flag_values=fv)
    flags.DEFINE_integer("epochs", d.epochs, "Epochs to train (after transfer learning's head phase: of it).",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("global_batch_size", d.global_batch_size, "Mini-batch over all replicas (paper: 128 on "
                         "CIFAR, 256 on ImageNet).", lower_bound=1, flag_values=fv)
    flags.DEFINE_float("learning_rate", d.learning_rate, "Initial learning rate (paper: 0.1).", flag_values=fv)
    flags.DEFINE_float("momentum", d.momentum, "SGD momentum (paper: 0.9).", flag_values=fv)
    flags.DEFINE_float("weight_decay", d.weight_decay, "L2 weight decay on conv/dense kernels (paper: 1e-4).",
                       flag_values=fv)
    flags.DEFINE_float("bn_momentum", d.bn_momentum, "Momentum of BatchNormalization's moving statistics "
                       "(0.9 as in Torch; Keras' 0.99 lags in short runs).", flag_values=fv)
    flags.DEFINE_bool("sync_batch_norm", d.sync_batch_norm, "BatchNormalization statistics over the global batch "
                      "(all replicas); --nosync_batch_norm: per replica, as the paper's per-GPU BN.", flag_values=fv)
    flags.DEFINE_enum("lr_schedule", d.lr_schedule, list(LR_SCHEDULES), "step: /10 at --lr_decay_epochs "
                      "(paper); cosine: cosine decay to 0; constant: no decay.", flag_values=fv)
    define_list("lr_decay_epochs", None, float, "Epochs (may be fractional) where the step schedule divides the "
                "learning rate by 10; default 50% and 75% of --epochs (paper: 32k/48k of 64k iterations).",
                flag_values=fv)
    flags.DEFINE_integer("warmup_steps", d.warmup_steps, "Steps at --warmup_learning_rate first (paper: ~400 for "
                         "ResNet-110).", lower_bound=0, flag_values=fv)
    flags.DEFINE_float("warmup_epochs", d.warmup_epochs, "Warm-up length in epochs (may be fractional) instead "
                       "of --warmup_steps; with transfer learning, each phase is warmed up.", lower_bound=0,
                       flag_values=fv)
    flags.DEFINE_float("warmup_learning_rate", d.warmup_learning_rate, "Warm-up learning rate (paper: 0.01); the "
                       "cosine schedule rises linearly from it.", flag_values=fv)
    flags.DEFINE_float("label_smoothing", d.label_smoothing, "Label smoothing of the cross-entropy loss (Szegedy "
                       "et al. 2016; 0.1 is usual).", lower_bound=0, flag_values=fv)
    flags.DEFINE_bool("ema", d.ema, "Keep an exponential moving average of the weights (the optimizer's use_ema) "
                      "and evaluate and save it as the final model.", flag_values=fv)
    flags.DEFINE_float("ema_momentum", d.ema_momentum, "Momentum of --ema's average (about 1/(1-m) recent steps).",
                       lower_bound=0, flag_values=fv)


def _transfer_flags(fv: flags.FlagValues, d: TrainConfig) -> None:
    """Transfer learning flags."""
    flags.DEFINE_string("init_weights", d.init_weights, "Start from published weights (imagenet, torchvision, "
                        "timm, torchvision:IMAGENET1K_V2, timm:resnet50.a1_in1k...; python -m keras_resnet.weights "
                        "lists them), a torchvision/timm .pth/.safetensors file or a .keras model trained here, and "
                        "train a new head for this dataset's classes.", flag_values=fv)
    flags.DEFINE_string("freeze", d.freeze, "With --init_weights: backbone (train the head only), a stage "
                        "(conv1..conv5: freeze up to it) or none.", flag_values=fv)
    flags.DEFINE_integer("fine_tune_epochs", d.fine_tune_epochs, "With --init_weights: epochs of a second phase "
                         "that unfreezes the top --fine_tune_stages stages.", lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("fine_tune_stages", d.fine_tune_stages, "Top stages unfrozen for fine-tuning.",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_float("fine_tune_learning_rate", d.fine_tune_learning_rate, "Fine-tuning learning rate; default "
                       "--learning_rate / 10.", flag_values=fv)


def _run_flags(fv: flags.FlagValues, d: TrainConfig) -> None:
    """Run flags."""
    flags.DEFINE_string("model_dir", d.model_dir, "Output folder: final.keras, best.keras, history.csv, logs/, "
                        "backup/ (resume by rerunning the same command).", flag_values=fv)
    flags.DEFINE_enum("strategy", d.strategy, list(STRATEGIES), "tf.distribute strategy; multi_worker "
                      "reads TF_CONFIG.", flag_values=fv)
    flags.DEFINE_integer("logical_cpus", d.logical_cpus, "Split the CPU into N logical devices (e.g. for "
                         "--strategy=mirrored without GPUs); 0: don't.", lower_bound=0, flag_values=fv)
    flags.DEFINE_string("tpu", d.tpu, "TPU name or grpc:// address for --strategy=tpu.", flag_values=fv)
    flags.DEFINE_enum("mixed_precision", d.mixed_precision, list(MIXED_PRECISION), "Keras dtype policy "
                      "(mixed_float16 for GPUs, mixed_bfloat16 for TPUs and recent CPUs).", flag_values=fv)
    flags.DEFINE_bool("jit_compile", d.jit_compile, "Compile train steps with XLA.", flag_values=fv)
    flags.DEFINE_integer("seed", d.seed, "Random seed (weights, shuffling, augmentation).", lower_bound=0,
                         flag_values=fv)
    flags.DEFINE_string("backup_freq", str(d.backup_freq), "Checkpoint for resuming every 'epoch' or every N "
                        "steps.", flag_values=fv)
    flags.DEFINE_bool("verbose", False, "Show TensorFlow's native log lines (CUDA probing, C++ warnings).",
                      flag_values=fv)


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Define the training flags in ``fv``."""
    for group in (_model_flags, _data_flags, _photo_flags, _recipe_flags, _transfer_flags, _run_flags):
        group(fv, _DEFAULTS)


def _backup_freq(text: str) -> str | int:
    if text == "epoch":
        return text
    try:
        return int(text)
    except ValueError as err:
        raise ValueError(f"--backup_freq must be 'epoch' or a number of steps; received {text!r}") from err


def config_from_flags(fv: flags.FlagValues = flags.FLAGS) -> TrainConfig:
    """The :class:`~keras_resnet.training.TrainConfig` the parsed flags
    describe: ``--recipe``'s preset, then the flags given on the command line."""
    convert = {"classes": tuple, "lr_decay_epochs": tuple, "backup_freq": _backup_freq}
    given = {}
    for field in dataclasses.fields(TrainConfig):
        flag = fv[field.name]
        if flag.present and field.name != "recipe":
            value = flag.value
            given[field.name] = value if value is None or field.name not in convert else convert[field.name](value)
    return recipe_config(fv["recipe"].value, **given)


def parse(argv: Sequence[str]) -> TrainConfig:
    """Parse a command line (``argv[0]`` is the program) into a config."""
    fv = flags.FlagValues()
    define_flags(fv)
    fv(list(argv))
    return config_from_flags(fv)


USER_ERRORS = (ValueError, FileNotFoundError, ConnectionError, FloatingPointError, DatasetUnavailableError)


def main(argv: Sequence[str], fv: flags.FlagValues = flags.FLAGS) -> int:
    """Train as the parsed flags ``fv`` say; returns the exit status (1 with one line for a user error)."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        config = config_from_flags(fv)
        if config.mixed_precision == "mixed_bfloat16" and not cpu.bf16_native():
            print(cpu.BF16_NOTE.format(cpu=cpu.cpu_model()), flush=True)
        if fv.verbose:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
            _train(config)
        else:
            with quiet.native_logs_silenced():
                _train(config)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def _train(config: TrainConfig) -> None:
    from keras_resnet.training.loop import fit  # TensorFlow: only once the flags are good

    fit(config)
