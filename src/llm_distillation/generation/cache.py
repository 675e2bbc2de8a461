"""Key/value caches of a decoder-only batch: a preallocated in-place cache layer, and the LRU of
shared-prefix states.

A batch is laid out as ``[ prefix (P tokens) | left padding | suffix ]``: the prefix states are
copied into every row of the batch cache, then the suffixes are prefilled after them.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

PREFIX_LRU_SIZE: Final = 8
"""Distinct prefixes whose keys/values are kept between ``generate`` calls."""

PrefixStates = list[tuple[Any, Any]]
"""Per-layer ``(keys, values)`` of one prefix, each ``(1, kv_heads, P, head_dim)``."""


class PrefixCache:
    """The states of the last :data:`PREFIX_LRU_SIZE` distinct prefixes, by token ids."""

    def __init__(self, compute: Callable[[tuple[int, ...]], PrefixStates]) -> None:
        self._compute = compute
        self._states: OrderedDict[tuple[int, ...], PrefixStates] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._states

    def __len__(self) -> int:
        return len(self._states)

    def get(self, key: tuple[int, ...]) -> PrefixStates:
        if key in self._states:
            self._states.move_to_end(key)
            return self._states[key]
        states = self._states[key] = self._compute(key)
        while len(self._states) > PREFIX_LRU_SIZE:
            self._states.popitem(last=False)
        return states

    def clear(self) -> None:
        self._states.clear()


def batch_cache(model_config: Any, rows: int, capacity: int, prefix: PrefixStates | None) -> Any:
    """A cache for ``rows`` rows of at most ``capacity`` positions, holding ``prefix`` (if any)
    in every row.

    When every layer is plain full attention, its layers are preallocated and written in place
    (a ``DynamicCache`` concatenates, i.e. copies the whole cache, at every step: about a
    quarter of a decode step at 16 rows of 400 tokens on CPU); otherwise (sliding windows…) it
    is a ``DynamicCache``.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import Cache, DynamicLayer

    cache = DynamicCache(config=model_config)
    if cache.layers and all(type(layer) is DynamicLayer for layer in cache.layers):
        layer_class = preallocated_layer_class()
        cache = Cache(layers=[layer_class(capacity) for _ in cache.layers])
    if prefix is not None:
        for layer_idx, (keys, values) in enumerate(prefix):
            cache.update(
                keys.expand(rows, -1, -1, -1).contiguous(),
                values.expand(rows, -1, -1, -1).contiguous(),
                layer_idx,
            )
    return cache


@functools.cache
def preallocated_layer_class() -> type:
    """A ``DynamicLayer`` that preallocates ``capacity`` positions and writes in place.

    ``keys``/``values`` are views ``(batch, kv_heads, length, head_dim)`` of buffers
    ``(batch, kv_heads, capacity, head_dim)``; ``batch_select_indices`` keeps some rows, moving
    them down in place. (Built on first use: transformers is imported only then.)
    """
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):
        def __init__(self, capacity: int) -> None:
            super().__init__()
            self.capacity = capacity
            self.length = 0

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            self.device = key_states.device
            batch, heads, _, _ = key_states.shape
            self._key_buffer = key_states.new_empty(
                (batch, heads, self.capacity, key_states.shape[-1])
            )
            self._value_buffer = value_states.new_empty(
                (batch, heads, self.capacity, value_states.shape[-1])
            )
            self.is_initialized = True
            self._refresh()

        def _refresh(self) -> None:
            self.keys = self._key_buffer[:, :, : self.length]
            self.values = self._value_buffer[:, :, : self.length]

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            if end > self.capacity:
                raise RuntimeError(f"cache of {self.capacity} positions cannot hold {end}")
            self._key_buffer[:, :, self.length : end] = key_states
            self._value_buffer[:, :, self.length : end] = value_states
            self.length = end
            self._refresh()
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

        def batch_select_indices(self, indices: Any) -> None:
            """Keep the rows ``indices`` (ascending), moving each down in place.

            Only the filled positions of the rows that move are copied, and no new buffer is
            allocated (indexing would copy every row's whole capacity).
            """
            if not self.is_initialized:
                return
            for target, source in enumerate(indices.tolist()):
                if source != target:
                    filled = slice(0, self.length)
                    self._key_buffer[target, :, filled] = self._key_buffer[source, :, filled]
                    self._value_buffer[target, :, filled] = self._value_buffer[source, :, filled]
            self._key_buffer = self._key_buffer[: len(indices)]
            self._value_buffer = self._value_buffer[: len(indices)]
            self._refresh()

        def reset(self) -> None:
            self.length = 0
            super().reset()

    return PreallocatedLayer
