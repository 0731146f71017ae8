"""The Qt-free engine: storage, scanning, models, indexing and search."""
