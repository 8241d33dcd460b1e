"""Whether the Hugging Face hub can be reached, learned once per process in about a second.

Without network, `transformers` and `datasets` retry every request with back-off before giving
up: 25 s for a dataset, over two minutes for a model. llamav asks once instead (one HEAD request
with a short timeout) and, when the hub cannot be reached, switches the process to the libraries'
own offline mode: local copies and caches still load, anything else fails at once and is reported
in one line. `HF_HUB_OFFLINE=1` skips the probe.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0


def is_offline() -> bool:
    """The user (or an earlier probe) put the hub libraries in offline mode."""
    from huggingface_hub import constants  # the hub's libraries load only when a hub source or model is named

    return bool(constants.HF_HUB_OFFLINE)


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """One HEAD request to the hub's endpoint (HF_ENDPOINT; proxies from the environment are
    honoured). Any HTTP answer means reachable."""
    # the hub's libraries load only when a hub source or model is named
    import httpx
    from huggingface_hub import constants

    try:
        httpx.head(constants.ENDPOINT, timeout=timeout)
    except httpx.HTTPError:
        return False
    return True


def offline_unless_reachable() -> bool:
    """True when the hub is not to be asked: offline mode was set, or the probe failed (the
    process is then put in offline mode, so no library retries)."""
    if is_offline():
        return True
    if hub_reachable():
        return False
    log.info("the Hugging Face hub (%s) cannot be reached: using local copies and caches only", _endpoint())
    go_offline()
    return True


def go_offline() -> None:
    """The offline mode of huggingface_hub, transformers and datasets, for this process."""
    from huggingface_hub import constants  # the hub's libraries load only when a hub source or model is named

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    try:
        import datasets.config  # datasets takes a second to import; only a hub run gets here
    except ImportError:  # pragma: no cover - datasets is a dependency
        return
    datasets.config.HF_HUB_OFFLINE = True


def _endpoint() -> str:
    from huggingface_hub import constants  # the hub's libraries load only when a hub source or model is named

    return constants.ENDPOINT
