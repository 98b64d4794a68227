"""Edge and campaign ids: one documented character set (docs/protocol.md, section 3).

1-64 characters from ``A-Z a-z 0-9 . _ -``, starting with a letter or digit. Ids become parts
of Redis key names, URL paths and file names: with this set no id can name another object's
key (``c2:plan``), a path (``a/b``) or a hidden file (``.x``).
"""

from __future__ import annotations

import re

__all__ = ["ID_FIELDS", "ID_RULE", "valid_id"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
ID_RULE = "1-64 characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"
#: Body fields that hold an id (checked when a message is decoded).
ID_FIELDS = frozenset({"campaign_id", "edge_id"})


def valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID.match(value) is not None
