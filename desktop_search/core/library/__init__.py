"""Photo library on disk: scanning, decoding, metadata and captions, change bookkeeping, watching."""
