"""The GPU model list, rendered once per catalogue version (GPU models change only with the catalogue)."""

import threading
from collections.abc import Callable
from typing import Any

from marketplace.models import GpuModel
from marketplace.selectors.catalog_version import cached_catalog_version

_memo: dict = {"version": None, "rows": None}
_lock = threading.Lock()


def gpu_rows(render: Callable[[list[GpuModel]], Any]) -> Any:
    """`render(all GPU models)`, recomputed when the catalogue version changes (checked at most once a second)."""
    version = cached_catalog_version()
    with _lock:
        if _memo["version"] != version or _memo["rows"] is None:
            _memo["rows"], _memo["version"] = render(list(GpuModel.objects.all())), version
        return _memo["rows"]


def clear_gpu_list_cache() -> None:
    with _lock:
        _memo["rows"] = _memo["version"] = None
