"""Sphinx configuration of unigen's site (``make docs``: ``sphinx-build -W --keep-going -b html docs docs/_build/html``).

Sphinx, because unigen's docstrings are reST with ``:math:`` and ``:param:`` already (autodoc renders them as
they are), and sphinx-gallery runs the tutorial scripts during the build and embeds their figures. Pages are
MyST Markdown. ``_ext/unigen_docs.py`` writes the pages read off the code (API, CLI, results) into
``generated/`` before anything is read.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import unigen  # noqa: E402
from unigen_docs import has_gallery  # noqa: E402

project = "unigen"
author = "the unigen authors"
copyright = "the unigen authors"
release = version = unigen.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "unigen_docs",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "tutorials", "generated/cli.md", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# MyST: labels `(name)=`, `{ref}` roles, `$…$` and `$$…$$` maths, `:::` fences, definition lists
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
# quotes and ellipses made typographic, dashes not: `--out` in a help text stays two hyphens
smartquotes_action = "qe"

# autodoc: signatures without types (they are in the settings tables and the descriptions); members as written
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_member_order = "bysource"
autodoc_class_signature = "mixed"
napoleon_google_docstring = False
napoleon_numpy_docstring = True
# A local MathJax for a machine without the network (e.g. Debian's libjs-mathjax); the default is the CDN's.
if os.environ.get("UNIGEN_DOCS_MATHJAX"):
    mathjax_path = os.environ["UNIGEN_DOCS_MATHJAX"]
    if "MathJax.js" in mathjax_path:  # MathJax 2 (Debian's): maths only inside the elements MyST marks as such
        mathjax2_config = {"tex2jax": {"processClass": "tex2jax_process|mathjax_process|math|output_area",
                                       "ignoreClass": "tex2jax_ignore|mathjax_ignore"}}

# The tutorials: every docs/tutorials/plot_*.py runs during the build, its figures embedded. The site shows their
# full runs: UNIGEN_DOCS_QUICK, with which tests/docs shortens them, is not set here (set it by hand for a quick look).
if has_gallery(DOCS):
    extensions.append("sphinx_gallery.gen_gallery")
    sphinx_gallery_conf = {
        "examples_dirs": "tutorials",
        "gallery_dirs": "generated/tutorials",
        "filename_pattern": r"/plot_",
        "plot_gallery": "True",
        "download_all_examples": False,
        "remove_config_comments": True,
        "within_subsection_order": "sphinx_gallery.sorting.FileNameSortKey",
        "show_memory": False,
        "write_computation_times": False,
        "matplotlib_animations": False,
        "capture_repr": (),  # printed output only: no reprs of a cell's last value (a Legend, a Text)
    }

html_theme = "furo"
html_title = f"unigen {release}"
html_static_path = ["_static"]
html_css_files = ["unigen.css"]
html_show_sourcelink = False
html_theme_options = {"navigation_with_keys": True}
