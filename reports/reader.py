"""The side-by-side reader: a model's NumPy, torch and Keras sources in three aligned columns.

The alignment is derived from the code's own structure, with ``ast``, every time the reader
runs -- so it stays true when the code changes. Each file is cut into blocks::

    module docstring        key "doc"
    a run of imports        key "imports"
    NAME = ...              key "var:NAME"       (module or class level)
    def NAME                key "def:NAME"       (a method inside a class)
    class NAME              key "class:NAME"     header (decorators, docstring, attributes before
                                                 the first method) + one block per member
    # step: NAME            key "step:NAME"      a marker comment directly above a def or class
                                                 renames its block; inside a function body it
                                                 starts a sub-block of that function

Every line of a file belongs to exactly one block: comments and blank lines go with the block
below them. Blocks of the three files are aligned by key, in source order (a three-way
longest-common-subsequence over the keys, ``align``): the same key scores 3, and two
framework idioms (``ALIASES``) score less -- torch's ``forward`` is Keras's ``call``, and a
hand-written recurrent cell's ``step`` (NumPy) stands beside the ``forward`` / ``call`` that runs
the framework's built-in cell. Matched classes (and functions with step markers) are aligned
member by member; a block without a partner gets blank filler in the other columns.

Where the three files name the same step differently, the blocks do not align (each gets its
own row): renaming, or a ``# step: NAME`` marker in each file, fixes that without touching
this module.

``python -m reports show TOPIC`` prints a topic in the terminal (``show_topic``); the HTML
report embeds ``topic_html`` for every topic.
"""

from __future__ import annotations

import ast
import html
import io
import itertools
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The three columns: (framework, package directory).
COLUMNS = (("numpy", "reference_numpy"), ("torch", "impl_torch"), ("keras", "impl_tf"))
TITLES = {"numpy": "NumPy", "torch": "PyTorch", "keras": "Keras"}
#: What the reader shows for each model family (the family's own file first, then the shared
#: code its models are built on). Files missing from a package give an empty column.
TOPICS: dict[str, tuple[str, ...]] = {
    "mlp": ("mlp.py", "layers.py", "model.py"),
    "regression": ("regression.py", "model.py"),
    "cnn": ("cnn.py", "layers.py", "model.py"),
    "rnn": ("rnn.py", "recurrent.py"),
    "lstm": ("lstm.py", "recurrent.py"),
    "gru": ("gru.py", "recurrent.py"),
    "seq2seq": ("seq2seq.py", "attention.py", "embedding.py"),
}
#: Alignment scores of two different keys naming the same step in two dialects (the same key: 3).
ALIASES = {
    frozenset({"def:forward", "def:call"}): 2,        # torch nn.Module.forward == keras Layer.call
    frozenset({"def:step", "def:forward"}): 1,        # NumPy's hand-written cell step beside the
    frozenset({"def:step", "def:call"}): 1,           # layer call that runs the built-in cell
}
SAME_KEY = 3
MARKER = re.compile(r"#\s*step:\s*([A-Za-z_][\w.-]*)\s*$")


@dataclass(frozen=True)
class Block:
    """Lines ``start .. end`` (1-based, inclusive) of one file. ``children`` (a class's header and
    members, a marked function's segments) partition the same lines; their first has key "head"."""

    key: str | None
    label: str
    start: int
    end: int
    children: tuple[Block, ...] = ()


@dataclass(frozen=True)
class Row:
    """One aligned row: ``cells[c]`` is column c's line range ``(first, last)`` or None (filler)."""

    label: str
    keys: tuple[str | None, ...]            # each column's block key (None for a filler)
    cells: tuple[tuple[int, int] | None, ...]


@dataclass(frozen=True)
class Triple:
    """One file name in the three packages, aligned."""

    name: str
    paths: tuple[Path | None, ...]          # None: the package has no such file
    sources: tuple[str, ...]                # "" for a missing file
    rows: tuple[Row, ...]
    errors: tuple[str | None, ...]          # a file that does not parse is shown as one block

    def lines(self, column: int, cell: tuple[int, int]) -> list[str]:
        first, last = cell
        return self.sources[column].splitlines()[first - 1:last]


# -- cutting one file into blocks ----------------------------------------------------------


def step_markers(source: str) -> dict[int, str]:
    """``{line: name}`` of every ``# step: name`` comment (comments only, never inside strings)."""
    markers = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and (m := MARKER.fullmatch(tok.string.strip())):
                markers[tok.start[0]] = m.group(1)
    except (tokenize.TokenError, SyntaxError):
        pass
    return markers


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _is_docstring(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _describe(node: ast.stmt) -> tuple[str | None, str]:
    """(key, label) of one statement."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return f"def:{node.name}", f"def {node.name}"
    if isinstance(node, ast.ClassDef):
        return f"class:{node.name}", f"class {node.name}"
    if isinstance(node, ast.Import | ast.ImportFrom):
        return "imports", "imports"
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
        node, ast.AnnAssign) else []
    if len(targets) == 1 and isinstance(targets[0], ast.Name):
        return f"var:{targets[0].id}", targets[0].id
    return None, type(node).__name__.lower()


def _groups(body: list[ast.stmt], module: bool) -> list[tuple[str | None, str, int, int, ast.stmt | None]]:
    """Statements grouped into blocks: ``(key, label, first stmt line, last line, node)``; a run of
    imports is one group; a module's docstring is the group "doc"."""
    groups: list[tuple[str | None, str, int, int, ast.stmt | None]] = []
    for i, node in enumerate(body):
        if module and i == 0 and _is_docstring(node):
            groups.append(("doc", "module docstring", node.lineno, node.end_lineno, None))
            continue
        key, label = _describe(node)
        if key == "imports" and groups and groups[-1][0] == "imports":
            k, lab, first, _, _ = groups[-1]
            groups[-1] = (k, lab, first, node.end_lineno, None)
            continue
        groups.append((key, label, _first_line(node), node.end_lineno, node))
    return groups


def _blocks(groups, start: int, end: int, markers: dict[int, str], prefix: tuple[Block, ...] = ()) -> list[Block]:
    """Blocks for ``groups``: each runs from the line after the previous block to its own last line
    (so leading comments and blank lines belong to it); the last one runs to ``end``."""
    blocks = list(prefix)
    for n, (key, label, first, last, node) in enumerate(groups):
        b_start = blocks[-1].end + 1 if blocks else start
        b_end = end if n == len(groups) - 1 else last
        above = [markers[ln] for ln in range(b_start, first) if ln in markers]
        if above:                                   # "# step: NAME" directly above the statement
            key, label = f"step:{above[-1]}", f"{label} [step: {above[-1]}]"
        children: tuple[Block, ...] = ()
        if isinstance(node, ast.ClassDef):
            children = _class_children(node, b_start, b_end, markers)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            children = _function_steps(node, b_start, b_end, markers)
        blocks.append(Block(key, label, b_start, b_end, children))
    return blocks


def _class_children(node: ast.ClassDef, start: int, end: int, markers) -> tuple[Block, ...]:
    """The class header (decorators, ``class`` line, docstring, attributes before the first
    method) and one block per member after it."""
    body = node.body
    n_head = 0
    while n_head < len(body) and not isinstance(body[n_head], ast.FunctionDef | ast.AsyncFunctionDef
                                                | ast.ClassDef):
        n_head += 1
    members = body[n_head:]
    if not members:
        return ()
    head_end = body[n_head - 1].end_lineno if n_head else node.lineno
    head = Block("head", f"class {node.name}", start, head_end)
    return tuple(_blocks(_groups(members, module=False), start, end, markers, prefix=(head,)))


def _function_steps(node, start: int, end: int, markers) -> tuple[Block, ...]:
    """Segments of a function body cut at its ``# step: NAME`` markers (none: no children)."""
    inside = sorted(ln for ln in markers if node.lineno < ln <= node.end_lineno)
    if not inside:
        return ()
    cuts = [start, *inside, end + 1]
    blocks = [Block("head", f"def {node.name}", cuts[0], cuts[1] - 1)] if cuts[1] > cuts[0] else []
    for a, b in itertools.pairwise(cuts[1:]):
        blocks.append(Block(f"step:{markers[a]}", f"def {node.name} [step: {markers[a]}]", a, b - 1))
    return tuple(blocks)


def parse_blocks(source: str) -> list[Block]:
    """The top-level blocks of one Python source (raises SyntaxError if it does not parse)."""
    n_lines = len(source.splitlines())
    if n_lines == 0:
        return []
    tree = ast.parse(source)
    if not tree.body:
        return [Block(None, "comments", 1, n_lines)]
    return _blocks(_groups(tree.body, module=True), 1, n_lines, step_markers(source))


# -- aligning three block lists ------------------------------------------------------------


def pair_score(a: str | None, b: str | None) -> int:
    """How well two blocks' keys match: 3 the same key, an ``ALIASES`` score, else 0 (no match)."""
    if a is None or b is None:
        return 0
    if a == b:
        return SAME_KEY
    return ALIASES.get(frozenset({a, b}), 0)


def _subsets(n: int) -> list[tuple[int, ...]]:
    """Non-empty subsets of columns, the largest first (so a tie prefers aligning)."""
    subsets = [s for r in range(n, 0, -1) for s in itertools.combinations(range(n), r)]
    return subsets


def align_keys(columns: list[list[str | None]]) -> list[tuple[int | None, ...]]:
    """The best alignment of N key sequences (N <= 3 in practice): rows of indices, one per column
    (None = filler), in source order in every column, maximizing the summed pair scores of the
    keys that share a row. Keys that share a row all match pairwise (score > 0)."""
    n = len(columns)
    lengths = [len(c) for c in columns]
    subsets = _subsets(n)
    best: dict[tuple[int, ...], tuple[int, tuple[int, ...] | None]] = {}
    # dynamic programme over suffixes: best[pos] = (score of the rest, subset to take next)
    for pos in sorted(itertools.product(*(range(m + 1) for m in lengths)), key=sum, reverse=True):
        if all(p == m for p, m in zip(pos, lengths)):
            best[pos] = (0, None)
            continue
        options = []
        for sub in subsets:
            if any(pos[c] >= lengths[c] for c in sub):
                continue
            keys = [columns[c][pos[c]] for c in sub]
            scores = [pair_score(a, b) for a, b in itertools.combinations(keys, 2)]
            if any(s == 0 for s in scores):
                continue
            nxt = tuple(p + (c in sub) for c, p in enumerate(pos))
            options.append((sum(scores) + best[nxt][0], sub))
        score, sub = max(options, key=lambda o: o[0])       # max keeps the first of equal scores
        best[pos] = (score, sub)
    rows, pos = [], tuple(0 for _ in columns)
    while best[pos][1] is not None:
        sub = best[pos][1]
        rows.append(tuple(pos[c] if c in sub else None for c in range(n)))
        pos = tuple(p + (c in sub) for c, p in enumerate(pos))
    return rows


def align(columns: list[list[Block]], prefix: str = "") -> list[Row]:
    """Rows for N block lists: matched blocks share a row; matched blocks with children (classes,
    marked functions) are aligned member by member (their header rows first)."""
    rows = []
    for picks in align_keys([[b.key for b in col] for col in columns]):
        blocks = [columns[c][i] if i is not None else None for c, i in enumerate(picks)]
        first = next(b for b in blocks if b is not None)
        if sum(b is not None for b in blocks) > 1 and any(b.children for b in blocks if b):
            subs = [(list(b.children) or [Block("head", b.label, b.start, b.end)]) if b else [] for b in blocks]
            rows += align(subs, prefix=f"{prefix}{first.label} > ")
            continue
        names = " | ".join(dict.fromkeys(b.label for b in blocks if b))      # distinct, in column order
        label = prefix.removesuffix(" > ") if first.key == "head" and prefix else f"{prefix}{names}"
        rows.append(Row(label, tuple(b.key if b else None for b in blocks),
                        tuple((b.start, b.end) if b else None for b in blocks)))
    return rows


def align_sources(sources: list[str | None]) -> tuple[list[Row], list[str | None]]:
    """Align N sources (None: the file does not exist). A source that does not parse is one
    block that aligns with nothing; its error is returned beside it."""
    columns, errors = [], []
    for src in sources:
        if src is None:
            columns.append([])
            errors.append(None)
            continue
        try:
            columns.append(parse_blocks(src))
            errors.append(None)
        except SyntaxError as exc:
            n = len(src.splitlines())
            columns.append([Block(None, "unparsed file", 1, n)] if n else [])
            errors.append(f"does not parse ({exc.msg}, line {exc.lineno}): shown unaligned")
    return align(columns), errors


def triple(name: str, root: Path = ROOT) -> Triple:
    """The file ``name`` of the three packages, aligned."""
    paths = tuple((root / package / name) if (root / package / name).is_file() else None
                  for _, package in COLUMNS)
    sources = [p.read_text(encoding="utf-8") if p else None for p in paths]
    rows, errors = align_sources(sources)
    return Triple(name, paths, tuple(s or "" for s in sources), tuple(rows), tuple(errors))


def topic_files(topic: str, root: Path = ROOT) -> tuple[str, ...]:
    """The file names a topic shows: a family of ``TOPICS`` or a single file name (``weights.py``)."""
    if topic in TOPICS:
        names = TOPICS[topic]
    elif topic.endswith(".py"):
        names = (topic,)
    else:
        raise ValueError(f"unknown topic {topic!r}; expected one of {', '.join(available_topics(root))} "
                         "or a file name such as weights.py")
    present = tuple(n for n in names if any((root / pkg / n).is_file() for _, pkg in COLUMNS))
    if not present:
        raise ValueError(f"topic {topic!r}: none of {', '.join(names)} exists in "
                         f"{', '.join(pkg for _, pkg in COLUMNS)}")
    return present


def available_topics(root: Path = ROOT) -> list[str]:
    """Topics whose own (first) file exists in at least one package."""
    return [t for t, names in TOPICS.items() if any((root / pkg / names[0]).is_file() for _, pkg in COLUMNS)]


def trimmed(lines: list[str], cell: tuple[int, int]) -> tuple[int, int] | None:
    """``cell`` without the blank lines at its two ends (None if nothing else is left)."""
    first, last = cell
    while first <= last and not lines[first - 1].strip():
        first += 1
    while last >= first and not lines[last - 1].strip():
        last -= 1
    return (first, last) if first <= last else None


# -- HTML ---------------------------------------------------------------------------------


def _css_class(ttype) -> str:
    from pygments.token import STANDARD_TYPES

    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
    return STANDARD_TYPES[ttype]


def highlighted_lines(source: str) -> list[str]:
    """The source highlighted by Pygments, as one HTML string per line (spans with Pygments' short
    CSS classes; ``highlight_css`` styles them). The whole file is lexed at once, so a docstring
    split across rows is still coloured as a string."""
    from pygments.lexers import PythonLexer

    lines: list[list[str]] = [[]]
    for ttype, value in PythonLexer(stripnl=False, ensurenl=True).get_tokens(source):
        cls = _css_class(ttype)
        for i, part in enumerate(value.split("\n")):
            if i:
                lines.append([])
            if part:
                text = html.escape(part)
                lines[-1].append(f'<span class="{cls}">{text}</span>' if cls else text)
    return ["".join(parts) for parts in lines]


def highlight_css(scope: str = ".code") -> str:
    """Pygments' CSS for ``highlighted_lines``, scoped to ``scope`` (inlined into the page)."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(scope)


def _indent(line: str) -> int:
    """Where a wrapped line continues: its own indentation plus 4 (the page's CSS reads ``--i``)."""
    return min(len(line) - len(line.lstrip(" ")) + 4, 24)


def triple_html(t: Triple, frameworks=tuple(fw for fw, _ in COLUMNS)) -> str:
    """One aligned file triple as an HTML table: a header row of paths, then one row per aligned
    block, each cell the highlighted lines with their line numbers (a filler cell when absent)."""
    cols = [c for c, (fw, _) in enumerate(COLUMNS) if fw in frameworks]
    highlighted = [highlighted_lines(s) if s else [] for s in t.sources]
    raw = [s.splitlines() for s in t.sources]
    head = []
    for c in cols:
        fw, pkg = COLUMNS[c]
        where = (f"<code>{pkg}/{t.name}</code>" if t.paths[c] else f"<span class=muted>no {pkg}/{t.name}</span>")
        note = f'<div class="warn">{html.escape(t.errors[c])}</div>' if t.errors[c] else ""
        head.append(f"<th>{TITLES[fw]} {where}{note}</th>")
    body = []
    for row in t.rows:
        cells = []
        shown = [trimmed(raw[c], row.cells[c]) if row.cells[c] else None for c in cols]
        if not any(shown):
            continue
        for c, cell in zip(cols, shown):
            fw = COLUMNS[c][0]
            if cell is None:
                cells.append(f'<td class="filler" data-fw="{fw}"></td>')
                continue
            first, last = cell
            code = "".join(f'<span class="l" style="--i:{_indent(raw[c][n - 1])}ch"><span class="ln">{n}</span>'
                           f'{highlighted[c][n - 1]}\n</span>' for n in range(first, last + 1))
            cells.append(f'<td data-fw="{fw}" data-where="{TITLES[fw]} {COLUMNS[c][1]}/{t.name}:{first}-{last}">'
                         f'<pre class="code">{code}</pre></td>')
        key = next((k for k in row.keys if k), "")
        body.append(f'<tr data-key="{html.escape(key)}" title="{html.escape(row.label)}">' + "".join(cells) + "</tr>")
    return (f'<table class="sbs" data-file="{html.escape(t.name)}"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def topic_html(topic: str, root: Path = ROOT, frameworks=tuple(fw for fw, _ in COLUMNS)) -> str:
    """Every file triple of a topic, as HTML tables."""
    return "\n".join(triple_html(triple(name, root), frameworks) for name in topic_files(topic, root))


# -- terminal -----------------------------------------------------------------------------

#: Below this many columns the terminal shows the three versions one after another.
SIDE_BY_SIDE_WIDTH = 150


def plain_text(t: Triple, width: int = 100) -> str:
    """One aligned file triple as plain text: for every row, each present version under a header
    line naming its file and lines -- one column after another (for narrow terminals and pipes)."""
    out = []
    raw = [s.splitlines() for s in t.sources]
    paths = [f"{pkg}/{t.name}" for _, pkg in COLUMNS]
    out.append("=" * min(width, 100))
    out.append(f"{t.name}: " + " | ".join(p if t.paths[c] else f"(no {p})" for c, p in enumerate(paths)))
    out += [f"  note: {paths[c]} {e}" for c, e in enumerate(t.errors) if e]
    for row in t.rows:
        shown = [trimmed(raw[c], cell) if cell else None for c, cell in enumerate(row.cells)]
        if not any(shown):
            continue
        out.append("")
        out.append(f"--- {row.label} " + "-" * max(0, min(width, 100) - len(row.label) - 5))
        for c, cell in enumerate(shown):
            fw = TITLES[COLUMNS[c][0]]
            if cell is None:
                out.append(f"[{fw}] (nothing here)")
                continue
            first, last = cell
            out.append(f"[{fw}] {paths[c]}:{first}-{last}")
            out += [f"{n:4d}  {raw[c][n - 1]}" for n in range(first, last + 1)]
    return "\n".join(out)


def rich_table(t: Triple):
    """One aligned file triple as a rich Table: three columns, one table row per aligned block."""
    from rich import box
    from rich.syntax import Syntax
    from rich.table import Table

    raw = [s.splitlines() for s in t.sources]
    table = Table(box=box.SIMPLE_HEAD, show_lines=True, expand=True, padding=(0, 1))
    for c, (fw, pkg) in enumerate(COLUMNS):
        where = f"{pkg}/{t.name}" if t.paths[c] else f"(no {pkg}/{t.name})"
        table.add_column(f"{TITLES[fw]}  {where}" + (f"\n{t.errors[c]}" if t.errors[c] else ""), ratio=1,
                         overflow="fold")
    for row in t.rows:
        shown = [trimmed(raw[c], cell) if cell else None for c, cell in enumerate(row.cells)]
        if not any(shown):
            continue
        cells = []
        for c, cell in enumerate(shown):
            if cell is None:
                cells.append("")
                continue
            first, last = cell
            cells.append(Syntax("\n".join(raw[c][first - 1:last]), "python", line_numbers=True, start_line=first,
                                word_wrap=True, theme="ansi_dark", background_color="default"))
        table.add_row(*cells)
    return table


def show_topic(topic: str, plain: bool | None = None, width: int | None = None, file=None) -> None:
    """Print a topic: rich side-by-side columns on a terminal at least ``SIDE_BY_SIDE_WIDTH`` wide,
    else (or with ``plain=True``) plain text, one version after another."""
    from rich.console import Console

    console = Console(file=file, width=width, highlight=False)
    if plain is None:
        plain = not console.is_terminal or console.width < SIDE_BY_SIDE_WIDTH
    for name in topic_files(topic):
        t = triple(name)
        if plain:
            console.out(plain_text(t, console.width), highlight=False)
        else:
            console.print(rich_table(t))
