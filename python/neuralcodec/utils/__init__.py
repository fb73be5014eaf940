"""CompressAI's command-line tools (``compressai.utils``), as ``python -m neuralcodec.utils.<tool>``."""
