"""The monitor in a real headless Chromium (Debian's, driven by selenium and Debian's
chromedriver) against a real stack: Redis, local Ray, the planner, a real edge process
replaying the BEPS data, and the monitor on 127.0.0.1. Screenshots go to test-artifacts/; with
AUTOPILOT_DOCS_SCREENSHOTS=1 the live page and the finished campaign also go to docs/ (the
README shows them)."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge_agent.instruments.replay import load_target
from planner_cluster.monitor import MonitorConfig, MonitorServer
from planner_cluster.state import StateStore
from planner_cluster.state.users import UserStore, hash_password
from tests.conftest import REPO, wait_for

from .planner_harness import edge_command, running_planner, start_edge

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ARTIFACTS = REPO / "test-artifacts" / "monitor"
DOCS_SHOTS = os.environ.get("AUTOPILOT_DOCS_SCREENSHOTS") == "1"
PASSWORD = "operator password"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--window-size=1400,1900")


@dataclass
class Stack:
    store: StateStore
    monitor: MonitorServer
    driver: Any
    viewer_token: str
    proc: Any
    log: Path

    def shot(self, name: str, docs: str = "") -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
        if docs and DOCS_SHOTS:
            self.driver.save_screenshot(str(REPO / "docs" / docs))

    def data(self, element_id: str, key: str) -> str:
        """A data- attribute the page sets when it draws a canvas (what the plot shows)."""
        return str(self.js("const e = document.getElementById(arguments[0]);"
                           "return e ? (e.dataset[arguments[1]] || '') : '';", element_id, key))

    def click_cell(self, canvas_id: str, cell: tuple[int, int]) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        canvas = self.driver.find_element("id", canvas_id)
        dx, dy = self.js("return Plots.cellOffset(arguments[0], Campaign.state.detail.grid, "
                         "arguments[1], arguments[2])", canvas, cell[0], cell[1])
        ActionChains(self.driver).move_to_element_with_offset(canvas, round(dx), round(dy)
                                                              ).click().perform()

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def text(self, css: str) -> str:
        """The element's text, read in one script call (the page re-renders parts live)."""
        return str(self.js("const e = document.querySelector(arguments[0]);"
                           "return e ? e.innerText.trim() : '';", css))

    def open(self, fragment: str) -> None:
        self.driver.get(f"{self.monitor.url}/{fragment}")

    def open_campaign(self, cid: str) -> None:
        """The campaign page, loaded and following live events."""
        self.open(f"#/c/{cid}")
        try:
            wait_for(lambda: self.js(
                "return !!(typeof Campaign !== 'undefined' && Campaign.state && "
                f"Campaign.state.cid === '{cid}' && Campaign.state.ready && "
                "document.getElementById('live').className === 'live on')"),
                timeout=60, what=f"the page of {cid}, live")
        except BaseException:
            self.shot(f"failed-open-{cid}")
            for entry in self.driver.get_log("browser"):
                print("browser:", entry)
            raise

    def login(self, *, name: str | None = None, token: str | None = None) -> None:
        self.open("")
        self.driver.delete_all_cookies()  # a fresh login, whoever was logged in
        self.driver.refresh()
        wait_for(lambda: self.text("#login-form h2") == "Log in", timeout=20, what="login form")
        if token is not None:
            self.driver.find_element("id", "login-token").send_keys(token)
        else:
            assert name is not None
            self.driver.find_element("id", "login-name").send_keys(name)
            self.driver.find_element("id", "login-password").send_keys(PASSWORD)
        self.driver.find_element("id", "login-submit").click()
        wait_for(lambda: self.text("#campaigns th"), timeout=20, what="the campaign list")


def _chrome(tmp: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in (*CHROME_FLAGS, f"--user-data-dir={tmp / 'chrome-profile'}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@pytest.fixture(scope="module")
def stack(redis_server: Any, local_ray: None, shared_data: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")
    pytest.importorskip("selenium", reason="needs selenium (pip install selenium)")
    tmp = tmp_path_factory.mktemp("monitor-browser")
    prefix = f"mb{uuid.uuid4().hex[:6]}"
    store = StateStore.connect(redis_server.url, prefix)
    users = UserStore(store)
    users.put_user("olga", "operator", ["c1"], password_hash=hash_password(PASSWORD, 1000))
    users.put_user("vic", "viewer")
    viewer_token, _ = users.issue_token("vic", 3600)
    # the replayed field of view, as autopilot demo gives it: exact baselines on the page
    store.put_ground_truth("c1", load_target("beps", str(shared_data)).spectra)
    monitor = MonitorServer(MonitorConfig(redis_prefix=prefix, bind="127.0.0.1:0",
                                          keepalive_s=2.0), store).start_in_thread()
    with running_planner(redis_server.url, prefix, tmp) as service:
        cmd = edge_command(service, tmp, "c1", max_points=600)
        cmd[cmd.index("--dwell") + 1] = "0.25"  # runs until the last test stops it
        log = tmp / "edge.log"
        proc = start_edge(cmd, log)
        driver = _chrome(tmp)
        try:
            yield Stack(store, monitor, driver, viewer_token, proc, log)
        finally:
            driver.quit()
            if proc.poll() is None:
                proc.terminate()
            proc.wait(60)
            monitor.stop()
            store.close()


def test_list_shows_a_running_campaign(stack: Stack) -> None:
    stack.login(name="olga")
    row = "#campaigns tr[data-campaign=c1]"
    wait_for(lambda: "running" in stack.text(row), timeout=120, what="c1 running in the list")
    text = stack.text(row)
    assert "edge-1" in text and "/ 600" in text
    stack.shot("01-campaign-list")


def test_campaign_page_updates_as_measurements_arrive(stack: Stack) -> None:
    stack.login(name="olga")
    stack.open_campaign("c1")
    wait_for(lambda: stack.js("return Campaign.state.scan !== null"),
             timeout=60, what="the campaign page with its scan")
    stack.js("window.__sameDocument = true;")
    first = stack.js("return Campaign.state.meas.length")
    wait_for(lambda: stack.js("return Campaign.state.meas.length") >= first + 5, timeout=120,
             what="five more measurements drawn")
    wait_for(lambda: stack.js("return Campaign.state.pred !== null"), timeout=120,
             what="predicted maps")
    assert stack.js("return window.__sameDocument === true")  # live, no reload
    # the count comes with the campaign's details, polled apart from the measurement stream
    wait_for(lambda: int(stack.text("#n-measured").split("/")[0]) >= first + 5, timeout=60,
             what="the measured count to follow the drawn measurements")
    assert stack.js("return document.querySelectorAll('#event-rows tr[data-kind=measurement]')"
                    ".length") >= 5
    stack.shot("02-campaign-page-live")


def test_the_page_labels_its_plots_and_says_what_happened(stack: Stack) -> None:
    stack.login(name="olga")
    stack.open_campaign("c1")
    wait_for(lambda: stack.js("return Campaign.state.pred !== null && "
                              "Campaign.state.baseline !== null && Campaign.state.meas.length > 3"),
             timeout=120, what="maps, measurements and a baseline")
    wait_for(lambda: stack.data("map-mean", "colorbar"), timeout=20, what="the mean map drawn")
    # colour bars with the scalarizer's units, axes in grid points, on every map
    for canvas in ("map-mean", "map-std"):
        assert stack.data(canvas, "colorbar").startswith(("loop_area (bias x response",
                                                          "std of loop_area (bias x response"))
        assert stack.data(canvas, "axes") == "x (grid points), y (grid points)"
    assert "scaled 0..1" in stack.data("map-structure", "colorbar")
    top, bottom = stack.js(
        "const c = document.getElementById('map-mean'), a = Plots.area(c, Campaign.state.detail"
        ".grid), ctx = c.getContext('2d'), x = a.x + a.w + 16;"
        "return [Array.from(ctx.getImageData(x, a.y + 2, 1, 1).data),"
        "        Array.from(ctx.getImageData(x, a.y + a.h - 2, 1, 1).data)];")
    assert top[:3] != bottom[:3] and top[0] > 200  # viridis: yellow at the top, violet below
    # the measured path: numbered, the latest highlighted, few lines
    # read together: measurements keep arriving, and the map is redrawn after the state moves
    drawn, meas = stack.js("return [document.getElementById('map-structure').dataset.path,"
                           "        Campaign.state.meas.map(m => [m.row, m.col])];")
    path = json.loads(drawn)
    assert 0 < path["points"] <= len(meas) and path["latest"] == meas[path["points"] - 1]
    assert path["numbered"] >= min(path["points"], 40) // 2 and path["lines"] <= 4
    # labelled spectra and a discovery curve against random and raster scans (ground truth)
    assert stack.data("spectra", "axes") == "channel | signal (a.u.)"
    legend = stack.data("discovery", "legend").split(" | ")
    assert legend == ["measured", "best so far", "random scan (expected)", "raster scan",
                      "true best"]
    assert "baselines from the ground truth (2500 points" in stack.text("#discovery-note")
    # freshness and an event log in words
    assert re.search(r"plan v\d+ made \d+ (s|min) ago", stack.text("#freshness"))
    assert "the model saw" in stack.text("#freshness")
    plans = stack.js("return Array.from(document.querySelectorAll('#event-rows tr[data-kind=plan]'"
                     ")).map(r => r.innerText)")
    assert any(re.search(r"model v\d+: plan of \d+ points \(trained on \d+ measurements", p)
               for p in plans), plans
    assert any("seed plan of" in p for p in plans) or len(plans) > 50, plans
    words = stack.js("return Array.from(document.querySelectorAll('#event-rows td.what'))"
                     ".map(td => td.innerText)")
    assert words and not [w for w in words if "{" in w], words  # no raw JSON
    assert any(re.fullmatch(r"measured \(\d+, \d+\) from the (seed plan|model's plan)", w)
               for w in words)
    # a colour scale held across model versions
    stack.driver.find_element("id", "hold-scale").click()
    wait_for(lambda: ", held" in stack.data("map-mean", "colorbar"), timeout=20,
             what="the scale held")
    held, version = stack.data("map-mean", "colorbar"), stack.js(
        "return Campaign.state.pred.model_version")
    wait_for(lambda: f"model v{version + 1}" in stack.text("#mean-scale")
             or stack.js("return Campaign.state.pred.model_version") > version + 1,
             timeout=120, what="a later model drawn")
    assert stack.data("map-mean", "colorbar") == held


def test_a_viewers_control_is_refused(stack: Stack) -> None:
    stack.login(token=stack.viewer_token)
    stack.open_campaign("c1")
    wait_for(lambda: stack.text("#can-control") == "watch only", timeout=30,
             what="the viewer's campaign page")
    before = len(stack.store.read_controls("c1"))
    stack.driver.find_element("id", "btn-pause").click()
    wait_for(lambda: "refused" in stack.text("#control-msg"), timeout=20,
             what="the refusal on the page")
    assert "vic (viewer) may not control c1" in stack.text("#control-msg")
    assert len(stack.store.read_controls("c1")) == before
    assert stack.store.require_campaign("c1").status == "running"
    stack.shot("03-viewer-control-refused")


def test_an_operators_pause_reaches_the_edge(stack: Stack) -> None:
    stack.login(name="olga")
    stack.open_campaign("c1")
    wait_for(lambda: stack.text("#status") == "running", timeout=30, what="running campaign")
    stack.driver.find_element("id", "btn-pause").click()
    wait_for(lambda: "edge accepted" in stack.text("#control-msg"), timeout=30,
             what="the edge's acceptance on the page")
    assert "now paused" in stack.text("#control-msg")
    wait_for(lambda: (stack.store.edge("edge-1") or {}).get("state") == "paused", timeout=20,
             what="the edge agent to report paused")
    wait_for(lambda: stack.text("#status") == "paused" and stack.text("#edge-state") == "paused",
             timeout=20, what="the page to show paused")
    row = stack.text("#event-rows tr[data-kind=control]")
    assert "olga" in row and "pause" in row and "accepted" in row
    stack.shot("04-operator-paused")
    stack.driver.find_element("id", "btn-resume").click()
    wait_for(lambda: stack.text("#status") == "running", timeout=30, what="resumed")
    wait_for(lambda: (stack.store.edge("edge-1") or {}).get("state") == "running", timeout=20,
             what="the edge running again")


def test_an_operator_changes_the_acquisition(stack: Stack) -> None:
    from selenium.webdriver.support.ui import Select

    stack.login(name="olga")
    stack.open_campaign("c1")
    assert stack.js("return document.getElementById('acq-name').value") == "ei"
    Select(stack.driver.find_element("id", "acq-name")).select_by_value("ucb")
    stack.driver.find_element("id", "acq-param").send_keys("2.5")
    stack.driver.find_element("id", "btn-acq").click()
    wait_for(lambda: "applied by the planner" in stack.text("#control-msg"), timeout=60,
             what="the planner applying the new acquisition")
    acq = stack.store.require_campaign("c1").config["acquisition"]
    assert acq["name"] == "ucb" and acq["params"] == {"beta": 2.5}
    wait_for(lambda: stack.text("#acquisition").startswith("ucb"), timeout=20,
             what="the page showing ucb")
    stack.shot("05-acquisition-changed")


def test_a_veto_by_clicking_the_map_keeps_the_point_out_of_later_plans(stack: Stack) -> None:
    stack.login(name="olga")
    stack.open_campaign("c1")
    wait_for(lambda: stack.js("return Campaign.state && Campaign.state.plan && "
                              "Campaign.state.plan.next.length > 0 && Campaign.state.scan"),
             timeout=60, what="a plan on the page")
    # pause first, so the edge cannot be measuring the point while the veto travels
    stack.driver.find_element("id", "btn-pause").click()
    wait_for(lambda: (edge := stack.store.edge("edge-1") or {}).get("state") == "paused"
             and edge["stats"].get("pending") == 0, timeout=30,
             what="the edge paused, every measurement delivered")
    wait_for(lambda: stack.text("#status") == "paused", timeout=20, what="paused on the page")
    stack.driver.find_element("id", "mode-veto-point").click()
    measured = stack.store.measured_points("c1")
    target = wait_for(lambda: next((tuple(p) for p in stack.js(
        "return Campaign.state.plan.next") if tuple(p) not in measured), None), timeout=30,
        what="an unmeasured planned point on the page")
    stack.click_cell("map-structure", target)
    try:
        wait_for(lambda: target in stack.store.vetoed_points("c1"), timeout=30,
                 what=f"the veto of {target} stored")
    except BaseException:  # say what the page saw (a rare failure: keep its evidence)
        stack.shot("failed-veto")
        print("control-msg:", stack.text("#control-msg"), "| cell-info:",
              stack.text("#cell-info"), "| mode:",
              stack.js("return document.querySelector('input[name=mode]:checked').value"),
              "| controls:", stack.store.read_controls("c1"))
        for entry in stack.driver.get_log("browser"):
            print("browser:", entry)
        raise
    version = stack.store.require_campaign("c1").model_version
    wait_for(lambda: "edge accepted" in stack.text("#control-msg")
             and "veto" in stack.text("#control-msg"), timeout=30,
             what="the edge accepting the veto")
    # a region veto by two clicks: drawn on the maps and told in words
    stack.driver.find_element("id", "mode-veto-region").click()
    stack.click_cell("map-structure", (0, 0))
    wait_for(lambda: "opposite corner" in stack.text("#control-msg"), timeout=10,
             what="the first corner taken")
    stack.click_cell("map-structure", (1, 1))
    wait_for(lambda: {(0, 0), (0, 1), (1, 0), (1, 1)} <= stack.store.vetoed_points("c1"),
             timeout=30, what="the region's four points vetoed")
    wait_for(lambda: stack.data("map-mean", "regions") == "1", timeout=30,
             what="the region drawn on the maps")
    wait_for(lambda: "operator olga vetoed 4 points (region rows 0..1, cols 0..1)"
             in stack.text("#event-rows"), timeout=30, what="the region veto in words")
    assert "veto of 4 points by olga" in stack.text("#control-msg")
    stack.driver.find_element("id", "btn-resume").click()
    wait_for(lambda: stack.store.require_campaign("c1").model_version >= version + 2,
             timeout=120, what="two later plans")
    plan = stack.store.get_plan("c1")
    assert plan is not None and target not in {tuple(p) for p in plan.points.tolist()}
    wait_for(lambda: stack.js("return Campaign.state.detail.vetoed.length") >= 1, timeout=20,
             what="the veto drawn")
    assert [target[0], target[1]] in stack.js("return Campaign.state.detail.vetoed")
    assert target not in {(m.row, m.col) for m in stack.store.read_measurements("c1")}
    stack.shot("06-veto-by-click", docs="dashboard-live.png")
    stack.driver.find_element("id", "btn-stop").click()
    wait_for(lambda: stack.proc.poll() is not None, timeout=120, what="the edge to stop")
    assert stack.proc.returncode == 0, stack.log.read_text()[-3000:]
    assert target not in {(m.row, m.col) for m in stack.store.read_measurements("c1")}
    wait_for(lambda: stack.text("#status") == "finished", timeout=30, what="finished on page")
    stack.shot("07-stopped")


def test_a_finished_campaign_stays_browsable(stack: Stack) -> None:
    assert stack.store.require_campaign("c1").status == "finished"  # the test above stopped it
    stack.login(name="olga")
    row = "#finished-campaigns tr[data-campaign=c1]"
    wait_for(lambda: "finished" in stack.text(row), timeout=30, what="c1 among finished")
    assert not stack.js("return !!document.querySelector('#campaigns tr[data-campaign=c1]')")
    stack.driver.find_element("css selector", f"{row} a").click()
    stack.open_campaign("c1")
    stored = len(stack.store.read_measurements("c1"))
    wait_for(lambda: stack.js("return Campaign.state.meas.length") == stored, timeout=60,
             what="every measurement of the finished campaign")
    # the worker's last model sees every measurement, and the page shows that model
    wait_for(lambda: (plan := stack.store.get_plan("c1")) is not None
             and plan.stats.get("n_observed") == stored, timeout=60, what="the final model")
    wait_for(lambda: f"the model saw all {stored} measurements" in stack.text("#freshness"),
             timeout=30, what="the final model on the page")
    assert stack.text("#status") == "finished"
    assert "stays here to review" in stack.text("#over")
    assert stack.js("return document.getElementById('btn-pause').disabled") is True
    assert json.loads(stack.data("map-structure", "path"))["points"] == stored
    assert stack.data("map-mean", "colorbar").startswith("loop_area (bias x response")
    words = stack.text("#event-rows")
    assert "campaign finished" in words or "campaign stopping by olga" in words, words[-2000:]
    stack.shot("08-finished-campaign", docs="dashboard-finished.png")
