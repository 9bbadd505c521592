"""The side-by-side reader (``reports/reader.py``): the alignment follows the code's structure.

On a tiny synthetic triple every rule is pinned (docstring beside docstring, imports, class
beside class, methods by name, ``forward`` beside ``call``, ``# step:`` markers above a def and
inside a body, blank filler for a block without a partner); on the real files, the LSTM triple's
``forward`` / ``call`` stand on one row beside NumPy's ``step``, and every file of every topic is
shown completely, each line exactly once, in order. The triples themselves read as one text: every
model class names its steps alike in the three files (``logits``, ``forward`` / ``call``,
``objective``; NumPy's backward passes have no partner), and the reader puts those steps on one row.
"""

import ast
import io
import textwrap

import pytest

from reports import cli, reader

NUMPY = textwrap.dedent('''\
    """NumPy doc."""

    import numpy as np


    class Net:
        """The net."""

        size = 3

        def __init__(self):
            self.w = 1

        def forward(self, x):
            # step: affine
            u = x * self.w
            # step: act
            return np.tanh(u)

        def backward(self, d):
            return d


    # step: project
    def head_np(x):
        return x


    def helper():
        return 0
    ''')

TORCH = textwrap.dedent('''\
    """torch doc."""

    import torch


    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()

        def extra(self):
            return 1

        def forward(self, x):
            # step: affine
            u = x * 2
            # step: act
            return torch.tanh(u)


    # step: project
    def head(x):
        return x
    ''')

KERAS = textwrap.dedent('''\
    """Keras doc."""

    import keras


    class Net(keras.Model):
        def __init__(self):
            super().__init__()

        def call(self, x):
            # step: act
            return keras.ops.tanh(x)
    ''')


def line_of(source: str, text: str) -> int:
    """The 1-based line number of the (unique) line containing ``text``."""
    hits = [i for i, line in enumerate(source.splitlines(), 1) if text in line]
    assert len(hits) == 1, (text, hits)
    return hits[0]


def row_with(rows, column: int, line: int):
    """The row whose cell in ``column`` holds ``line``."""
    found = [r for r in rows if r.cells[column] and r.cells[column][0] <= line <= r.cells[column][1]]
    assert len(found) == 1, (column, line, found)
    return found[0]


def assert_partition(rows, sources):
    """Every column shows every line of its source exactly once, in source order."""
    for c, src in enumerate(sources):
        cells = [r.cells[c] for r in rows if r.cells[c]]
        n = len(src.splitlines()) if src else 0
        covered = [line for first, last in cells for line in range(first, last + 1)]
        assert covered == list(range(1, n + 1)), (c, cells)


def test_synthetic_triple_aligns_by_structure():
    sources = [NUMPY, TORCH, KERAS]
    rows, errors = reader.align_sources(sources)
    assert errors == [None, None, None]
    assert_partition(rows, sources)
    # docstring beside docstring, imports beside imports: the first two rows, in all three
    assert rows[0].keys == ("doc", "doc", "doc") and rows[0].cells[0][0] == 1
    assert rows[1].keys == ("imports",) * 3
    # the class header (with NumPy's docstring and attribute) beside the other headers
    head = row_with(rows, 0, line_of(NUMPY, "class Net:"))
    assert head.cells[1][0] <= line_of(TORCH, "class Net(") <= head.cells[1][1]
    assert head.cells[2][0] <= line_of(KERAS, "class Net(") <= head.cells[2][1]
    assert head.cells[0][1] >= line_of(NUMPY, "size = 3")
    # methods by name; forward beside call; matched functions split at their step markers
    init = row_with(rows, 0, line_of(NUMPY, "def __init__"))
    assert all(init.cells) and init.keys == ("def:__init__",) * 3
    affine = row_with(rows, 0, line_of(NUMPY, "u = x * self.w"))
    assert affine.cells[1][0] <= line_of(TORCH, "u = x * 2") <= affine.cells[1][1]
    assert affine.cells[2] is None                              # Keras has no affine step
    act = row_with(rows, 0, line_of(NUMPY, "return np.tanh(u)"))
    assert act.keys == ("step:act",) * 3
    assert act.cells[1][0] <= line_of(TORCH, "return torch.tanh(u)") <= act.cells[1][1]
    assert act.cells[2][0] <= line_of(KERAS, "return keras.ops.tanh(x)") <= act.cells[2][1]
    heads = row_with(rows, 0, line_of(NUMPY, "def forward"))
    assert heads.cells[1][0] <= line_of(TORCH, "def forward") <= heads.cells[1][1]
    assert heads.cells[2][0] <= line_of(KERAS, "def call") <= heads.cells[2][1]
    # a marker above a def renames it: head_np (NumPy) beside head (torch)
    project = row_with(rows, 0, line_of(NUMPY, "def head_np"))
    assert project.keys[:2] == ("step:project", "step:project")
    assert project.cells[1][0] <= line_of(TORCH, "def head(x)") <= project.cells[1][1]
    # blocks without a partner get filler in the other columns
    for source, column, text in ((NUMPY, 0, "def backward"), (TORCH, 1, "def extra"), (NUMPY, 0, "def helper")):
        row = row_with(rows, column, line_of(source, text))
        assert sum(cell is not None for cell in row.cells) == 1, row


def test_source_order_is_kept_even_when_names_cross():
    """A name that appears in a different order cannot be aligned without reordering a file;
    the alignment keeps every column in source order and aligns what it can."""
    a = "def f():\n    pass\n\n\ndef g():\n    pass\n"
    b = "def g():\n    pass\n\n\ndef f():\n    pass\n"
    rows, _ = reader.align_sources([a, b, None])
    assert_partition(rows, [a, b, ""])
    matched = [r for r in rows if r.cells[0] and r.cells[1]]
    assert len(matched) == 1


def test_a_file_that_does_not_parse_is_shown_whole_and_unaligned():
    broken = "def f(:\n    pass\n"
    rows, errors = reader.align_sources([NUMPY, broken, None])
    assert errors[0] is None and errors[2] is None and "does not parse" in errors[1]
    assert_partition(rows, [NUMPY, broken, ""])
    assert [r.cells[1] for r in rows if r.cells[1]] == [(1, 2)]


def test_real_lstm_triple_aligns_forward_call_and_the_numpy_step():
    t = reader.triple("lstm.py")
    assert t.errors == (None, None, None)
    assert_partition(t.rows, t.sources)
    numpy_src, torch_src, keras_src = t.sources

    def def_line(source, cls, name):
        node = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == cls)
        return next(m.lineno for m in node.body if isinstance(m, ast.FunctionDef) and m.name == name)

    row = row_with(t.rows, 1, def_line(torch_src, "LSTM", "forward"))
    assert row.cells[2][0] <= def_line(keras_src, "LSTM", "call") <= row.cells[2][1]
    assert row.cells[0][0] <= def_line(numpy_src, "LSTM", "step") <= row.cells[0][1]
    assert t.rows[0].keys == ("doc", "doc", "doc")
    header = row_with(t.rows, 0, line_of(numpy_src, "class LSTM("))
    assert all(header.cells)


@pytest.mark.parametrize("topic", reader.available_topics())
def test_every_topic_shows_every_line_of_its_files_once(topic):
    for name in reader.topic_files(topic):
        t = reader.triple(name)
        assert_partition(t.rows, t.sources)
        assert any(p is not None for p in t.paths)


def test_html_rows_carry_the_same_lines_as_the_alignment():
    t = reader.triple("lstm.py")
    page = reader.triple_html(t)
    assert page.count("<tr data-key=") == sum(
        1 for r in t.rows if any(reader.trimmed(s.splitlines(), c) for s, c in zip(t.sources, r.cells) if c))
    assert 'data-key="def:step"' in page and page.count('class="filler"') >= 1
    assert '<span class="ln">' in page and "<script" not in page


def test_show_plain_prints_each_version_after_another(capsys):
    assert cli.main(["show", "lstm", "--plain"]) == 0
    out = capsys.readouterr().out
    for path in ("reference_numpy/lstm.py", "impl_torch/lstm.py", "impl_tf/lstm.py"):
        assert path in out
    label = next(line for line in out.splitlines() if "def step | def forward | def call" in line)
    assert label.startswith("--- class LSTM")


def test_show_side_by_side_puts_forward_and_call_on_one_line():
    buffer = io.StringIO()
    reader.show_topic("lstm", plain=False, width=200, file=buffer)
    lines = buffer.getvalue().splitlines()
    assert any("def step(" in line and "def forward(" in line and "def call(" in line for line in lines)


def test_show_help_and_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["show", "--help"])
    assert exc.value.code == 0
    help_text = capsys.readouterr().out
    assert "--plain" in help_text and "TOPIC" in help_text and "ast" in help_text
    with pytest.raises(SystemExit) as exc:
        cli.main(["show", "no_such_family"])
    assert exc.value.code == 2
    assert "unknown topic 'no_such_family'" in capsys.readouterr().err
    assert cli.main(["show"]) == 0
    assert "lstm" in capsys.readouterr().out


# -- the real triples read as one text: the same step under the same name -------------------------

#: The model classes (and the dense stack they share) whose public methods must agree across the three
#: files of a topic. NumPy's backward passes (``*backward``: ``logits_backward``, ``objective_backward``,
#: the output's VJP ``backward``, ``features_backward``, ...) have no partner by design (autograd and
#: GradientTape compute them); torch's and Keras's ``run`` returns what NumPy's cache carries beside the
#: logits (the recurrent net's final state, seq2seq's attention weights), so NumPy has no ``run``.
MODEL_CLASSES = {"Model", "MLP", "CNN", "RecurrentNet", "LinearRegression", "PolynomialRegression", "Seq2Seq",
                 "DenseStack"}
FRAMEWORK_ONLY = {"run"}
#: Framework idioms for the same step: Keras's ``call`` is torch's ``forward``.
IDIOM = {"call": "forward"}


def public_methods(source: str) -> dict[str, dict[str, int]]:
    """``{class: {method: line}}`` of the top-level classes of a source (no ``_private`` methods)."""
    return {node.name: {m.name: m.lineno for m in node.body
                        if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")}
            for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}


def model_classes(topic):
    """``(file, class, (numpy, torch, keras) methods)`` of every model class a topic shows in all three."""
    for name in reader.topic_files(topic):
        t = reader.triple(name)
        classes = [public_methods(s) for s in t.sources]
        for cls in MODEL_CLASSES.intersection(*classes):
            yield t, cls, tuple(c[cls] for c in classes)


def test_every_model_class_is_checked_somewhere():
    """The name checks below cannot pass by finding nothing: every model class stands in all three
    files of some topic."""
    seen = {cls for topic in reader.available_topics() for _, cls, _ in model_classes(topic)}
    assert seen == MODEL_CLASSES


@pytest.mark.parametrize("topic", reader.available_topics())
def test_model_classes_name_their_steps_alike_in_the_three_files(topic):
    for t, cls, (numpy_m, torch_m, keras_m) in model_classes(topic):
        steps_np = {n for n in numpy_m if not n.endswith("backward")}
        steps_torch = set(torch_m) - FRAMEWORK_ONLY
        steps_keras = {IDIOM.get(n, n) for n in keras_m} - FRAMEWORK_ONLY
        assert set(torch_m) == {IDIOM.get(n, n) for n in keras_m}, (t.name, cls, "torch vs Keras")
        assert steps_np == steps_torch == steps_keras, (t.name, cls, steps_np, steps_torch, steps_keras)


@pytest.mark.parametrize("topic", reader.available_topics())
def test_the_reader_puts_logits_forward_and_objective_on_one_row(topic):
    """For every model class, the row that shows NumPy's ``logits`` / ``forward`` / ``objective``
    shows torch's method of the same name and Keras's (``call`` for ``forward``) beside it."""
    checked = 0
    for t, cls, methods in model_classes(topic):
        for step in ("logits", "forward", "objective"):
            if step not in methods[0]:
                continue
            names = (step, step, "call" if step == "forward" else step)
            lines = [m[n] for m, n in zip(methods, names)]
            row = row_with(t.rows, 0, lines[0])
            for c in (1, 2):
                assert row.cells[c] and row.cells[c][0] <= lines[c] <= row.cells[c][1], (t.name, cls, step, row)
            checked += 1
    assert checked or topic not in reader.TOPICS
