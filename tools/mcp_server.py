"""MCP server for the running bot: inspection and safe control (the Donchian bot's ``tools/mcp_server.py``).

It speaks MCP over stdio (the official ``mcp`` SDK) and forwards each tool call to the bot's control API
on 127.0.0.1 (:mod:`autobot_lib.live.control_http`), where it is authorised, validated, logged and audited
like a notebook or Telegram command. Start the bot with ``CONTROL_API_TOKEN`` set, then point an MCP
client at::

    python tools/mcp_server.py

Environment: ``CONTROL_API_TOKEN`` (the bot's token; never printed), ``CONTROL_API_URL`` (default
``http://127.0.0.1:$CONTROL_API_PORT``, port 8766; the local venue takes 8765), ``CONTROL_API_ACTOR``
(the name shown in the bot's audit, default ``mcp``).

Tools: ``status``, ``positions``, ``journal_tail``, ``metrics_summary`` (inspection); ``pause``,
``resume``, ``rearm``, and ``kill`` / ``close_position`` which act only with ``confirm=true`` (control).
Flattening everything and changing parameters are left to the notebook and Telegram on purpose.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer

from autobot_lib.live.control_http import ControlClient

logging.basicConfig(stream=sys.stderr, level=logging.WARNING)   # stdout carries the protocol


def client_from_env() -> ControlClient:
    token = os.environ.get("CONTROL_API_TOKEN")
    if not token:
        raise SystemExit("CONTROL_API_TOKEN is not set: use the token the bot's control API was started with")
    url = os.environ.get("CONTROL_API_URL") or f"http://127.0.0.1:{os.environ.get('CONTROL_API_PORT', '8766')}"
    return ControlClient(url, token, actor=os.environ.get("CONTROL_API_ACTOR", "mcp"))


def build(client: ControlClient) -> MCPServer:
    server = MCPServer("autobot", instructions="Inspect the AUTOBOT trading bot and control it safely. Destructive "
                                               "tools (kill, close_position) act only with confirm=true.")

    def unconfirmed(what: str) -> dict[str, Any]:
        return {"ok": False, "outcome": "refused", "data": {},
                "message": f"{what} is destructive: call again with confirm=true to do it"}

    @server.tool()
    async def status() -> dict[str, Any]:
        """Trading state (ACTIVE / REDUCING / HALTED), kill switch, equity, positions count, last bars."""
        return await client.run("status")

    @server.tool()
    async def positions() -> dict[str, Any]:
        """Open positions: side, quantity, entry, protective stop, mark and unrealised PnL."""
        return await client.run("positions")

    @server.tool()
    async def journal_tail(n: int = 20) -> dict[str, Any]:
        """The last n decision records (1..500): outcome, gate, vetoes, size, intents, exits."""
        return await client.run("journal", n=n)

    @server.tool()
    async def metrics_summary() -> dict[str, Any]:
        """Trades, wins, gross realised PnL, exit reasons, decision outcomes, alerts."""
        return await client.run("metrics")

    @server.tool()
    async def pause() -> dict[str, Any]:
        """No new entries (REDUCING); exits and trailing stops go on."""
        return await client.run("pause")

    @server.tool()
    async def resume() -> dict[str, Any]:
        """Undo pause."""
        return await client.run("resume")

    @server.tool()
    async def rearm() -> dict[str, Any]:
        """Re-arm a tripped kill switch (back to ACTIVE)."""
        return await client.run("rearm")

    @server.tool()
    async def kill(confirm: bool = False) -> dict[str, Any]:
        """Trip the kill switch: every entry halted, protective stops kept. Needs confirm=true."""
        return await client.run("kill") if confirm else unconfirmed("kill")

    @server.tool()
    async def close_position(symbol: str, confirm: bool = False) -> dict[str, Any]:
        """Close one position at market now (exit reason manual_close). Needs confirm=true."""
        return await client.run("close", symbol=symbol) if confirm else unconfirmed(f"close {symbol}")

    return server


if __name__ == "__main__":
    build(client_from_env()).run("stdio")
