"""Entropy models: learned probability models of quantised latents, with the tables and
calls that turn latents into rANS strings and back.

- :class:`EntropyBottleneck`: a per-channel factorized density with no side information
  (Ballé et al. 2018, appendix 6.1), for the hyper-latent ``z`` or a factorized-prior
  model's ``y``.
- :class:`GaussianConditional`: a Gaussian per element whose scale (and mean) come from a
  hyperprior or context model (Ballé et al. 2018; Minnen et al. 2018), coded with a table
  of quantised scales.
- :class:`EntropyBottleneckVbr`: the bottleneck with a quantization step, for
  variable-rate models (Kamisli, Racapé, Choi, DCC 2024).

Names, arguments, state_dict keys and bitstreams match CompressAI 1.2.8's
``compressai.entropy_models`` (with :class:`GaussianMixtureConditional` and
:class:`EntropyModelVbr`). ``update()`` builds the CDF tables portably (the same
integers on every machine); ``update(method="compressai")`` builds CompressAI's. The
tables record which construction built them (``table_method``), and each coding path
refuses the other's (:func:`check_tables`): the engine path codes with portable tables,
the CompressAI-compatible path with CompressAI's, both with tables loaded from a
checkpoint.

The modules: :mod:`~neuralcodec.entropy_models.base` (the base class: quantisation, table
buffers, coding), :mod:`~neuralcodec.entropy_models.bottleneck`,
:mod:`~neuralcodec.entropy_models.gaussian`, :mod:`~neuralcodec.entropy_models.mixture`,
:mod:`~neuralcodec.entropy_models.vbr` (the models), :mod:`~neuralcodec.entropy_models.tables`
(the two table constructions), :mod:`~neuralcodec.entropy_models.paths` (the table/path
rule); :mod:`~neuralcodec.entropy_models.entropy_models` and
:mod:`~neuralcodec.entropy_models.entropy_models_vbr` are CompressAI's module paths.
"""

from neuralcodec.entropy_models.base import EntropyModel
from neuralcodec.entropy_models.bottleneck import EntropyBottleneck
from neuralcodec.entropy_models.gaussian import (
    DEFAULT_SCALE_TABLE,
    SCALES_LEVELS,
    SCALES_MAX,
    SCALES_MIN,
    GaussianConditional,
    get_scale_table,
)
from neuralcodec.entropy_models.mixture import GaussianMixtureConditional
from neuralcodec.entropy_models.paths import TABLE_METHOD_OF_PATH, TableMismatchError, bound_tables, check_tables
from neuralcodec.entropy_models.tables import STORED, TABLE_METHODS
from neuralcodec.entropy_models.vbr import EntropyBottleneckVbr, EntropyModelVbr

__all__ = [
    "DEFAULT_SCALE_TABLE",
    "SCALES_LEVELS",
    "SCALES_MAX",
    "SCALES_MIN",
    "EntropyBottleneck",
    "EntropyBottleneckVbr",
    "EntropyModel",
    "EntropyModelVbr",
    "GaussianConditional",
    "GaussianMixtureConditional",
    "STORED",
    "TABLE_METHODS",
    "TABLE_METHOD_OF_PATH",
    "TableMismatchError",
    "bound_tables",
    "check_tables",
    "get_scale_table",
]
