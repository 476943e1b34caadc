"""Griffe extension of the documentation site: the reStructuredText in the package's docstrings as Markdown.

The docstrings are numpy style with Sphinx roles (``:func:`sim.run.simulate```), double back-quoted literals,
``.. math::`` blocks, ``::`` literal blocks and a few simple tables, which mkdocstrings would show verbatim. Before
rendering, this extension rewrites

* a cross-reference role into an *optional* autorefs link: a link where the target is documented on the site, plain
  code where it is not (so ``mkdocs build --strict`` never fails on a reference to an undocumented helper);
* ``:math:`x``` into ``$x$`` and a ``.. math::`` block into ``$$ ... $$`` (rendered by MathJax via arithmatex),
  the conversion :func:`sim.docs.rst_to_markdown` applies to ``docs/model.md``;
* a double back-quoted literal into a code span, a ``::`` literal block into a fenced code block and a simple
  table (``===`` borders) into a Markdown table;
* square brackets of prose into escaped ones: units (``[1/d]``) and citation keys (``[holtmaat2005]``) are text, not
  Markdown reference links.

Numpy sections (``Parameters`` and the like) are left to mkdocstrings' own parser. A stage field declared with
:func:`sim.core.params.param` and no docstring of its own gets one from its metadata (meaning, unit and source, as
in the parameter tables of ``docs/model.md``), so the stage classes list their parameters.
"""

from __future__ import annotations

import ast
import html
import re

import griffe

# The rules of sim.docs.rst_to_markdown (docs/model.md), restated here so that the site build does not import the
# package (numba, xarray, ...: ~2 s); tests/test_docs_site.py checks that both convert math alike.
_INLINE_MATH = re.compile(r":math:`([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc):`(~?)([^`<]+?)`")
_PROTECTED = re.compile(r"(<autoref .*?</autoref>|`[^`]*`|\$\$.*?\$\$|\$[^$\n]+\$)", re.S)


def _link(match: re.Match, module: str) -> str:
    short, target = match.group(1), " ".join(match.group(2).split())
    title = target.rsplit(".", 1)[-1] if short else target
    identifier = target if "." in target or not module else f"{module}.{target}"  # a bare name: of this module
    return f'<autoref identifier="{html.escape(identifier)}" optional><code>{html.escape(title)}</code></autoref>'


def _inline(text: str, module: str = "") -> str:
    text = _INLINE_MATH.sub(lambda m: f"${m.group(1)}$", text)
    text = _ROLE.sub(lambda m: _link(m, module), text)
    text = _LITERAL.sub(lambda m: f"`{m.group(1)}`", text)
    parts = _PROTECTED.split(text)
    return "".join(part if i % 2 else part.replace("[", "\\[") for i, part in enumerate(parts))


def _math_block(lines: list[str]) -> list[str]:
    body = "\n".join(line.strip() for line in lines).strip()
    if "&" in body or "\\\\" in body:
        body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
    return ["$$", body, "$$"]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], i: int, indent: int) -> tuple[list[str], int]:
    """The lines from ``i`` on that are blank or indented deeper than ``indent``."""
    block: list[str] = []
    while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
        block.append(lines[i])
        i += 1
    while block and not block[-1].strip():
        block.pop()
        i -= 1
    return block, i


def _table(rows: list[str], indent: str) -> list[str]:
    """An RST simple table (border, rows, border) as a Markdown table; a row with an empty first cell continues."""
    spans = [m.span() for m in re.finditer(r"=+", rows[0])]
    cells: list[list[str]] = []
    for row in rows[1:]:
        if re.fullmatch(r"[= ]+", row.strip()) or not row.strip():
            continue
        values = [row[a : (spans[k + 1][0] if k + 1 < len(spans) else None)].strip() for k, (a, _) in enumerate(spans)]
        if cells and not values[0]:
            cells[-1] = [f"{old} {new}".strip() for old, new in zip(cells[-1], values)]
        else:
            cells.append(values)
    header = [indent + "|" + "  |" * len(spans), indent + "|" + "---|" * len(spans)]
    return [*header, *(indent + "| " + " | ".join(_inline(c) for c in row) + " |" for row in cells)]


def to_markdown(text: str, module: str = "") -> str:
    """Rewrite the roles, literals, math, literal blocks and tables of one docstring (see the module docstring).

    A role naming a bare name (``:func:`load```) refers to ``module`` (the path of the docstring's module).
    """
    lines = text.splitlines()
    out: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        out.extend(_inline("\n".join(prose), module).split("\n") if prose else [])
        prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        pad = line[: _indent(line)]
        if line.strip() == ".. math::":
            block, i = _block(lines, i + 1, len(pad))
            flush()
            out.extend(["", *(pad + m for m in _math_block(block)), ""])
        elif line.rstrip().endswith("::") and i + 1 < len(lines) and not lines[i + 1].strip():
            block, j = _block(lines, i + 1, len(pad))
            if not block:
                prose.append(line)
                i += 1
                continue
            prose.append(line.rstrip()[:-1] if line.strip() != "::" else "")
            flush()
            code = [b[_indent(block[1]) if len(block) > 1 else 0 :] if b.strip() else "" for b in block[1:]]
            shell = all(c.startswith(("python -m", "synaprune", "$ ")) for c in code if c.strip())
            out.extend(["", f"{pad}```{'bash' if shell else 'python'}", *(pad + c for c in code), f"{pad}```", ""])
            i = j
        elif re.fullmatch(r"=+( +=+)+", line.strip()):
            end = i + 1
            while end < len(lines) and not re.fullmatch(r"=+( +=+)+", lines[end].strip()):
                end += 1
            flush()
            out.extend(["", *_table([row[len(pad) :] for row in lines[i : end + 1]], pad), ""])
            i = end + 1
        else:
            prose.append(line)
            i += 1
    flush()
    return "\n".join(out)


def param_docstring(node: ast.AST) -> str | None:
    """``long_name [units]. Source: source`` of a ``name: type = param(default, units=..., ...)`` field, else None."""
    call = getattr(node, "value", None)
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "param"):
        return None
    meta = {}
    for keyword in call.keywords:
        try:
            meta[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:  # not a literal (a name or an f-string): leave it out
            continue
    if "long_name" not in meta:
        return None
    unit = f" [{meta['units']}]" if meta.get("units") not in (None, "", "1") else ""
    source = f"\n\nSource: {meta['source']}" if meta.get("source") else ""
    return f"{meta['long_name'][:1].upper()}{meta['long_name'][1:]}{unit}.{source}"


class RstToMarkdown(griffe.Extension):
    """Convert every loaded docstring with :func:`to_markdown`; document ``param(...)`` fields from their metadata."""

    def on_attribute_instance(self, *, node: ast.AST, attr: griffe.Attribute, **kwargs) -> None:
        """Give a ``param(...)`` field without a docstring one from its metadata."""
        if attr.docstring is None and isinstance(node, ast.AST) and (text := param_docstring(node)):
            attr.docstring = griffe.Docstring(text, parent=attr)

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        """Rewrite the docstring of ``obj`` once it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value, obj.module.path)
