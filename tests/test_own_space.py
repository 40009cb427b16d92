"""The space that docs/tutorial.md defines in section 4 keeps the whole protocol (netembed/spaces/base.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tutorial():
    """The namespace of section 4's first two blocks: the architecture type and the space."""
    text = (ROOT / "docs" / "tutorial.md").read_text()
    section = text[text.index("## 4. A space of one's own") :]
    namespace: dict = {}
    exec("\n".join(re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[:2]), namespace)  # noqa: S102
    return namespace


def test_the_tutorial_space_keeps_the_protocol(tutorial):
    from netembed.models.graph import cell_to_data, dense_cells
    from netembed.spaces import Neighbor, SpaceError, get

    space, chain = tutorial["space"], tutorial["Chain"]
    assert get("chain") is space
    every = space.enumerate()
    assert len({a.hash for a in every}) == len(every) == space.size == 1296
    rng = np.random.default_rng(0)
    for arch in [space.random(rng) for _ in range(50)] + every[:5]:
        assert space.from_json(space.to_json(arch)) == arch and chain(list(arch.ops), list(arch.skips)) == arch
        found = space.neighbors(arch)
        assert all(isinstance(n, Neighbor) and n.action.kind in space.move_kinds for n in found)
        hashes = [n.cell.hash for n in found]
        assert len(set(hashes)) == len(hashes) == 12 and arch.hash not in hashes
        assert all(arch in [m.cell for m in space.neighbors(n.cell)] for n in found)  # every move has its reverse
        types, adjacency = space.graph(arch)
        assert len(types) == space.max_nodes and not np.tril(adjacency).any()  # a DAG, edges to higher nodes
        assert types[0] == space.node_types.index("input") and types[-1] == space.node_types.index("output")
        assert cell_to_data(arch, space).num_nodes == space.max_nodes
    assert dense_cells(every[:3], "chain").x.shape == (3, space.max_nodes, len(space.node_types) + space.max_nodes)
    for bad, rule in [
        ((["conv3"] * 3, [False] * 3), "a chain has 4 ops"),
        ((["conv3"] * 4, [0] * 4), "skips[0] must be True or False, got 0"),
    ]:
        with pytest.raises(SpaceError, match=re.escape(rule)):
            chain(*bad)
    with pytest.raises(SpaceError, match="an object with 'ops' and 'skips'"):
        space.from_json({"ops": ["conv3"] * 4})
