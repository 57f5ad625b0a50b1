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


def typed_vidlong_names() -> set:
    """The ``vidlong.x.y`` names the README's Python reaches as attributes, as a user types them: in its ```python blocks
    and its inline ``code`` (comments, ``import`` and ``from`` lines left out: those import what they name)."""
    code = re.findall(r"```python\n(.*?)```", README, re.S)
    code += re.findall(r"(?<!`)``([^`]+?)``(?!`)", re.sub(r"```.*?```", "", README, flags=re.S))
    lines = [line.split("#")[0] for snippet in code for line in snippet.splitlines()]
    return {name for line in lines if not re.match(r"\s*(from|import)\s", line)
            for name in re.findall(r"(?<![\w.])vidlong(?:\.[A-Za-z_]\w*)+", line)}


def test_every_vidlong_name_the_readmes_python_types_resolves_after_a_bare_import():
    """Each ``vidlong.x.y`` the README's Python reaches (``vidlong.parallel.enable_context_parallel(transformer)``,
    ``vidlong.schedulers.noise.initial_noise``) is there after ``import vidlong`` alone, a submodule too, not only once
    another call has imported it: the names under each submodule resolved in a fresh interpreter of their own."""
    import subprocess
    import sys

    import vidlong

    names = typed_vidlong_names()
    assert {"vidlong.load_pipeline", "vidlong.parallel.enable_context_parallel"} <= names  # the pattern finds them
    groups = {}  # the public names load on first use whatever came before (`vidlong.__getattr__`): one interpreter for all
    for name in sorted(names):
        first = name.split(".")[1]
        groups.setdefault("" if first in vidlong.__all__ else first, []).append(name)
    probe = ("import functools, sys, vidlong\n"
             "for name in sys.argv[1:]:\n"
             "    try:\n"
             "        functools.reduce(getattr, name.split('.')[1:], vidlong)\n"
             "    except AttributeError as err:\n"
             "        print(name, err)\n")
    failed = ""
    for group in groups.values():
        run = subprocess.run([sys.executable, "-c", probe, *group], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        failed += run.stdout
    assert not failed, failed
