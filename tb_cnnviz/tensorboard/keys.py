"""The contract's key names the reader uses, each checked against contract.CONTENT_KEYS or INFO_KEYS.

Spelled once here so routes carry no bare key literals; a key renamed in the contract fails at import
(and so in every test) instead of reading as a silent None in a route.
"""

from __future__ import annotations

from tb_cnnviz import contract


def _key(name: str, keys: tuple[str, ...]) -> str:
    if name not in keys:
        raise ImportError(f"the reader uses key {name!r}, which the contract no longer has; its keys: {list(keys)}")
    return name


# Summary metadata content (contract.Content).
KIND = _key("kind", contract.CONTENT_KEYS)
SCOPE = _key("scope", contract.CONTENT_KEYS)
LAYER = _key("layer", contract.CONTENT_KEYS)
LAYER_INDEX = _key("layer_index", contract.CONTENT_KEYS)
LAYER_TYPE = _key("layer_type", contract.CONTENT_KEYS)
SHAPE = _key("shape", contract.CONTENT_KEYS)
COUNT = _key("count", contract.CONTENT_KEYS)
LABELS = _key("labels", contract.CONTENT_KEYS)

# Info blob (contract.Info); KIND is the same name there.
VERSION = _key("version", contract.INFO_KEYS)
CHANNELS = _key("channels", contract.INFO_KEYS)
TILE = _key("tile", contract.INFO_KEYS)
GRID = _key("grid", contract.INFO_KEYS)
SERIES = _key("series", contract.INFO_KEYS)
SCALARS = _key("scalars", contract.INFO_KEYS)
_key(KIND, contract.INFO_KEYS)
PROBES = _key("probes", contract.INFO_KEYS)
