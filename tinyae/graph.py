"""Show the graph behind a Tensor: as indented text or as Graphviz DOT."""

from __future__ import annotations

from tinyae.tensor import Tensor

__all__ = ["draw_graph", "to_dot"]


def _label(t: Tensor, names: dict[int, str]) -> str:
    name = names.get(id(t), "")
    kind = t.op or ("param" if t.requires_grad else "const")
    prefix = f"{name}: " if name else ""
    return f"{prefix}{kind} {t.shape} {t.dtype}"


def draw_graph(root: Tensor, names: dict[str, Tensor] | None = None) -> str:
    """The graph behind ``root`` as indented text, output at the top.

    Parameters
    ----------
    root : Tensor
    names : dict of str to Tensor, optional
        Labels for Tensors you want to recognise (e.g. ``{"W": W}``).

    Returns
    -------
    str
        One line per node; a node reached twice is shown once, then as ``(see above)``.

    Examples
    --------
    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> print(draw_graph((x * x).sum(), {"x": x}))
    sum () float64
      mul (2,) float64
        x: param (2,) float64
        x: param (2,) float64 (see above)
    """
    labels = {id(t): n for n, t in (names or {}).items()}
    lines: list[str] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, int]] = [(root, 0)]
    while stack:  # iterative, so deep graphs print too
        node, depth = stack.pop()
        again = id(node) in seen
        lines.append("  " * depth + _label(node, labels) + (" (see above)" if again else ""))
        if again:
            continue
        seen.add(id(node))
        for parent in reversed(node.parents):
            stack.append((parent, depth + 1))
    return "\n".join(lines)


def to_dot(root: Tensor, names: dict[str, Tensor] | None = None) -> str:
    """The graph behind ``root`` in Graphviz DOT (render with ``dot -Tpng``)."""
    labels = {id(t): n for n, t in (names or {}).items()}
    lines = ["digraph tinyae {", "  rankdir=BT;", "  node [shape=box, fontname=monospace];"]
    for node in root.topological_order():
        lines.append(f'  n{id(node)} [label="{_label(node, labels)}"];')
        for parent in node.parents:
            lines.append(f"  n{id(parent)} -> n{id(node)};")
    lines.append("}")
    return "\n".join(lines)
