"""The venue's control endpoints, unsigned, for the process that runs it (``autobot venue``):
``POST /_venue/advance?bars=n`` replays bars, ``POST /_venue/fault`` injects a :class:`Fault` (JSON body),
``GET /_venue/state`` shows the clock, the account, the faults waiting and the stream subscriptions.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from aiohttp import web

from autobot_lib.exchange.venue.errors import BinanceError
from autobot_lib.exchange.venue.faults import Fault
from autobot_lib.exchange.venue.market_data import query_int
from autobot_lib.exchange.venue.responses import Shapes

if TYPE_CHECKING:
    from autobot_lib.exchange.venue.server import VenueServer


class ControlApi:
    def __init__(self, server: VenueServer):
        self.server = server

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/_venue/advance", self._advance)
        app.router.add_post("/_venue/fault", self._fault)
        app.router.add_get("/_venue/state", self._state)

    async def _advance(self, request: web.Request) -> web.Response:
        if self.server.replay is None:
            raise BinanceError(400, -1, "the venue has no replay: start it with --start")
        now = await self.server.replay_bars(query_int(request.query, "bars", 1))
        return web.json_response({"now": now})

    async def _fault(self, request: web.Request) -> web.Response:
        try:
            fault = Fault(**await request.json())
        except (TypeError, ValueError) as exc:
            raise BinanceError(400, -1, f"bad fault: {exc}; send JSON like {{\"kind\": \"429\", "
                                        f"\"path\": \"/fapi/v1/order\", \"count\": 1}}") from None
        self.server.inject(fault)
        return web.json_response(asdict(fault))

    async def _state(self, request: web.Request) -> web.Response:
        server = self.server
        shapes = Shapes(server.account)
        return web.json_response({"now": server.now_ms(), "speed": server.speed,
                                  "replay_end": server.replay.end_ms if server.replay else None,
                                  "account": shapes.account_v3(server.now_ms()),
                                  "faults": [asdict(f) for f in server.faults.waiting()],
                                  "subscriptions": [sorted(streams) for _, streams in
                                                    list(server.streams.market.values())]})
