"""The control API over HTTP on 127.0.0.1, for processes beside the bot (``tools/mcp_server.py``).

Routes (JSON; every answer is a :class:`~autobot_lib.live.control.CommandResult` as a dict):

- ``GET /v1/<command>?arg=...``: the read-only commands (``status``, ``positions``, ``journal?n=``,
  ``metrics``, ``audit?n=``);
- ``POST /v1/<command>`` with a JSON object of arguments: every command (``close {"symbol": ...}``,
  ``set {"name": ..., "value": ...}``).

Authorisation: ``Authorization: Bearer <token>``. The operator token (``CONTROL_API_TOKEN``) may run every
command, an optional read token only the read-only ones; anything else is denied (HTTP 401), and the
denial is logged and audited like any command. ``X-Actor`` names the caller (``mcp``, a person), shown in
the log and the audit as ``http:<name>``. Tokens are compared in constant time and never logged (no
access log). HTTP status: 200 done, 400 refused, 401/403 denied, 502 failed.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from pydantic import SecretStr

from autobot_lib.live.control import READ_ONLY, Actor, Command, CommandResult, Control, Outcome, Role

_STATUS = {Outcome.DONE: 200, Outcome.REFUSED: 400, Outcome.FAILED: 502}


def _reveal(token: SecretStr | str | None) -> str | None:
    if token is None:
        return None
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    return value or None


class ControlServer:
    """``await ControlServer(control, token).start()``; ``.url`` is where it listens; ``await .stop()``."""

    def __init__(self, control: Control, token: SecretStr | str, *, read_token: SecretStr | str | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        if not _reveal(token):
            raise ValueError("the control API needs a token (CONTROL_API_TOKEN): refusing to serve without one")
        self.control, self.host, self.port = control, host, port
        self._tokens = {Role.OPERATOR: SecretStr(_reveal(token))}
        if _reveal(read_token):
            self._tokens[Role.VIEWER] = SecretStr(_reveal(read_token))
        self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"ControlServer(url={self.url!r}, token=**********)"

    async def start(self) -> ControlServer:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/v1/{command}", self._handle)
        app.router.add_post("/v1/{command}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _actor(self, request) -> Actor:
        header = request.headers.get("Authorization", "")
        given = header[7:].encode() if header.startswith("Bearer ") else b""
        name = re.sub(r"[^\w.@-]", "_", request.headers.get("X-Actor", "unnamed"))[:64] or "unnamed"
        for role, token in self._tokens.items():
            if given and hmac.compare_digest(given, token.get_secret_value().encode()):
                return Actor(name, role, "http")
        return Actor(name, Role.NONE, "http")

    async def _handle(self, request):
        from aiohttp import web

        actor = self._actor(request)
        command = request.match_info["command"]
        if request.method == "GET":
            args: Any = dict(request.query)
            if command in {c.value for c in Command} and Command(command) not in READ_ONLY:
                result = CommandResult(False, f"{command} changes the bot: POST it", outcome=Outcome.REFUSED)
                return web.json_response(result.to_dict(), status=405)
        else:
            try:
                args = await request.json() if request.can_read_body else {}
            except json.JSONDecodeError:
                args = None
            if not isinstance(args, dict):
                return web.json_response(CommandResult(False, "the body must be a JSON object of arguments",
                                                       outcome=Outcome.REFUSED).to_dict(), status=400)
        args.pop("by", None)                      # who it is comes from the token, never from the body
        result = await self.control.run(command, actor, **args)
        status = _STATUS.get(result.outcome) or (401 if actor.role is Role.NONE else 403)
        return web.json_response(result.to_dict(), status=status, dumps=lambda v: json.dumps(v, default=str))


class ControlClient:
    """The other side: ``await ControlClient(url, token, actor="mcp").run("status")`` -> the result dict."""

    def __init__(self, url: str, token: SecretStr | str, *, actor: str = "client", timeout: float = 30.0):
        self.url, self.actor, self.timeout = url.rstrip("/"), actor, timeout
        self._token = SecretStr(_reveal(token) or "")

    def __repr__(self) -> str:
        return f"ControlClient(url={self.url!r}, actor={self.actor!r}, token=**********)"

    async def run(self, command: str, **args: Any) -> dict[str, Any]:
        import httpx

        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}", "X-Actor": self.actor}
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            try:
                response = await client.post(f"{self.url}/v1/{command}", json=args, headers=headers)
            except httpx.HTTPError as exc:
                return CommandResult(False, f"the bot's control API at {self.url} did not answer "
                                     f"({type(exc).__name__}): is the bot running with CONTROL_API_TOKEN set?",
                                     outcome=Outcome.FAILED).to_dict()
        try:
            return response.json()
        except ValueError:
            return CommandResult(False, f"the control API answered HTTP {response.status_code} without JSON",
                                 outcome=Outcome.FAILED).to_dict()
