"""The README backs each cell of its pipelines x methods table (and its other claims) with named tests: every test it
names (``test_file::test_name``; ``::test_name``, which the README writes after its file, looked up in every file;
``test_file``; ``*`` standing for the rest of a name) is a test that exists, so that renaming or deleting one cannot
leave the README pointing at nothing."""
import fnmatch
import re
from pathlib import Path

TESTS = Path(__file__).parent
README = (TESTS.parent / "README.md").read_text()


def defined_tests() -> dict:
    """Test module name -> the names of the test functions it defines."""
    return {path.stem: set(re.findall(r"^(?:async )?def (test_\w+)", path.read_text(), re.M)) for path in TESTS.glob("test_*.py")}


def test_every_test_the_readme_names_exists():
    tests = defined_tests()
    every = set().union(*tests.values())
    named = re.findall(r"(?<![\w/.])(test_\w+)?::(test_[\w*]+)", README)
    modules = set(re.findall(r"(?<![\w/.:])(test_[a-z0-9_]+)\b(?!::|\()", README))
    assert len(named) > 100 and modules  # the pattern still finds the table's references
    missing = [f"{module}::{name}" for module, name in named
               if not any(fnmatch.fnmatch(test, name) for test in (tests.get(module, ()) if module else every))]
    missing += [module for module in modules if module not in tests and not any(fnmatch.fnmatch(t, module) for t in every)]
    assert not missing, f"the README names tests that do not exist: {missing}"


def cells(row: str) -> int:
    """The cells of a Markdown table row as GitHub renders it: every ``|`` not escaped as ``\\|`` splits cells, inside a
    code span too."""
    return len(re.findall(r"(?<!\\)\|", row.strip().strip("|"))) + 1


def test_every_table_row_is_one_line_with_its_headers_cells():
    """A table runs to the next blank line, each line a row: a row with more cells than its header loses the rest when
    rendered, its cells sliding into the wrong columns (the Mochi and Kandinsky 5 rows' ``ultravico|freelong|both``
    showed their extension column as "refused"), and a row wrapped over several lines is several rows."""
    wrong = []
    for block in re.split(r"\n\s*\n", README):
        lines = block.strip("\n").splitlines()
        if len(lines) < 2 or not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[1].strip()):
            continue
        header = cells(lines[0])
        wrong += [f"{line[:60]}: {cells(line)} cells, its header {header}" for line in lines[2:]
                  if not line.startswith("|") or cells(line) != header]
    assert not wrong, wrong
