"""Protocol version numbers (docs/protocol.md, "Versioning")."""

from __future__ import annotations

#: The version this code speaks and writes in every header.
PROTOCOL_VERSION = 1
#: Versions this code accepts. A new version is added here together with its adapter.
SUPPORTED_VERSIONS: frozenset[int] = frozenset({1})
