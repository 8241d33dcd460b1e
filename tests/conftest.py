"""Shared test setup. Tests never reach a model or dataset hub: everything is built here."""

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The judge's default SQLite cache lives under the user's home; tests keep theirs to themselves.
os.environ.setdefault("LLAMAV_CACHE_DIR", tempfile.mkdtemp(prefix="llamav-test-cache-"))
# The run store (runs/llamav.db by default) too: a test that wants a store of its own passes --store.
os.environ.setdefault("LLAMAV_STORE", os.path.join(tempfile.mkdtemp(prefix="llamav-test-store-"), "llamav.db"))
