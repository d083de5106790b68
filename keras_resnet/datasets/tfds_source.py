"""tensorflow-datasets as a source: a dataset prepared in ``data_dir``, or
downloaded only after a quick reachability check, so an offline machine fails
in seconds with a clear message instead of retrying for minutes."""

from __future__ import annotations

import concurrent.futures
import socket
from typing import Any
from urllib.parse import urlparse

import numpy as np
import tensorflow as tf

from keras_resnet.datasets.info import DatasetInfo, DatasetUnavailableError, Source

CONNECT_TIMEOUT = 5.0


def _reachable(host: str, port: int) -> bool:
    """DNS lookup and TCP connect within ``CONNECT_TIMEOUT`` (DNS has no timeout of its own)."""
    def connect() -> None:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(connect).result(timeout=CONNECT_TIMEOUT)
        return True
    except (OSError, concurrent.futures.TimeoutError):
        return False
    finally:
        pool.shutdown(wait=False)


def _download_hosts(builder: Any) -> set[tuple[str, int]]:
    try:
        urls = list(builder.url_infos or ())
    except Exception:  # noqa: BLE001 - url_infos needs optional packages; tfds will say what is missing
        return set()
    hosts = set()
    for url in urls:
        parsed = urlparse(url)
        if parsed.hostname:
            hosts.add((parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)))
    return hosts


def _prepare_tfds(builder: Any, name: str, data_dir: str | None) -> None:
    where = data_dir or "tensorflow-datasets' default data_dir (~/tensorflow_datasets)"
    how = (f"Prepare it on a machine with internet access (`tfds build {name} --data_dir DIR`), "
           "copy DIR here and pass it as `data_dir` (--data_dir).")
    if not builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        unreachable = sorted(h for h, p in _download_hosts(builder) if not _reachable(h, p))
        if unreachable:
            raise DatasetUnavailableError(
                f"Dataset {name!r} is not prepared in {where} and cannot be downloaded: "
                f"{', '.join(unreachable)} is unreachable (offline?). {how}"
            )
    try:
        builder.download_and_prepare()
    except Exception as err:  # noqa: BLE001 - tfds raises many kinds; all mean "not available"
        raise DatasetUnavailableError(
            f"Dataset {name!r} is not prepared in {where} and preparing it failed: "
            f"{type(err).__name__}: {err}. {how}"
        ) from err


def tfds_source(name: str, data_dir: str | None) -> Source:
    """The tensorflow-datasets dataset ``name`` in ``data_dir`` (prepared there first if needed)."""
    import tensorflow_datasets as tfds  # slow import: only when needed

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as err:
        raise ValueError(
            "`dataset` must be 'fashion_mnist', a tensorflow-datasets name (e.g. 'cifar10') or an "
            f"existing folder of class sub-folders; received dataset={name!r}"
        ) from err
    if not builder.is_prepared():
        _prepare_tfds(builder, name, data_dir)
    image_key, label_key = builder.info.supervised_keys or ("image", "label")
    splits = builder.info.splits
    split_names = {"train": "train", "test": "test" if "test" in splits else "validation"}
    if any(s not in splits for s in split_names.values()):
        raise ValueError(f"tensorflow-datasets {name!r} has splits {sorted(splits)}; need 'train' and "
                         "'test' or 'validation'")
    feature = builder.info.features[image_key]
    label_feature = builder.info.features[label_key]
    shape = tuple(feature.shape)
    fixed = all(d is not None for d in shape)

    def read(split: str) -> tf.data.Dataset:
        return builder.as_dataset(split=split_names[split], as_supervised=True, shuffle_files=False)

    def labels(split: str) -> np.ndarray:
        ds = builder.as_dataset(split=split_names[split], shuffle_files=False,
                                decoders={image_key: tfds.decode.SkipDecoding()})
        return np.concatenate(list(ds.map(lambda ex: ex[label_key]).batch(8192).as_numpy_iterator()))

    info = DatasetInfo(name, tuple(label_feature.names), shape,
                       {s: splits[n].num_examples for s, n in split_names.items()})
    return Source(info, read, labels, lambda image: image, int(np.prod(shape)) if fixed else None)
