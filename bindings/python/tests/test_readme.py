"""The Python snippets in bindings/python/README.md are run here verbatim."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def snippets():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_snippets():
    assert len(snippets()) >= 1


def test_readme_snippets_run():
    for code in snippets():
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
