"""The conventions table has one source, ``reports/conventions.py``: README.md holds exactly the
table rendered from it, every test it names as a pin exists, and the report page lists each
family's conventions from it."""

import pytest

from reference_numpy.cases import CASES
from reports import cli, conventions


def test_readme_table_is_the_one_rendered_from_conventions_py():
    """To update README.md: ``python -m reports conventions`` and paste its output over the table."""
    assert conventions.readme_table() == conventions.markdown_table()


@pytest.mark.parametrize("convention", conventions.CONVENTIONS, ids=lambda c: c.name)
def test_every_pinning_test_exists(convention):
    assert convention.tests, f"{convention.name}: no test pins it"
    missing = [t for t in convention.tests if not conventions.node_exists(t)]
    assert not missing, f"{convention.name}: no such test: {missing}"


def test_node_exists_refuses_what_is_not_a_test():
    """Negative control for the check above."""
    good = "parity_tests/test_conventions.py::test_loss_argument_order_differs"
    assert conventions.node_exists(good)
    for bad in ("parity_tests/test_conventions.py::test_no_such_test",
                "parity_tests/no_such_file.py::test_loss_argument_order_differs",
                "parity_tests/test_conventions.py",
                "parity_tests/test_conventions.py::NoClass::test_loss_argument_order_differs"):
        assert not conventions.node_exists(bad), bad


def test_every_convention_names_known_families_and_every_family_has_conventions():
    for c in conventions.CONVENTIONS:
        assert c.families and set(c.families) <= set(conventions.FAMILIES), c.name
        assert not any("|" in cell for cell in c.cells()), c.name      # would break the Markdown table
    for family in {case.family for case in CASES}:
        assert conventions.for_family(family), family


def test_conventions_command_prints_the_table(capsys):
    assert cli.main(["conventions"]) == 0
    assert capsys.readouterr().out.strip() == conventions.markdown_table()
    assert cli.main(["conventions", "--family", "cnn"]) == 0
    out = capsys.readouterr().out
    assert "Flatten before Dense" in out and "gate order" not in out
