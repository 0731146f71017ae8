"""english-words: only the two lower-case alphabetic word lists core/models/lexicon.py reads
(web2 and GCIDE, ~2.7 MB), not the package's other variants."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files(
    "english_words", includes=["data/web2_alpha_lower.pickle", "data/gcide_alpha_lower.pickle"]
)
