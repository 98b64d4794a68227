"""Arrays and maps as Redis hash fields: raw little-endian bytes plus dtype and shape; JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from numpy.typing import NDArray


def array_fields(name: str, array: NDArray[Any]) -> dict[str, bytes | str]:
    arr = np.ascontiguousarray(array)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return {name: arr.tobytes(), f"{name}_dtype": arr.dtype.str,
            f"{name}_shape": json.dumps(list(arr.shape))}


def read_array(fields: dict[bytes, bytes], name: str) -> NDArray[Any]:
    raw = fields[name.encode()]
    dtype = np.dtype(fields[f"{name}_dtype".encode()].decode())
    shape = json.loads(fields[f"{name}_shape".encode()])
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def loads(raw: bytes | str | None, default: Any = None) -> Any:
    return default if raw is None else json.loads(raw)


def text(fields: dict[bytes, bytes], name: str, default: str = "") -> str:
    raw = fields.get(name.encode())
    return default if raw is None else raw.decode()
