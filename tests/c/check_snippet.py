"""Checks that a README shows a source file verbatim.

Usage: check_snippet.py README SOURCE

The README marks the block with a line `<!-- snippet: SOURCE -->` followed
by a fenced code block; its contents must equal SOURCE exactly, so the code
a reader copies is the code the tests compile and run.
"""
import sys


def block_after(readme: str, source: str) -> str:
    lines = readme.splitlines(keepends=True)
    marker = f"<!-- snippet: {source} -->"
    for i, line in enumerate(lines):
        if line.strip() == marker:
            start = i + 1
            while start < len(lines) and not lines[start].startswith("```"):
                start += 1
            end = start + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            return "".join(lines[start + 1 : end])
    raise SystemExit(f"no `{marker}` marker followed by a code block")


def main() -> int:
    readme_path, source_path = sys.argv[1], sys.argv[2]
    with open(readme_path, encoding="utf-8") as f:
        readme = f.read()
    with open(source_path, encoding="utf-8") as f:
        source = f.read()
    shown = block_after(readme, source_path)
    if shown != source:
        a, b = shown.splitlines(), source.splitlines()
        for n, (x, y) in enumerate(zip(a + ["<end>"] * len(b), b + ["<end>"] * len(a)), 1):
            if x != y:
                print(f"{readme_path}: the snippet differs from {source_path} at line {n}:")
                print(f"  README: {x}\n  source: {y}")
                break
        return 1
    print(f"{readme_path} shows {source_path} verbatim")
    return 0


if __name__ == "__main__":
    sys.exit(main())
