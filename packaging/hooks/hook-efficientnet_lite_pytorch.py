"""EfficientNet-Lite network code: only the torch model is used; its ONNX/CoreML export helpers are not."""

excludedimports = ["onnx", "onnx_coreml", "coremltools", "torchvision", "efficientnet_pytorch"]
