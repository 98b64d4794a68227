"""The replay benchmark's ``--set`` overrides become the nested campaign config a live campaign
would be given: JSON values as JSON, every other value as a word."""

from __future__ import annotations

from benchmarks.replay import _overrides


def test_values_are_json_where_they_parse_and_words_otherwise() -> None:
    assert _overrides(["acquisition.name=thompson", "model.activation=tanh", "model.lr=0.02",
                       "model.keep_best_iterate=false", "model.hidden=[32, 32]",
                       "ensemble=2"]) == {
        "acquisition": {"name": "thompson"},
        "model": {"activation": "tanh", "lr": 0.02, "keep_best_iterate": False,
                  "hidden": [32, 32]},
        "ensemble": 2,
    }
