"""The README backs each cell of its pipelines x methods table (and its other claims) with named tests: every test it
names (``test_file::test_name``; ``::test_name``, which the README writes after its file, looked up in every file;
``test_file``; ``*`` standing for the rest of a name) is a test that exists, so that renaming or deleting one cannot
leave the README pointing at nothing; and its Python's reach into vidlong (the names it types, the arguments its calls
pass) is there."""
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
    groups = {}
    for name in sorted(names):
        first = name.split(".")[1]
        groups.setdefault("" if first in vidlong.__all__ else first, []).append(name)
    # each submodule's names first in an interpreter of their own; the public names load on first use whatever came before
    # (`vidlong.__getattr__`), so they follow the last submodule's names in its interpreter (one start-up fewer)
    public = groups.pop("", [])
    runs = [*groups.values()] or [[]]
    runs[-1] = runs[-1] + public
    probe = ("import functools, sys, vidlong\n"
             "for name in sys.argv[1:]:\n"
             "    try:\n"
             "        functools.reduce(getattr, name.split('.')[1:], vidlong)\n"
             "    except AttributeError as err:\n"
             "        print(name, err)\n")
    failed = ""
    for group in runs:
        run = subprocess.run([sys.executable, "-c", probe, *group], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        failed += run.stdout
    assert not failed, failed


def readme_python() -> list:
    """The README's Python as syntax trees: each ```python block (which must parse), and each inline code span that parses
    as Python (a call such as ``GenerateRequest(last_image=...)``, an import line)."""
    import ast

    trees = [ast.parse(block) for block in re.findall(r"```python\n(.*?)```", README, re.S)]
    for _, span in re.findall(r"(?<!`)(``?)([^`]+?)\1(?!`)", re.sub(r"```.*?```", "", README, flags=re.S)):
        try:
            trees.append(ast.parse(span.strip()))
        except SyntaxError:  # prose in code style: a flag, a path, a shape
            continue
    return trees


class VidlongCalls:
    """Resolves what a call in the README's Python calls in vidlong: ``vidlong.a.b(...)``, a name the README imports from a
    vidlong module (``generate``) or one of ``vidlong.__all__`` written bare (``DiagonalDenoising(...)``), and
    ``x.method(...)`` of a vidlong pipeline's own methods (`VidlongPipelineMixin`'s) on a name the README binds to
    ``vidlong.load_pipeline(...)`` or ``vidlong.from_pipe(...)``."""

    def __init__(self, trees: list):
        import ast
        import importlib

        import vidlong
        from vidlong.pipeline import VidlongPipelineMixin

        self.vidlong, self.mixin = vidlong, VidlongPipelineMixin
        self.names = {name: getattr(vidlong, name) for name in vidlong.__all__}
        for node in (node for tree in trees for node in ast.walk(tree)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "vidlong":
                module = importlib.import_module(node.module)
                self.names.update({alias.asname or alias.name: getattr(module, alias.name) for alias in node.names})
        loaders, self.pipelines = (vidlong.load_pipeline, vidlong.from_pipe), set()
        self.pipelines = {target.id for tree in trees for node in ast.walk(tree)
                          if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                          and self.resolve(node.value.func) in loaders
                          for target in node.targets if isinstance(target, ast.Name)}

    def resolve(self, func):
        """The callable `func` (a call's ``func`` node) names in vidlong, or None where it names none; a
        `VidlongPipelineMixin` method with its ``self`` bound, so that its signature is the one a pipeline's call binds."""
        import ast
        import functools

        chain = []
        while isinstance(func, ast.Attribute):
            chain.insert(0, func.attr)
            func = func.value
        if not isinstance(func, ast.Name):
            return None
        if func.id == "vidlong" and chain:
            return functools.reduce(getattr, chain, self.vidlong)
        if func.id in self.names:
            return functools.reduce(getattr, chain, self.names[func.id])
        if func.id in self.pipelines and len(chain) == 1 and callable(vars(self.mixin).get(chain[0])):
            return functools.partial(vars(self.mixin)[chain[0]], None)
        return None


def test_every_vidlong_call_in_the_readmes_python_takes_the_arguments_it_passes():
    """Each call of vidlong in the README's Python (its ```python blocks and inline code:
    ``vidlong.DiagonalDenoising(partitions=4, lookahead=True)``, ``generate(pipe, GenerateRequest(...), progress=...)``,
    ``pipe.stream(..., streaming=..., seconds=60)``, ``GenerateRequest(last_image=...)``) binds to the signature it calls,
    and ``pipe.stream`` / ``pipe.extend``'s further keywords are ones they take (`check_stream_arguments`): renaming a field
    or an argument cannot leave the README passing one that is gone."""
    import ast
    import inspect

    from vidlong.errors import VidlongError
    from vidlong.pipeline import VidlongPipelineMixin
    from vidlong.validate import check_stream_arguments

    trees = readme_python()
    calls = VidlongCalls(trees)
    streams = {VidlongPipelineMixin.stream: "pipe.stream", VidlongPipelineMixin.extend: "pipe.extend"}
    checked, wrong = set(), []
    for node in (node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.Call)):
        try:
            func = calls.resolve(node.func)
        except AttributeError as err:
            wrong.append(f"{ast.unparse(node)[:80]}: {err}")
            continue
        if func is None:
            continue
        checked.add(getattr(getattr(func, "func", func), "__qualname__", repr(func)))
        unpacked = any(isinstance(arg, ast.Starred) for arg in node.args)  # *args: their count is not written
        try:
            bound = inspect.signature(func).bind_partial(*[None] * (0 if unpacked else len(node.args)),
                                                         **{keyword.arg: None for keyword in node.keywords if keyword.arg})
            if getattr(func, "func", None) in streams:  # their **kwargs, as they check them
                check_stream_arguments(bound.arguments.get("kwargs", {}), streams[func.func])
        except (TypeError, VidlongError) as err:
            wrong.append(f"{ast.unparse(node)[:80]}: {err}")
    assert {"DiagonalDenoising", "GenerateRequest", "generate", "VidlongPipelineMixin.stream",
            "VidlongPipelineMixin.extend", "save_latents"} <= checked and calls.pipelines >= {"pipe", "ltx2"}
    assert not wrong, wrong


def test_the_methods_tables_configs_show_their_defaults():
    """The methods table's config column writes each config with its defaults (``vidlong.UltraViCo(alpha=0.9, ...)``,
    ``vidlong.Streaming(chunk=3, ..., seam_frames=8, ...)``): every literal keyword of a ``vidlong.X(...)`` there is X's
    field default, so that changing a default cannot leave the table showing the old one."""
    import ast
    import dataclasses

    import vidlong

    table = re.search(r"^\| method \| what it does \| config \|\n(?:\|.*\n)+", README, re.M).group(0)
    shown, wrong = 0, []
    for span in re.findall(r"`(vidlong\.\w+\(.*?\))`", table):
        call = ast.parse(span, mode="eval").body
        defaults = {field.name: field.default for field in dataclasses.fields(getattr(vidlong, call.func.attr))}
        for keyword in call.keywords:
            shown += 1
            if ast.literal_eval(keyword.value) != defaults[keyword.arg]:
                wrong.append(f"{span[:40]}: {keyword.arg}={ast.unparse(keyword.value)}, its default {defaults[keyword.arg]!r}")
    assert shown >= 20 and not wrong, wrong


def test_the_readmes_python_reads_fields_its_values_have():
    """What the README's Python reads off vidlong's values is there: a stream's or an extension's chunks (``for chunk in
    pipe.stream(...)``, ``[c.frames for c in items]`` of ``items = list(pipe.extend(...))``: `StreamChunk`'s fields),
    ``generate``'s result (``result.latents``: `GenerateResult`'s) and a pipeline's ``spec`` (``pipe.spec.temporal_ratio``:
    `ModelSpec`'s), so that renaming a field cannot leave the README reading one that is gone."""
    import ast
    import dataclasses

    from vidlong.generate import GenerateResult, generate
    from vidlong.models import ModelSpec
    from vidlong.pipeline import VidlongPipelineMixin
    from vidlong.streaming import StreamChunk

    trees = readme_python()
    calls = VidlongCalls(trees)
    nodes = [node for tree in trees for node in ast.walk(tree)]

    def streamed(value) -> bool:
        """Whether `value` is ``pipe.stream(...)`` / ``pipe.extend(...)``, or ``list(...)`` of one."""
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "list" and value.args:
            value = value.args[0]
        func = calls.resolve(value.func) if isinstance(value, ast.Call) else None
        return getattr(func, "func", None) in (VidlongPipelineMixin.stream, VidlongPipelineMixin.extend)

    streams = {target.id for node in nodes if isinstance(node, ast.Assign) and streamed(node.value)
               for target in node.targets if isinstance(target, ast.Name)}
    loops = [(node.target, node.iter) for node in nodes if isinstance(node, (ast.For, ast.comprehension))]
    kinds = {target.id: StreamChunk for target, source in loops if isinstance(target, ast.Name)
             and (streamed(source) or isinstance(source, ast.Name) and source.id in streams)}
    kinds.update({target.id: GenerateResult for node in nodes if isinstance(node, ast.Assign)
                  and isinstance(node.value, ast.Call) and calls.resolve(node.value.func) is generate
                  for target in node.targets if isinstance(target, ast.Name)})
    read, wrong = set(), []
    for node in (node for node in nodes if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute))):
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in kinds:
            kind = kinds[owner.id]
        elif isinstance(owner, ast.Attribute) and owner.attr == "spec" and getattr(owner.value, "id", None) in calls.pipelines:
            kind = ModelSpec
        else:
            continue
        read.add(f"{kind.__name__}.{node.attr}")
        if node.attr not in {field.name for field in dataclasses.fields(kind)}:
            wrong.append(f"{ast.unparse(node)}: {kind.__name__} has no field {node.attr}")
    assert not wrong, wrong
    assert {"StreamChunk.frames", "StreamChunk.index", "StreamChunk.latents", "GenerateResult.latents",
            "ModelSpec.temporal_ratio"} <= read, read  # the README still reads them: the bindings above still find them
