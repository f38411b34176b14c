"""The lock-order manifest: the lock-class edges an exploration saw, as a checked-in file.

The kernel documents its lock order in comments ("ioas->mutex must be held ...", "Lock
order: ..."); the manifest is that order written declaratively, one lockdep dependency a
line::

    &ioas->mutex -> &igroup->lock  # iommufd_hw_pagetable_attach (device.c:172) [idev1: ...]

``A -> B`` means B was acquired while A was held (lockdep's direct edges, trylock out-edges
included); the comment is where B was first acquired so, and in which scenario. Lines are
sorted; comments and blank lines are ignored when reading. A fresh exploration that takes an
edge the manifest does not list has changed the lock order: `new_edges` names each such
edge and where it was taken, and the pytest plugin fails on it. An edge the manifest lists
that no exhaustive exploration takes any more is stale (`stale_edges`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from attrs import frozen

from lockstep.scheduler import ExploreResult


class ManifestError(ValueError):
    """A manifest line that is not ``A -> B``."""


@frozen
class OrderEdge:
    """One dependency of the manifest, with the first place it was taken."""

    prev: str
    next: str
    scenario: str
    site: str

    @property
    def pair(self) -> tuple[str, str]:
        return (self.prev, self.next)

    def line(self) -> str:
        return f"{self.prev} -> {self.next}  # {self.site} ({self.scenario})"


def collect(results: Iterable[ExploreResult]) -> list[OrderEdge]:
    """Every class edge of the explorations, first sighting kept, sorted by class names."""
    seen: dict[tuple[str, str], OrderEdge] = {}
    for result in results:
        for edge in result.edges:
            where = str(edge.next_site) if edge.next_site is not None else "?"
            seen.setdefault(
                (edge.prev, edge.next), OrderEdge(edge.prev, edge.next, result.scenario, where)
            )
    return [seen[pair] for pair in sorted(seen)]


def header(command: str) -> str:
    """The header of a manifest: the command that wrote it."""
    return f"lock order (lockdep class edges) seen by:\n  {command}"


def render(edges: Iterable[OrderEdge], header: str = "") -> str:
    """The manifest text: an optional ``#`` header, then one edge a line."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [edge.line() for edge in edges]
    return "\n".join(lines) + "\n"


def parse(text: str, source: str = "manifest") -> set[tuple[str, str]]:
    """The edges of a manifest text; `ManifestError` names the first bad line."""
    pairs: set[tuple[str, str]] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(" -> ")
        if len(parts) != 2 or not all(p and " " not in p for p in parts):
            raise ManifestError(f"{source}:{number}: expected 'CLASS -> CLASS', got {raw!r}")
        pairs.add((parts[0], parts[1]))
    return pairs


def load(path: str | Path) -> set[tuple[str, str]]:
    """The edges of the manifest file at ``path``."""
    path = Path(path)
    return parse(path.read_text(encoding="utf-8"), str(path))


def new_edges(edges: Iterable[OrderEdge], manifest: set[tuple[str, str]]) -> list[OrderEdge]:
    """The edges the manifest does not allow."""
    return [edge for edge in edges if edge.pair not in manifest]


def stale_edges(
    edges: Iterable[OrderEdge], manifest: set[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The manifest's edges no exploration took (sorted): an order the code may have lost,
    or one that explorations which did not exhaust never reached."""
    taken = {edge.pair for edge in edges}
    return sorted(manifest - taken)
