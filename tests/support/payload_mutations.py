"""Structured mutations of valid JSON for the hypothesis tests of the wire's parsers: replace
a node by a hostile value, delete one, add one."""
from __future__ import annotations

import json

from hypothesis import strategies as st

HOSTILE = st.one_of(
    st.just("a\x00b"), st.just("\ud800"), st.just("x\udfff"), st.just(float("inf")),
    st.just(float("-inf")), st.just(10**400), st.just(-(2**63) - 1), st.just(2**63),
    st.just(2**31), st.just(True), st.just(None), st.just([]), st.just({}),
    st.just(1e300), st.just(""), st.just("not-a-uuid"),
    st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
    st.recursive(st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8),
    st.integers(40, 200).map(lambda d: json.loads("[" * d + "]" * d)),
)


def _paths(value, prefix=()):
    """Every path to a node of a decoded JSON value."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _set(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value[head], rest, new)}
    return [(_set(v, rest, new) if i == head else v) for i, v in enumerate(value)]


def _dump(value) -> bytes:
    """JSON as a hostile client would write it: inf as 1e999, huge ints as digits."""
    text = json.dumps(value, allow_nan=True)
    return text.replace("-Infinity", "-1e999").replace("Infinity", "1e999").encode()


def mutate(draw, value, how: str):
    """``value`` (decoded JSON) with one structured change at a drawn place: ``replace`` a
    node by a hostile value, ``delete`` one, or ``add`` a hostile member or item."""
    paths = list(_paths(value))
    if how == "replace":
        return _set(value, draw(st.sampled_from(paths)), draw(HOSTILE))
    if how == "delete":
        path = draw(st.sampled_from([p for p in paths if p]))
        node = value
        for step in path[:-1]:
            node = node[step]
        if isinstance(node, dict):
            del node[path[-1]]
        else:
            node.pop(path[-1])
    elif how == "add":
        node = value
        for step in draw(st.sampled_from(paths)):
            node = node[step]
        if isinstance(node, dict):
            node[draw(st.text(max_size=8))] = draw(HOSTILE)
        elif isinstance(node, list):
            node.append(draw(HOSTILE))
    return value
