"""TFLite model metadata for image classifiers: what MediaPipe Tasks' ``ImageClassifier`` and ML Kit read.

The metadata follows the public ``metadata_schema.fbs`` of TensorFlow Lite
Support (file identifier ``M001``; mediapipe ships it as
``mediapipe/tasks/metadata/metadata_schema.fbs``): a ``ModelMetadata``
flatbuffer stored in a model buffer named ``TFLITE_METADATA``, and the
associated files zipped after the flatbuffer (a ``.tflite`` with metadata is
also a zip archive). Written here:

* model name, description and version;
* input: an RGB (or grey) image of the model's size; for float inputs the
  ``NormalizationOptions`` (mean, std per channel on 0-255 pixels) the model
  expects, for integer inputs none (pixels go in as they are), and the
  input value range as ``Stats``;
* output: class probabilities (score semantics in the description, range
  0-1 in ``Stats``) with the class names as the ``TENSOR_AXIS_LABELS``
  associated file ``labels.txt``.

No package that is maintained and installs beside this project's pins ships
a metadata writer (tflite-support 0.4.4 needs protobuf < 4; mediapipe >= 0.10.21
needs absl-py >= 2.3, against tensorflow-model-optimization's absl-py ~= 1.2;
older mediapipe needs numpy < 2), so the tables are built with the
``flatbuffers`` library's ``Builder`` (pinned by TensorFlow) field by field
as the schema declares them, and the model is rewritten with
``ai_edge_litert``'s schema object API. The tests read every file back with
MediaPipe's own generated parser and classify with MediaPipe.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections.abc import Sequence

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

METADATA_BUFFER_NAME = b"TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MODEL_IDENTIFIER = b"TFL3"
MIN_PARSER_VERSION = "1.0.0"  # every table and field written here is in the schema's first version
LABELS_FILE = "labels.txt"

# Enum values and union type codes of metadata_schema.fbs.
_TENSOR_AXIS_LABELS = 2
_COLOR_SPACE = {3: 1, 1: 2}  # channels -> RGB, GRAYSCALE
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES = 1, 2  # ContentProperties
_NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions


@dataclasses.dataclass(frozen=True)
class ImageClassifierInfo:
    """What the metadata says about one image classifier file.

    ``mean`` and ``std`` (one value per channel, on 0-255 pixels) are
    ``None`` for integer inputs, which take the pixels as they are.
    """

    name: str
    description: str
    version: str
    height: int
    width: int
    channels: int
    labels: Sequence[str]
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None


class _Writer:
    """Thin helpers over ``flatbuffers.Builder`` (children are written before their tables)."""

    def __init__(self) -> None:
        self.b = flatbuffers.Builder(1024)

    def string(self, text: str) -> int:
        return self.b.CreateString(text)

    def floats(self, values: Sequence[float]) -> int:
        self.b.StartVector(4, len(values), 4)
        for value in reversed(values):
            self.b.PrependFloat32(float(value))
        return self.b.EndVector()

    def offsets(self, items: Sequence[int]) -> int:
        self.b.StartVector(4, len(items), 4)
        for item in reversed(items):
            self.b.PrependUOffsetTRelative(item)
        return self.b.EndVector()

    def table(self, slots: int, offsets: dict[int, int], scalars: dict[int, tuple[str, int]] = {}) -> int:  # noqa: B006
        """A table of ``slots`` fields: ``offsets`` {slot: child offset}, ``scalars`` {slot: (kind, value)}."""
        self.b.StartObject(slots)
        for slot, offset in offsets.items():
            self.b.PrependUOffsetTRelativeSlot(slot, offset, 0)
        for slot, (kind, value) in scalars.items():
            {"int8": self.b.PrependInt8Slot, "uint8": self.b.PrependUint8Slot,
             "uint32": self.b.PrependUint32Slot}[kind](slot, value, 0)
        return self.b.EndObject()


def _labels_file(w: _Writer) -> int:
    # AssociatedFile: name 0, description 1, type 2, locale 3, version 4.
    return w.table(5, {0: w.string(LABELS_FILE), 1: w.string("Class names, one a line, in output order.")},
                   {2: ("int8", _TENSOR_AXIS_LABELS)})


def _stats(w: _Writer, low: Sequence[float], high: Sequence[float]) -> int:
    return w.table(2, {0: w.floats(high), 1: w.floats(low)})  # Stats: max 0, min 1


def _input_tensor(w: _Writer, info: ImageClassifierInfo) -> int:
    size = w.table(2, {}, {0: ("uint32", info.width), 1: ("uint32", info.height)})  # ImageSize
    image = w.table(2, {1: size}, {0: ("int8", _COLOR_SPACE[info.channels])})  # ImageProperties
    content = w.table(3, {1: image}, {0: ("uint8", _IMAGE_PROPERTIES)})  # Content (union type 0, value 1)
    offsets = {0: w.string("image"), 3: content}
    if info.mean is None:
        description = "Image pixels as they are: uint8 0-255 (the model normalises them itself)."
        low, high = [0.0] * info.channels, [255.0] * info.channels
    else:
        description = "Image pixels as float32 (x - mean) / std, from 0-255 values, per channel."
        mean, std = np.asarray(info.mean, np.float64), np.asarray(info.std, np.float64)
        low, high = list(-mean / std), list((255.0 - mean) / std)
        options = w.table(2, {0: w.floats(info.mean), 1: w.floats(info.std)})  # NormalizationOptions
        unit = w.table(2, {1: options}, {0: ("uint8", _NORMALIZATION_OPTIONS)})  # ProcessUnit
        offsets[4] = w.offsets([unit])
    offsets[1] = w.string(description)
    offsets[5] = _stats(w, low, high)
    return w.table(7, offsets)  # TensorMetadata: name 0, description 1, content 3, process_units 4, stats 5


def _output_tensor(w: _Writer) -> int:
    content = w.table(3, {1: w.table(0, {})}, {0: ("uint8", _FEATURE_PROPERTIES)})
    return w.table(7, {
        0: w.string("probabilities"),
        1: w.string("Probability of each class (softmax output, 0-1, summing to 1); the class names are in "
                    f"{LABELS_FILE}."),
        3: content, 5: _stats(w, [0.0], [1.0]), 6: w.offsets([_labels_file(w)]),
    })


def metadata_buffer(info: ImageClassifierInfo) -> bytes:
    """The ``ModelMetadata`` flatbuffer (identifier ``M001``) for ``info``."""
    w = _Writer()
    subgraph = w.table(10, {
        0: w.string(info.name), 2: w.offsets([_input_tensor(w, info)]), 3: w.offsets([_output_tensor(w)]),
    })
    model = w.table(8, {
        0: w.string(info.name), 1: w.string(info.description), 2: w.string(info.version),
        3: w.offsets([subgraph]), 7: w.string(MIN_PARSER_VERSION),
    })
    w.b.Finish(model, METADATA_IDENTIFIER)
    return bytes(w.b.Output())


def populate(model: bytes, info: ImageClassifierInfo) -> bytes:
    """``model`` (a ``.tflite`` flatbuffer without metadata) with ``info``'s metadata and labels file."""
    tree = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    if any(entry.name == METADATA_BUFFER_NAME for entry in tree.metadata or []):
        raise ValueError("the model already has TFLite metadata")
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata_buffer(info), np.uint8)
    tree.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_BUFFER_NAME, len(tree.buffers) - 1
    tree.metadata = [*(tree.metadata or []), entry]
    builder = flatbuffers.Builder(len(model) + 4096)
    builder.Finish(tree.Pack(builder), MODEL_IDENTIFIER)
    packed = io.BytesIO(bytes(builder.Output()))
    with zipfile.ZipFile(packed, "a") as archive:  # appended after the flatbuffer, as TFLite Support does
        archive.writestr(LABELS_FILE, "\n".join(info.labels) + "\n")
    return packed.getvalue()
