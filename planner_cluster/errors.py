"""The planner's error tree: one root, ``PlannerError``.

Subclasses also inherit the matching builtin where one fits and carry structured fields.
"""

from __future__ import annotations


class PlannerError(Exception):
    """Root of every error raised on purpose by ``planner_cluster``."""


class ConfigError(PlannerError, ValueError):
    """A setting is missing, unknown or invalid."""


class CandidateError(PlannerError, ValueError):
    """A structural image or candidate request cannot be turned into candidates.

    Attributes:
        reason: what is wrong, in words.
        shape: the offending array shape, when there is one.
    """

    def __init__(self, reason: str, *, shape: tuple[int, ...] | None = None) -> None:
        self.reason = reason
        self.shape = shape
        suffix = f" (shape {shape})" if shape is not None else ""
        super().__init__(f"{reason}{suffix}")


class ScalarizerError(PlannerError, ValueError):
    """A scalarizer is unknown, misconfigured, or was given spectra it cannot score.

    Attributes:
        scalarizer: the scalarizer's registered name.
        reason: what is wrong, in words.
        rows: indices of the offending spectra, when specific rows are at fault.
    """

    def __init__(self, scalarizer: str, reason: str, *, rows: tuple[int, ...] = ()) -> None:
        self.scalarizer = scalarizer
        self.reason = reason
        self.rows = rows
        where = f" (rows {list(rows[:10])}{'...' if len(rows) > 10 else ''})" if rows else ""
        super().__init__(f"scalarizer {scalarizer!r}: {reason}{where}")


class ModelFittingError(PlannerError, RuntimeError):
    """Fitting a surrogate model failed after a bounded number of attempts.

    Attributes:
        attempts: how many fits were tried.
        n_train: the number of training points.
        last_error: the message of the last failure.
    """

    def __init__(self, attempts: int, n_train: int, last_error: str) -> None:
        self.attempts = attempts
        self.n_train = n_train
        self.last_error = last_error
        super().__init__(
            f"model fitting failed after {attempts} attempt(s) on {n_train} points: {last_error}"
        )


class AcquisitionError(PlannerError, ValueError):
    """An acquisition function is unknown or cannot rank the given inputs.

    Attributes:
        acquisition: the acquisition's registered name (or the name asked for).
        reason: what is wrong, in words.
    """

    def __init__(self, acquisition: str, reason: str) -> None:
        self.acquisition = acquisition
        self.reason = reason
        super().__init__(f"acquisition {acquisition!r}: {reason}")


class CampaignConfigError(ConfigError):
    """A campaign setting is unknown or invalid (refused before anything is planned).

    Attributes:
        field: the key path of the bad setting (``acquisition.params.xi``; ``""``: the map).
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field
