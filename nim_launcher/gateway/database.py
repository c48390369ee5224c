"""The gateway's database reads (cache misses only): on asgiref's one shared sync thread, one connection.

Without Django's request signals around them (the lean ASGI app sends none), nothing would ever close that
thread's connection; a read that fails lets Django drop a broken connection, so the next read reconnects.
"""

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection


async def read(fn: Callable[..., Any], *args: Any) -> Any:
    return await sync_to_async(_guarded)(fn, *args)


def _guarded(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        connection.close_if_unusable_or_obsolete()
        raise
