"""Check that committed results pages re-render from the cache to the same text, without training anything.

``python -m unigen.experiments.check_pages`` (``make pages-check``) reads each page's ``Command:`` line, runs that
reproduction again into a temporary folder with ``--cache`` and ``$UNIGEN_CACHE_ONLY=1`` (a result missing from the
cache stops the page instead of training it: :class:`~unigen.experiments.common.CacheMiss`), with the page's
hand-written ``STEM.notes`` beside it, and compares the two pages line by line, apart from the ``Mode:`` line (its wall
time and cache counts change with every run). A page differs when the code that renders it changed after it was
written, or when its notes were pasted into the page instead of its ``.notes`` file.

Skipped, with the reason: pages whose command ran on another device (a GPU page: its cache is on that machine), pages
renamed without a rerun (their command line says so), and reproductions without a cache folder here.
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from unigen.experiments.common import CACHE_ONLY_ENV, DEFAULT_RESULTS, CacheMiss, run

COMMAND = re.compile(r"^Command: `unigen reproduce (?P<name>\S+)(?P<args>[^`]*)`(?P<rest>.*)$")


@dataclass(frozen=True)
class Command:
    """A page's ``unigen reproduce`` invocation, as its ``Command:`` line gives it."""

    name: str
    seeds: int | None
    device: str
    data: str | None
    quick: bool
    renamed: bool  # the line says the page was renamed without a rerun: its command no longer writes it


def command(page: str) -> Command | None:
    """The ``Command:`` line of a page's text, parsed; ``None`` when the page has none."""
    for line in page.splitlines():
        m = COMMAND.match(line.strip())
        if m:
            args = m["args"].split()
            opts = {a: b for a, b in zip(args, args[1:]) if a.startswith("--") and not b.startswith("--")}
            return Command(m["name"], int(opts["--seeds"]) if "--seeds" in opts else None, opts.get("--device", "cpu"),
                           opts.get("--data"), "--quick" in args, "not rerun" in m["rest"])
    return None


def differences(committed: str, rendered: str, context: int = 0) -> list[str]:
    """The lines that differ between two renderings of a page (a unified diff without its headers), the ``Mode:``
    line left out of both."""
    def body(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("Mode:")]

    diff = difflib.unified_diff(body(committed), body(rendered), lineterm="", n=context)
    return [line for line in diff if not line.startswith(("---", "+++", "@@"))]


def check(page: Path, cache: Path, device: str = "cpu") -> tuple[str, list[str]]:
    """Re-render ``page`` from ``cache``: ``("same" | "differs" | "miss" | "skip", details)``."""
    text = page.read_text(encoding="utf-8")
    cmd = command(text)
    if cmd is None:
        return "skip", ["no Command: line"]
    if cmd.renamed:
        return "skip", ["renamed without a rerun: its command writes another page"]
    if cmd.device != device:
        return "skip", [f"ran on {cmd.device}: its cache is on that machine"]
    if not (cache / cmd.name).is_dir():
        return "skip", [f"no cache folder {cache / cmd.name}"]
    with tempfile.TemporaryDirectory(prefix="unigen-pages-") as tmp:
        out = Path(tmp)
        notes = page.with_suffix(".notes")
        if notes.is_file():
            shutil.copy(notes, out / notes.name)
        before = os.environ.get(CACHE_ONLY_ENV)
        os.environ[CACHE_ONLY_ENV] = "1"  # inherited by the worker processes of a reproduction
        try:
            md = run(cmd.name, quick=cmd.quick, seeds=cmd.seeds, device=cmd.device, results=out, cache=cache,
                     data=cmd.data)
        except CacheMiss as e:
            return "miss", [str(e)]
        finally:
            if before is None:
                os.environ.pop(CACHE_ONLY_ENV, None)
            else:
                os.environ[CACHE_ONLY_ENV] = before
        if md.name != page.name:
            return "differs", [f"the command now writes {md.name}, not {page.name}"]
        lines = differences(text, md.read_text(encoding="utf-8"))
    return ("same" if not lines else "differs"), lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unigen.experiments.check_pages", description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="*", type=Path, help="pages to check (default: every NAME.md in --results)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="the pages' folder")
    parser.add_argument("--cache", type=Path, default=Path("runs/cache"), help="the reproductions' cache")
    parser.add_argument("--device", default="cpu", help="check the pages that ran on this device")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.pages if not p.is_file()]
    if missing:
        parser.error(f"no such page: {', '.join(missing)}; give results pages (e.g. experiments/results/NAME.md)")
    pages = args.pages or sorted(p for p in args.results.glob("*.md") if ".quick" not in p.name)
    bad = 0
    for page in pages:
        state, details = check(page, args.cache, args.device)
        bad += state in ("differs", "miss")
        print(f"{state:8} {page.name}" + (f": {details[0]}" if state in ("skip", "miss") else ""))
        if state == "differs":
            for line in details[:12]:
                print(f"         {line[:200]}")
    print(f"{bad} of {len(pages)} pages differ from their re-rendering or miss a cached result" if bad else
          f"every checked page of {len(pages)} re-renders from the cache to its committed text")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
