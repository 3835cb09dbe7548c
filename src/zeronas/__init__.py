"""zeronas: training-free neural architecture search."""

from . import benchmarks  # noqa: F401  (zeronas.benchmarks.load_nb201)
from .errors import UserCodeError, UserError
from .spaces import list_spaces, space

__version__ = "0.1.0"

__all__ = ["space", "list_spaces", "UserError", "UserCodeError", "__version__"]

from .proxies.base import get_proxy, list_proxies  # noqa: E402
from .scoring import Scorer, ScoreRecord, score  # noqa: E402

__all__ += ["score", "Scorer", "ScoreRecord", "get_proxy", "list_proxies"]

# The CLI's verbs as calls: zeronas.search(...), zeronas.correlate(...), zeronas.train(...),
# zeronas.export(...) and zeronas.report(...) (callable modules, so that zeronas.search.perturb and 'from
# zeronas.search import search' keep working); zeronas.bench.build(...) / .correlate(...) and
# zeronas.merge(...) as 'zeronas bench build|correlate' and 'zeronas merge'.
from . import bench, correlate, export, report, search, train  # noqa: E402
from .report import merge  # noqa: E402

__all__ += ["search", "correlate", "train", "export", "bench", "report", "merge"]
