"""Sphinx configuration of the neuralcodec documentation.

Build (offline, warnings are errors), with the package installed in the environment::

    pip install ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

The pages are Markdown (MyST); the API reference is generated from the docstrings of the
installed package (autodoc, Google-style sections through napoleon).
"""

from __future__ import annotations

import neuralcodec

project = "neuralcodec"
author = "the neuralcodec authors"
copyright = "the neuralcodec authors, Apache-2.0"
release = neuralcodec.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: anchors for headings (links such as ``format.md#layout``), $...$ math, ::: fences.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "dollarmath"]

# Autodoc: members in source order, type hints in the descriptions, no imports of
# optional packages needed (onnxruntime is imported inside functions).
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Undocumented overrides (``forward`` of a module, of an autograd function) would
# otherwise show torch's own docstrings, with labels of torch's documentation.
autodoc_inherit_docstrings = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# A short name in a docstring (``:class:`CodecError```) that two modules define
# (neuralcodec.codec.errors and neuralcodec.bench.codecs) resolves to the one in the
# current module, or the first found; Sphinx warns about the ambiguity, which is not an
# error of the documentation.
suppress_warnings = ["ref.python"]

html_theme = "alabaster"
html_title = f"neuralcodec {release}"
html_theme_options = {
    "description": "Learned image compression over a bit-exact Rust rANS coder",
    "fixed_sidebar": True,
}
# No intersphinx: the build must work without a network.
