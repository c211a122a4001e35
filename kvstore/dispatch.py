"""Flask whose per-request question "is this function async?" is answered once per function.

Flask asks `inspect.iscoroutinefunction` of every hook and view on every request
(`Flask.ensure_sync`): for a GET, with the app's and the v1 blueprint's hooks and the view,
about a dozen calls. The answer cannot change for a function, so it is kept per app, keyed
by the function (a bound method by the function it binds: a MethodView binds its method
afresh per request). An async function is still wrapped as Flask wraps it, every time.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any

from flask import Flask


class SyncCheckedOnceFlask(Flask):
    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        target = getattr(func, "__func__", func)
        if type(target) is not types.FunctionType:
            return super().ensure_sync(func)  # a partial, a callable object: asked each time
        known: dict[Callable[..., Any], bool] = self.__dict__.setdefault("_kvstore_async", {})
        is_async = known.get(target)
        if is_async is None:
            is_async = known[target] = iscoroutinefunction(func)
        return self.async_to_sync(func) if is_async else func
