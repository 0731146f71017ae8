"""Text in photos (issue 16): recognition (recognize.py), normalisation (normalize.py), storage and search
(store.py) and fusion with the meaning ranking (fusion.py). Qt-free; see docs/TEXT.md."""
