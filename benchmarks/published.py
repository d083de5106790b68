"""NVIDIA's published ResNet-50 TensorFlow training figures, cited, not measured: the scale plan's projection
(:mod:`benchmarks.scaling`) and a GPU's measurement (:mod:`benchmarks.gpu`) are set beside them."""

#: NVIDIA DeepLearningExamples, TensorFlow/Classification/ConvNets/resnet50v1.5/README.md, "Training
#: performance results" (TF 20.06-tf1-py3 NGC container; img/s averaged over an epoch). Cited, not measured.
PUBLISHED = {
    "source": "NVIDIA DeepLearningExamples, TensorFlow/Classification/ConvNets/resnet50v1.5/README.md "
              "(training_perf.sh, TF 20.06-tf1-py3 NGC container)",
    "rows": [
        {"system": "DGX A100 (8x A100 40GB)", "precision": "TF32 + XLA", "batch_per_gpu": 256,
         "gpus_1": 808, "gpus_8": 6300},
        {"system": "DGX A100 (8x A100 40GB)", "precision": "mixed precision + XLA", "batch_per_gpu": 256,
         "gpus_1": 1770, "gpus_8": 16400},
        {"system": "DGX-1 (8x V100 16GB)", "precision": "FP32 + XLA", "batch_per_gpu": 128,
         "gpus_1": 412, "gpus_8": 3170},
        {"system": "DGX-1 (8x V100 16GB)", "precision": "mixed precision + XLA", "batch_per_gpu": 256,
         "gpus_1": 1270, "gpus_8": 9510},
    ],
}
