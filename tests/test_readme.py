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
