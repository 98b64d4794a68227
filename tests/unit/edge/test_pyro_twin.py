"""The served-microscope driver against a real Pyro5 server on 127.0.0.1 (a thread here; the
integration test runs ``autopilot edge serve-twin`` as a process)."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("Pyro5")

from edge_agent.errors import AcquisitionStopped, ConfigError, InstrumentError
from edge_agent.instruments import Instrument, make_instrument
from edge_agent.instruments.datasets import ReplayDataset
from edge_agent.instruments.procedural import procedural
from edge_agent.instruments.pyro_twin import ServedMicroscope, twin_uri
from edge_agent.instruments.pyro_twin_server import ReplayTwin, TwinServer
from edge_agent.instruments.replay import ReplayMicroscope
from tests.conftest import wait_for

from .test_instruments import InstrumentContract


@pytest.fixture
def served() -> Iterator[tuple[TwinServer, ReplayDataset]]:
    dataset = procedural(size=20, seed=5, kind="loops")
    server = TwinServer(ReplayTwin(dataset), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield server, dataset
    server.shutdown()
    thread.join(10)


class TestServedTwin(InstrumentContract):
    @pytest.fixture
    def instrument(self, served: tuple[TwinServer, ReplayDataset]) -> Iterator[Instrument]:
        inst = make_instrument(served[0].spec, dwell_s=0.0)
        yield inst
        inst.close()


def test_every_spectrum_and_the_image_come_back_exactly(
        served: tuple[TwinServer, ReplayDataset]) -> None:
    server, dataset = served
    inst = make_instrument(server.spec)
    assert inst.info.kind == "twin" and inst.info.grid_shape == (20, 20)
    assert inst.info.attribution == dataset.attribution
    assert inst.info.axis_units == dataset.axis_units
    np.testing.assert_array_equal(inst.scan(), dataset.image)
    np.testing.assert_array_equal(inst.scan(), dataset.image)  # a fresh scan, same sample
    for row in range(20):
        for col in (0, 7, 19):
            np.testing.assert_array_equal(inst.acquire(row, col), dataset.spectrum(row, col))
    assert isinstance(inst, ServedMicroscope)
    np.testing.assert_array_equal(inst.spectral_axis, dataset.axis)
    inst.close()


def test_a_finer_image_than_the_grid_keeps_its_patch_scale() -> None:
    base = procedural(size=8, seed=2, kind="peaks")
    fine = dataclasses.replace(
        base, image=np.repeat(np.repeat(base.image, 4, axis=0), 4, axis=1), patch_scale=4)
    server = TwinServer(ReplayTwin(fine), port=0)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        inst = make_instrument(server.spec)
        assert (inst.info.grid_shape, inst.info.patch_scale) == ((8, 8), 4)
        assert inst.scan().shape == (32, 32)
        np.testing.assert_array_equal(inst.acquire(7, 1), base.spectrum(7, 1))
        with pytest.raises(ConfigError, match="whole multiple"):
            make_instrument(f"{server.spec}?grid=5x5")
        inst.close()
    finally:
        server.shutdown()
        thread.join(10)


def test_stop_interrupts_the_dwell(served: tuple[TwinServer, ReplayDataset]) -> None:
    inst = make_instrument(served[0].spec, dwell_s=30.0)
    inst.scan()
    outcome: list[BaseException] = []

    def acquire() -> None:
        try:
            inst.acquire(4, 4)
        except AcquisitionStopped as exc:
            outcome.append(exc)

    worker = threading.Thread(target=acquire)
    worker.start()
    wait_for(lambda: inst.position == (4, 4), what="the probe to move")
    inst.stop()
    worker.join(5)
    assert outcome
    inst.close()


def test_a_server_that_is_gone_is_an_instrument_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(InstrumentError, match="unreachable"):
        ServedMicroscope(twin_uri(f"127.0.0.1:{port}"), timeout_s=5.0)


def test_spec_forms() -> None:
    assert twin_uri("127.0.0.1:9092") == "PYRO:microscope.server@127.0.0.1:9092"
    assert twin_uri("PYRO:afm@host:1") == "PYRO:afm@host:1"
    with pytest.raises(ConfigError, match="twin:HOST:PORT"):
        twin_uri("nohost")
    with pytest.raises(ConfigError, match="ROWSxCOLS"):
        make_instrument("twin:127.0.0.1:1?grid=big")


def test_serve_twin_takes_specs_names_and_files(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from edge_agent.cli import main
    from edge_agent.instruments.pyro_twin_server import load_served_dataset

    dataset = load_served_dataset("sim:peaks?size=10&seed=4")
    assert dataset.grid_shape == (10, 10)
    sample = make_instrument("sim:peaks?size=10&seed=4")
    assert isinstance(sample, ReplayMicroscope)
    path = sample.export_truth(tmp_path / "peaks.npz")
    np.testing.assert_array_equal(load_served_dataset(str(path)).spectra, dataset.spectra)
    assert main(["serve-twin", str(tmp_path / "missing.npz"), "--port", "0"]) == 1
    assert "replay file not found" in capsys.readouterr().err
