"""Local stand-ins for the Telegram Bot API and a Slack incoming webhook (aiohttp on 127.0.0.1).

They record every request and answer as the real services do, or fail on command: ``fail("telegram",
"500")`` answers HTTP 500, ``fail("slack", "hang")`` holds each request until :meth:`release` (a client
with a shorter timeout sees a timeout). Connection refused needs no stand-in: use a closed port.

Telegram commands: :meth:`ChatStandIns.say` queues a message from a chat; ``getUpdates`` long-polls for
them as Telegram does (``offset`` confirms, ``timeout`` waits) and is counted in ``polls``, not recorded in
``telegram`` (which keeps the bot's own messages: sendMessage and the rest).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class Received:
    path: str
    payload: dict
    status: int


class ChatStandIns:
    SLACK_PATH = "/services/T000/B000/WebhookSecretXYZ"

    def __init__(self):
        self.telegram: list[Received] = []
        self.slack: list[Received] = []
        self.holding = threading.Event()  # a request is being held by a "hang" failure
        self._arrived = threading.Condition()
        self._failures: dict[str, str | None] = {"telegram": None, "slack": None}
        self._message_ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._release: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.updates: list[dict] = []      # queued, not yet confirmed by an offset
        self.polls = 0
        self._update_ids = itertools.count(1)
        self._update_arrived: asyncio.Event | None = None

    # --- control, from the test's thread -----------------------------------------------------------------
    def start(self) -> ChatStandIns:
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        self.release()
        self._loop.call_soon_threadsafe(self._update_arrived.set)   # long polls answer now
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def fail(self, service: str, mode: str | None) -> None:
        """mode: "500", "hang", or None to answer normally again."""
        self._failures[service] = mode

    def release(self) -> None:
        """Answer the held requests (and every later one)."""
        self._loop.call_soon_threadsafe(self._release.set)

    def wait_for(self, service: str, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` requests to ``service`` have been answered."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(getattr(self, service)) >= count, timeout)

    def say(self, chat_id: int, text: str, user_id: int = 42, username: str = "ana") -> None:
        """A message from ``chat_id`` to the bot (shown by its next getUpdates)."""
        def queue():
            update_id = next(self._update_ids)
            self.updates.append({"update_id": update_id, "message": {
                "message_id": 1000 + update_id, "date": int(time.time()), "text": text,
                "chat": {"id": chat_id, "type": "private"},
                "from": {"id": user_id, "is_bot": False, "first_name": username, "username": username}}})
            self._update_arrived.set()
        self._loop.call_soon_threadsafe(queue)

    def _record(self, service: str, received: Received) -> None:
        with self._arrived:
            getattr(self, service).append(received)
            self._arrived.notify_all()

    @property
    def telegram_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def slack_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.SLACK_PATH}"

    # --- the servers -------------------------------------------------------------------------------------------
    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._release = asyncio.Event()
        self._update_arrived = asyncio.Event()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._telegram)
        app.router.add_post("/services/{rest:.*}", self._slack)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    async def _failure(self, service: str) -> int:
        mode = self._failures[service]
        if mode == "hang":
            self.holding.set()
            await self._release.wait()
        return 500 if mode == "500" else 200

    async def _telegram(self, request: web.Request) -> web.Response:
        # python-telegram-bot posts form fields; accept JSON too
        if request.content_type == "application/json":
            fields = await request.json()
        else:
            fields = dict(await request.post())
        if request.match_info["method"] == "getUpdates":
            return await self._get_updates(fields)
        status = await self._failure("telegram")
        self._record("telegram", Received(request.path, fields, status))
        if status != 200:
            return web.json_response({"ok": False, "error_code": status, "description": "Internal Server Error"},
                                     status=status)
        chat_id = int(fields["chat_id"])
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "text": fields.get("text", ""),
                   "chat": {"id": chat_id, "type": "private"}}
        return web.json_response({"ok": True, "result": message})

    async def _get_updates(self, fields: dict) -> web.Response:
        offset = int(fields.get("offset") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]   # an offset confirms the earlier
        if not self.updates and float(fields.get("timeout") or 0) > 0:
            self._update_arrived.clear()
            try:
                await asyncio.wait_for(self._update_arrived.wait(), float(fields["timeout"]))
            except asyncio.TimeoutError:
                pass
        with self._arrived:
            self.polls += 1
            self._arrived.notify_all()
        return web.json_response({"ok": True, "result": list(self.updates)})

    async def _slack(self, request: web.Request) -> web.Response:
        payload = await request.json()
        status = await self._failure("slack")
        self._record("slack", Received(request.path, payload, status))
        return web.Response(text="ok" if status == 200 else "internal_error", status=status)
