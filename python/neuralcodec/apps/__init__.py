"""Applications on top of the whole library: programs that combine the codec, the
evaluation tools and the classical-codec benchmarks (``neuralcodec demo``).

This is the top layer (see ``[tool.importlinter]`` in ``pyproject.toml`` and
``docs/architecture.md``): an application may import any part of neuralcodec, and no part
of neuralcodec imports an application; the command line reaches one only by name
(:data:`neuralcodec.cli.COMMAND_MODULES`) when its command runs or its ``--help`` is built.
"""
