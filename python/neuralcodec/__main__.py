"""``python -m neuralcodec``: the same as the ``neuralcodec`` command."""

import sys

from neuralcodec.cli import main

sys.exit(main())
