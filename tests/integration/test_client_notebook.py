"""The example notebook (docs/notebooks/live_campaign.ipynb) runs, through nbclient and a real
kernel, against a live campaign: real Redis, local Ray, the planner service, an edge process
replaying the BEPS data and a real monitor; it logs in with a token, follows events live,
fetches maps and measurements and steers the campaign. The client's errors are checked too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner_cluster.client import AutopilotClient, MonitorUnreachable, RequestRefused
from planner_cluster.monitor import MonitorConfig, MonitorServer
from planner_cluster.redis_server import free_port
from planner_cluster.state import StateStore
from planner_cluster.state.users import UserStore
from tests.conftest import REPO, wait_for

from .planner_harness import edge_command, running_planner, start_edge

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

NOTEBOOK = REPO / "docs" / "notebooks" / "live_campaign.ipynb"


@pytest.fixture
def live(redis_server: Any, local_ray: None, tmp_path: Path,
         shared_data: Path) -> Iterator[tuple[str, str, StateStore]]:
    """A campaign in progress, a monitor on it, and an operator's token."""
    prefix = f"nb{uuid.uuid4().hex[:6]}"
    store = StateStore.connect(redis_server.url, prefix)
    users = UserStore(store)
    users.put_user("olga", "operator", ["c1"])
    token = users.issue_token("olga", 3600)[0]
    with running_planner(redis_server.url, prefix, tmp_path) as service:
        proc = start_edge(edge_command(service, tmp_path, "c1", max_points=200, batch=2,
                                       extra=("--dwell", "0.2")), tmp_path / "edge.log")
        monitor = MonitorServer(MonitorConfig(redis_prefix=prefix, bind="127.0.0.1:0"),
                                store).start_in_thread()
        try:
            wait_for(lambda: store.get_campaign("c1") is not None, timeout=60,
                     what="the campaign")
            yield monitor.url, token, store
        finally:
            monitor.stop()
            proc.kill()
            proc.wait(30)
    store.close()


def test_the_notebook_runs_against_a_live_campaign(
        live: tuple[str, str, StateStore], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    url, token, store = live
    monkeypatch.setenv("AUTOPILOT_URL", url)
    monkeypatch.setenv("AUTOPILOT_TOKEN", token)
    monkeypatch.setenv("AUTOPILOT_CAMPAIGN", "c1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []))
    assert "logged in as olga (operator)" in text
    assert "applied by the planner: True" in text
    changes = [e.data for e in store.read_events("0-0", campaign_id="c1", count=100_000)
               if e.kind == "replanned" and e.data.get("reason") == "set_acquisition"]
    assert changes and changes[0]["changes"]["acquisition"]["params"]["xi"] == 1.5


def test_client_reads_arrays_follows_events_and_says_what_is_wrong(
        live: tuple[str, str, StateStore]) -> None:
    url, token, store = live
    client = AutopilotClient(url, token)
    wait_for(lambda: store.require_campaign("c1").model_version >= 1, timeout=120,
             what="the first model")
    maps = client.maps("c1")
    assert maps["mean"].shape == (50, 50) and maps["std"].shape == (50, 50)
    m = client.measurements("c1")
    assert len(m["row"]) == len(m["col"]) == len(m["value"]) >= 1
    events = list(client.follow("c1", max_events=2, timeout_s=60))
    assert len(events) == 2 and all(e.campaign_id == "c1" for e in events)
    with pytest.raises(RequestRefused) as refused:
        client.control("c1", "set_exploration", weight=-1)
    assert refused.value.status == 422 and "weight must be >= 0" in refused.value.detail
    with pytest.raises(RequestRefused, match="401"):
        AutopilotClient(url, "not-a-token")
    with pytest.raises(MonitorUnreachable):
        AutopilotClient(f"http://127.0.0.1:{free_port()}", token, timeout_s=5)
