"""numpy arrays as raw buffer frames: descriptors out, checked views back in.

An array field travels as a descriptor ``{"dtype": "<f4", "shape": [64], "buffer": 0}`` in
the content map and its bytes as one buffer frame. Only little-endian numeric dtypes are
allowed, and ``dtype x shape`` is checked against the frame length before a view is made,
so nothing is ever allocated from a declared size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ArrayError, ErrorCode, NonFiniteError
from .limits import Limits

#: dtype strings accepted on the wire (numpy ``dtype.str``). All little-endian or single-byte.
ALLOWED_DTYPES: frozenset[str] = frozenset(
    {"|b1", "|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f2", "<f4", "<f8",
     "<c8", "<c16"}
)

Buffer = bytes | memoryview


def wire_array(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Return ``array`` as a C-contiguous little-endian array, copying only when needed."""
    arr = np.asarray(array)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    if arr.dtype.str not in ALLOWED_DTYPES:
        raise ArrayError(
            f"dtype {arr.dtype.str!r} cannot travel; allowed: {sorted(ALLOWED_DTYPES)}",
            code=ErrorCode.BAD_DTYPE,
            dtype=arr.dtype.str,
        )
    return np.ascontiguousarray(arr)


def describe(array: np.ndarray[Any, Any], index: int) -> dict[str, Any]:
    """The descriptor of an array already passed through :func:`wire_array`."""
    return {"dtype": array.dtype.str, "shape": list(array.shape), "buffer": index}


_FINITE_CHUNK = 1 << 20  # elements per isfinite pass: bounds the temporary bool array
_BLAS_FLOATS = (np.dtype("<f4"), np.dtype("<f8"), np.dtype(">f4"), np.dtype(">f8"))
_DOT_MIN = 4096  # below this the exact check is as fast


def check_finite(array: np.ndarray[Any, Any], name: str) -> None:
    """Raise :class:`NonFiniteError` if a floating array holds NaN or infinity."""
    if array.dtype.kind not in "fc" or array.size == 0:
        return
    flat = array.reshape(-1)
    if array.dtype in _BLAS_FLOATS and flat.size >= _DOT_MIN:
        # Fast path: x.x is NaN or infinite if any element is (a BLAS reduction, no
        # temporary); it also overflows for huge finite values, which the exact check clears.
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.dot(flat, flat)):
                return
    for start in range(0, flat.size, _FINITE_CHUNK):
        chunk = flat[start:start + _FINITE_CHUNK]
        if np.isfinite(chunk).all():
            continue
        bad = ~np.isfinite(array)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NonFiniteError(
            f"field {name!r} holds {int(bad.sum())} non-finite value(s), first at {first}",
            field=name,
            count=int(bad.sum()),
        )


def from_descriptor(
    descriptor: Any, buffers: list[Buffer], used: set[int], name: str, limits: Limits
) -> np.ndarray[Any, Any]:
    """Validate a descriptor against the whitelist, limits and its buffer; return a view.

    The returned array is a read-only view on the received frame: no copy, no allocation.
    """
    if not isinstance(descriptor, dict):
        raise ArrayError(f"field {name!r}: expected an array descriptor map", field=name)
    dtype = descriptor.get("dtype")
    shape = descriptor.get("shape")
    index = descriptor.get("buffer")
    if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
        raise ArrayError(
            f"field {name!r}: dtype {dtype!r} is not allowed (little-endian numeric only)",
            code=ErrorCode.BAD_DTYPE,
            field=name,
        )
    if (
        not isinstance(shape, list)
        or len(shape) > limits.max_ndim
        or not all(type(s) is int and s >= 0 for s in shape)
    ):
        raise ArrayError(
            f"field {name!r}: shape must be a list of at most {limits.max_ndim} "
            f"non-negative ints, got {shape!r}",
            code=ErrorCode.BAD_SHAPE,
            field=name,
        )
    if type(index) is not int or not 0 <= index < len(buffers):
        raise ArrayError(
            f"field {name!r}: buffer index {index!r} out of range ({len(buffers)} buffers)",
            code=ErrorCode.BAD_SHAPE,
            field=name,
        )
    if index in used:
        raise ArrayError(f"field {name!r}: buffer {index} is used twice", field=name)
    used.add(index)
    itemsize = np.dtype(dtype).itemsize
    nbytes = math.prod(shape) * itemsize  # Python ints: no overflow
    if nbytes > limits.max_buffer_bytes:
        raise ArrayError(
            f"field {name!r}: declared shape {shape} x {dtype} = {nbytes} bytes exceeds "
            f"the {limits.max_buffer_bytes}-byte limit",
            code=ErrorCode.ARRAY_TOO_LARGE,
            field=name,
            declared_bytes=nbytes,
        )
    buf = buffers[index]
    if len(buf) != nbytes:
        raise ArrayError(
            f"field {name!r}: shape {shape} x {dtype} needs {nbytes} bytes, "
            f"buffer {index} has {len(buf)}",
            code=ErrorCode.SHAPE_MISMATCH,
            field=name,
        )
    array = np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(shape)
    array.flags.writeable = False
    return array
