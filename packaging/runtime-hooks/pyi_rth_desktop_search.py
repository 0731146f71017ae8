"""Runtime hook (all platforms): settings for the frozen app, before any of its code runs.

Kept to a few environment defaults on purpose: everything here delays the first window.
"""

import os

# The bundle is offline by design: nothing may try to reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# tokenizers' own thread pool is not fork-safe and the app runs it from worker threads anyway.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Lets the app (and its logs) tell a frozen run from a source run without importing sys internals.
os.environ.setdefault("DESKTOP_SEARCH_FROZEN", "1")
