"""A Python client for the campaign monitor's HTTP API (docs/monitor.md), for notebooks.

Light on purpose: the standard library's ``urllib`` and numpy, no torch; xarray only if it
is installed and asked for. Every call sends the API token as ``Authorization: Bearer``.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import PlannerError
from .events import LiveEvent, parse_sse

__all__ = ["AutopilotClient", "ClientError", "MonitorUnreachable", "RequestRefused"]

Array = npt.NDArray[Any]


class ClientError(PlannerError):
    """Root of the client's errors."""


class MonitorUnreachable(ClientError, ConnectionError):
    """No answer from the monitor (wrong URL, not running, network)."""


class RequestRefused(ClientError):
    """The monitor answered with an error: ``status`` (HTTP) and its ``detail``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


def _floats(values: Any) -> Array:
    """JSON numbers (null for NaN) as a float array."""
    return np.array(values if values is not None else [], dtype=np.float64)


class AutopilotClient:
    """Log in to a monitor with an API token and read or steer its campaigns.

    Args:
        url: the monitor, e.g. ``http://127.0.0.1:8765``.
        token: an API token (``autopilot monitor add-user`` or ``token`` prints one).
        timeout_s: per request.
    """

    def __init__(self, url: str, token: str, *, timeout_s: float = 30.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ClientError(f"monitor URL must look like http://HOST:PORT, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.user = self.me()  # checks the token now, not at the first real call

    # -- transport ---------------------------------------------------------------------

    def _open(self, method: str, path: str, body: Any = None,
              headers: dict[str, str] | None = None, timeout_s: float | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        hdrs = {**self._headers, **(headers or {})}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, headers=hdrs, method=method)
        try:
            return urllib.request.urlopen(req, timeout=timeout_s or self.timeout_s)
        except urllib.error.HTTPError as exc:
            try:
                detail = str(json.loads(exc.read()).get("detail", exc.reason))
            except (ValueError, AttributeError):
                detail = str(exc.reason)
            raise RequestRefused(exc.code, detail) from None
        except (urllib.error.URLError, OSError) as exc:
            raise MonitorUnreachable(f"cannot reach the monitor at {self.url}: {exc}") from None

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        with self._open(method, path, body) as resp:
            return json.loads(resp.read())

    def _get(self, path: str, **query: Any) -> Any:
        q = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        return self._json("GET", path + (f"?{q}" if q else ""))

    @staticmethod
    def _path(campaign_id: str, *rest: str) -> str:
        return "/".join(["/api/campaigns", urllib.parse.quote(campaign_id, safe=""), *rest])

    # -- reading -----------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """Who the token belongs to: name, role, campaigns."""
        me: dict[str, Any] = self._get("/api/me")
        if not me.get("name"):
            raise RequestRefused(401, "the token was not accepted")
        return me

    def campaigns(self) -> list[dict[str, Any]]:
        """Every campaign: id, status, owner, microscope, points, model version, ..."""
        return list(self._get("/api/campaigns"))

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        """One campaign: its summary, config, grid, stride and vetoes."""
        return dict(self._get(self._path(campaign_id)))

    def measurements(self, campaign_id: str) -> dict[str, Array]:
        """Every measurement in order: ``row``, ``col``, ``value`` (the current scalarizer;
        NaN when unscorable), ``received`` (Unix s), ``plan_version``, ``source``."""
        got = self._get(self._path(campaign_id, "measurements"))
        ms = got["measurements"]
        return {"row": np.array([m["row"] for m in ms], np.int64),
                "col": np.array([m["col"] for m in ms], np.int64),
                "value": _floats([m["value"] if m["value"] is not None else math.nan
                                  for m in ms]),
                "received": _floats([m["received"] for m in ms]),
                "plan_version": np.array([m["plan_version"] for m in ms], np.int64),
                "source": np.array([m["source"] for m in ms], dtype=str)}

    def spectra(self, campaign_id: str, n: int = 50) -> dict[str, Array]:
        """The latest ``n`` raw spectra (``n x L``), their ``row``/``col`` and the ``axis``."""
        got = self._get(self._path(campaign_id, "spectra"), n=n)
        spectra = got["spectra"]
        return {"axis": _floats(got["axis"]),
                "spectra": np.array([_floats([math.nan if v is None else v
                                              for v in s["values"]]) for s in spectra]),
                "row": np.array([s["row"] for s in spectra], np.int64),
                "col": np.array([s["col"] for s in spectra], np.int64)}

    def maps(self, campaign_id: str, *, as_xarray: bool = False) -> Any:
        """The newest model's ``mean`` and ``std`` maps on the grid (``rows x cols`` at the
        campaign's stride) and its ``model_version``; an ``xarray.Dataset`` if asked."""
        got = self._get(self._path(campaign_id, "predictions"))
        stride, version = int(got["stride"]), int(got["model_version"])
        mean, std = _floats(got["mean"]), _floats(got["std"])
        if not as_xarray:
            return {"mean": mean, "std": std, "model_version": version, "stride": stride}
        import xarray as xr  # type: ignore[import-not-found, unused-ignore]

        rows, cols = mean.shape
        return xr.Dataset({"mean": (("row", "col"), mean), "std": (("row", "col"), std)},
                          coords={"row": np.arange(rows) * stride,
                                  "col": np.arange(cols) * stride},
                          attrs={"model_version": version})

    def plan(self, campaign_id: str) -> dict[str, Any]:
        """The newest plan: ``points``, ``scores``, the ``next`` points still to measure."""
        return dict(self._get(self._path(campaign_id, "plan")))

    def events(self, campaign_id: str, n: int = 200) -> list[LiveEvent]:
        """The campaign's latest ``n`` events, oldest first."""
        return [LiveEvent(str(e["id"]), str(e["campaign_id"]), str(e["kind"]),
                          float(e["time"]), dict(e["data"]))
                for e in self._get(self._path(campaign_id, "events"), n=n)]

    def follow(self, campaign_id: str | None = None, *, last_event_id: str | None = None,
               timeout_s: float | None = None,
               max_events: int | None = None) -> Iterator[LiveEvent]:
        """Live events as they happen (all campaigns, or one), until ``timeout_s`` or
        ``max_events``; from after ``last_event_id`` when given (a resumed stream)."""
        query = f"?campaign={urllib.parse.quote(campaign_id)}" if campaign_id else ""
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        seen = 0
        with self._open("GET", "/api/stream" + query, headers=headers,
                        timeout_s=max(self.timeout_s, 60.0)) as resp:
            for event in parse_sse(resp):
                if event is not None:
                    yield event
                    seen += 1
                if ((max_events is not None and seen >= max_events)
                        or (deadline is not None and time.monotonic() > deadline)):
                    return

    # -- steering ----------------------------------------------------------------------

    def control(self, campaign_id: str, action: str, **args: Any) -> dict[str, Any]:
        """Send a control (``pause``, ``resume``, ``stop``, ``veto``, ``set_exploration``,
        ``set_scalarizer``, ...; docs/monitor.md); returns it with its ``control_id``."""
        return dict(self._json("POST", self._path(campaign_id, "controls"),
                               {"action": action, "args": args}))

    def control_status(self, campaign_id: str, control_id: str) -> dict[str, Any]:
        """A control, what the edge answered, and whether the planner applied it."""
        return dict(self._get(self._path(campaign_id, "controls", control_id)))
