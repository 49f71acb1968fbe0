"""The door every HTTP request passes through: it is recorded (``requests``), counted against the
minute's request weight (Binance's ``X-MBX-USED-WEIGHT-1M`` header), answered by an injected fault when
one is due (:mod:`faults`), and a :class:`BinanceError` its endpoint raises becomes Binance's JSON error.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from aiohttp import web

from autobot_lib.exchange.venue.errors import BinanceError
from autobot_lib.exchange.venue.faults import FaultInjector


class Gateway:
    def __init__(self, faults: FaultInjector):
        self.faults = faults
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._weight_minute, self._weight = 0, 0

    @web.middleware
    async def middleware(self, request: web.Request, handler) -> web.StreamResponse:
        record = {"method": request.method, "path": request.path, "query": dict(request.query), "time": time.time()}
        with self._lock:
            self.requests.append(record)
            minute = int(time.time() // 60)
            if minute != self._weight_minute:
                self._weight_minute, self._weight = minute, 0
            self._weight += 1
            weight = self._weight

        async def run() -> web.StreamResponse:
            return await _run(request, handler, weight)

        fault = self.faults.for_request(request.method, request.path)
        if fault is None:
            return await run()
        record["fault"] = fault.kind
        return await self.faults.answer(fault, request, run, record["time"])


async def _run(request: web.Request, handler, weight: int) -> web.StreamResponse:
    try:
        response = await handler(request)
    except BinanceError as err:
        response = web.json_response({"code": err.code, "msg": err.msg}, status=err.status)
    if not response.prepared:  # a WebSocket has sent its headers long ago
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(weight)
    return response
