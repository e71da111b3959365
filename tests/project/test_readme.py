"""The README's Python example runs as written, and its GAN step really uses the model's x site."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README lost its Python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    programs = namespace["programs"]
    assert set(programs.roles) == {"model", "guide", "discriminator"}


def _settings_rows() -> dict[str, str]:
    """The README's strategy table as the registry has it: ``name -> row``."""
    import dataclasses

    from unigen.registry import STRATEGIES

    rows = {}
    for name in STRATEGIES.names():
        cls = STRATEGIES.get(name)
        settings = ", ".join(f"`{f.name}={f.default!r}`" for f in dataclasses.fields(cls)
                             if f.default is not dataclasses.MISSING) or "—"
        rows[name] = f"| `{name}` | `{cls.__name__}` | {settings} |"
    return rows


def test_readme_lists_every_strategy_with_its_settings_and_defaults():
    expected = _settings_rows()
    found = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \| `\w+` \| .*\|$", README.read_text(), re.M)}
    table = "\n".join(expected[n] for n in sorted(expected))
    assert {n: found.get(n) for n in expected} == expected, f"update README's strategy table to:\n{table}"
