"""Faults injected on command: which requests and sockets they hit, how each one answers, and the record
of every one that fired (``fired``). :class:`Fault` says what to break; :class:`FaultInjector` keeps the
faults waiting and answers for the endpoint when one is due.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from aiohttp import web

log = logging.getLogger(__name__)

FaultKind = Literal["429", "418", "500", "502", "503", "drop", "timeout", "-1007", "-2019", "-2021",
                    "reset-after", "timeout-after", "500-after", "502-after", "503-after", "-1007-after"]
_AFTER = "-after"      # kinds that run the request first, then lose its answer
_ERRORS = {
    "429": (429, -1003, "Too many requests; current limit of IP is 2400 requests per minute."),
    "418": (418, -1003, "Way too many requests; IP banned until later. Please use the websocket for live updates."),
    "500": (500, -1000, "An unknown error occurred while processing the request."),
    "503": (503, -1001, "Internal error; unable to process your request. Please try again."),
    # Binance's own refusals, forced: a backend timeout, too little margin, a stop rejected on arrival
    "-1007": (408, -1007, "Timeout waiting for response from backend server. Send status unknown; "
                          "execution status unknown."),
    "-2019": (400, -2019, "Margin is insufficient."),
    "-2021": (400, -2021, "Order would immediately trigger."),
}
# what a gateway in front of Binance answers when the API behind it is down: HTML, no JSON code
_GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"


@dataclass
class Fault:
    """Make the next ``count`` requests whose path starts with ``path`` (and whose method is ``method``,
    if given) fail as ``kind``, after letting ``after`` of them through.

    Kinds that answer instead of the endpoint (the request is never executed):
    ``429``/``418`` rate limits (with ``Retry-After``), ``500``/``503`` Binance's JSON errors, ``502``
    a gateway's HTML page, ``drop`` an aborted connection (on a WebSocket path: the socket is cut at its
    next push), and Binance's refusals ``-1007`` (backend timeout), ``-2019`` (insufficient margin) and
    ``-2021`` (a stop rejected: would trigger at once). ``timeout`` holds the request back ``delay_s``
    before running it: a client that gives up first cancels it, so it never runs.

    Kinds that execute the request and then lose the answer (an order is booked, filled if it is a
    market order, and the client never hears of it: "execution status unknown"):
    ``reset-after`` aborts the connection once the endpoint has run; ``timeout-after`` holds the answer
    back ``delay_s`` (a client with a shorter timeout gives up); ``500-after``/``503-after``/``-1007-after``
    answer Binance's JSON error instead of the result, ``502-after`` a gateway's HTML page.

    Every fault that fires is appended to :attr:`VenueServer.fired` (and marks its entry in
    ``requests``): ``kind``, ``method``, ``path``, ``time``, ``committed`` (the endpoint ran and
    succeeded: for the ``-after`` kinds, the answer that was lost is in ``answer``)."""

    kind: FaultKind
    path: str = ""
    count: int = 1
    after: int = 0
    retry_after_s: int = 1
    delay_s: float = 30.0  # for "timeout"/"timeout-after": how long the answer is held back
    method: str = ""       # only requests with this HTTP method (GET, POST, DELETE); "" for any

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"fault kind {self.kind!r} is not known: use one of {', '.join(get_args(FaultKind))}")
        self.method = self.method.upper()

    @property
    def loses_answer(self) -> bool:
        """The request runs (an order is booked) and its answer is lost."""
        return self.kind.endswith(_AFTER)


Run = Callable[[], Awaitable[web.StreamResponse]]   # runs the endpoint the request is for


class FaultInjector:
    def __init__(self) -> None:
        self.fired: list[dict[str, Any]] = []   # every fault that fired: kind, method, path, committed, ...
        self._waiting: list[Fault] = []
        self._lock = threading.Lock()           # faults are injected from other threads than the server's
        self._stopping: asyncio.Event | None = None

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._waiting.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._waiting.clear()

    def waiting(self) -> list[Fault]:
        with self._lock:
            return list(self._waiting)

    def serve(self) -> None:
        """Called on the server's loop as it starts: held answers wait on it until the server stops."""
        self._stopping = asyncio.Event()

    def release_held(self) -> None:
        """The server stops: answers held back by a timeout go now (call on the server's loop)."""
        if self._stopping is not None:
            self._stopping.set()

    # --- which fault is due --------------------------------------------------------------------

    def for_request(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._waiting:
                if path.startswith(fault.path) and fault.method in ("", method):
                    return self._take(fault)
        return None

    def for_stream(self, path: str) -> Fault | None:
        """A ``drop`` fault aimed at this WebSocket path (faults without a path stay for HTTP)."""
        with self._lock:
            for fault in self._waiting:
                if fault.kind == "drop" and fault.path and path.startswith(fault.path):
                    taken = self._take(fault)
                    if taken is not None:
                        self.fired.append({"kind": "drop", "method": "WS", "path": path, "time": time.time(),
                                           "committed": False})
                    return taken
        return None

    def _take(self, fault: Fault) -> Fault | None:
        """Count one matching request against ``fault`` (caller holds the lock)."""
        if fault.after > 0:
            fault.after -= 1
            return None
        fault.count -= 1
        if fault.count <= 0:
            self._waiting.remove(fault)
        return fault

    # --- how it answers ------------------------------------------------------------------------

    async def answer(self, fault: Fault, request: web.Request, run: Run, when: float) -> web.StreamResponse:
        """Answer ``request`` as ``fault`` says (``run`` runs its endpoint), and record that it fired."""
        fired = {"kind": fault.kind, "method": request.method, "path": request.path, "time": when,
                 "committed": False}
        with self._lock:
            self.fired.append(fired)
        log.info("venue fault %s on %s %s", fault.kind, request.method, request.path)
        if fault.loses_answer:
            return await self._lose_answer(fault, fired, request, run)
        if fault.kind == "drop":
            _abort(request)
        if fault.kind == "timeout":
            await self._hold(fault)
        elif fault.kind == "502":
            return _gateway_page()
        else:
            return _error_answer(fault)
        response = await run()
        fired["committed"] = response.status < 400    # a "timeout" whose client waited it out: it ran
        return response

    async def _lose_answer(self, fault: Fault, fired: dict, request: web.Request, run: Run) -> web.StreamResponse:
        """Run the request (the order is booked), then lose its answer as ``fault`` says."""
        response = await run()
        fired["committed"] = response.status < 400
        try:
            fired["answer"] = json.loads(response.text) if isinstance(response, web.Response) and response.text \
                else None
        except (ValueError, TypeError):
            fired["answer"] = None
        base = fault.kind[:-len(_AFTER)]
        if base == "reset":
            _abort(request)
        if base == "timeout":
            # the client gives up first (its handler is cancelled here); a patient one gets the answer late
            await self._hold(fault)
            return response
        if base == "502":
            return _gateway_page()
        return _error_answer(fault, base)

    async def _hold(self, fault: Fault) -> None:
        """Wait ``delay_s``, or until the server stops."""
        try:
            await asyncio.wait_for(self._stopping.wait(), fault.delay_s)
        except TimeoutError:
            pass


def _abort(request: web.Request) -> None:
    """Cut the connection: the client sees it dropped, with no answer."""
    if request.transport is not None:
        request.transport.abort()
    raise web.HTTPServiceUnavailable()


def _gateway_page() -> web.Response:
    return web.Response(text=_GATEWAY_PAGE, status=502, content_type="text/html")


def _error_answer(fault: Fault, kind: str | None = None) -> web.Response:
    """Binance's JSON error for ``kind`` (default: the fault's own kind)."""
    status, code, msg = _ERRORS[kind or fault.kind]
    headers = {"Retry-After": str(fault.retry_after_s)} if status in (418, 429) else {}
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)
