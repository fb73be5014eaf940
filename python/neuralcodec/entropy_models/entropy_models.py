"""CompressAI's module path ``compressai.entropy_models.entropy_models``: the entropy models
and their table rule, re-exported from the modules that own them.

- :mod:`~neuralcodec.entropy_models.base`: :class:`EntropyModel` (quantisation, the table
  buffers, the calls into the rANS coder), :func:`default_entropy_coder`,
  :func:`pmf_to_quantized_cdf`;
- :mod:`~neuralcodec.entropy_models.bottleneck`: :class:`EntropyBottleneck`;
- :mod:`~neuralcodec.entropy_models.gaussian`: :class:`GaussianConditional`,
  :func:`get_scale_table`, :data:`DEFAULT_SCALE_TABLE`;
- :mod:`~neuralcodec.entropy_models.mixture`: :class:`GaussianMixtureConditional`;
- :mod:`~neuralcodec.entropy_models.tables`: the two CDF table constructions
  (:data:`TABLE_METHODS`) and :data:`STORED`;
- :mod:`~neuralcodec.entropy_models.paths`: which construction each coding path codes
  with (:func:`check_tables`, :func:`bound_tables`, :class:`TableMismatchError`).

Code written for CompressAI imports from here unchanged::

    >>> import torch
    >>> from neuralcodec.entropy_models.entropy_models import EntropyBottleneck
    >>> eb = EntropyBottleneck(2).eval()
    >>> eb.update(force=True, method="compressai")   # CompressAI's tables
    True
    >>> z = torch.tensor([[[[0.2, -3.0]], [[7.4, 1.0]]]])   # [1, 2, 1, 2]
    >>> strings = eb.compress(z)
    >>> torch.equal(eb.decompress(strings, z.shape[2:]), eb(z)[0])
    True
"""

from neuralcodec.entropy_models.base import (
    EntropyCoder,
    EntropyModel,
    default_entropy_coder,
    pmf_to_quantized_cdf,
)
from neuralcodec.entropy_models.bottleneck import EntropyBottleneck
from neuralcodec.entropy_models.gaussian import (
    DEFAULT_SCALE_TABLE,
    SCALES_LEVELS,
    SCALES_MAX,
    SCALES_MIN,
    GaussianConditional,
    ScaleTable,
    get_scale_table,
)
from neuralcodec.entropy_models.mixture import GaussianMixtureConditional
from neuralcodec.entropy_models.paths import (
    TABLE_METHOD_OF_PATH,
    TableMismatchError,
    bound_tables,
    check_tables,
)
from neuralcodec.entropy_models.tables import STORED, TABLE_METHODS

#: CompressAI's name of the entropy-coder proxy; also what models pickled before the
#: entropy models were split into modules refer to.
_EntropyCoder = EntropyCoder

__all__ = [
    "DEFAULT_SCALE_TABLE",
    "SCALES_LEVELS",
    "SCALES_MAX",
    "SCALES_MIN",
    "STORED",
    "TABLE_METHODS",
    "TABLE_METHOD_OF_PATH",
    "EntropyBottleneck",
    "EntropyModel",
    "GaussianConditional",
    "GaussianMixtureConditional",
    "ScaleTable",
    "TableMismatchError",
    "bound_tables",
    "check_tables",
    "default_entropy_coder",
    "get_scale_table",
    "pmf_to_quantized_cdf",
]
