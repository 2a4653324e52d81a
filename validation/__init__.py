"""Claims: prediction against measurement, with verdicts, figures, a results store and a report.

Importing the package registers every claim (see :mod:`validation.papers`).
"""

__version__ = "0.1.0"

from . import papers  # noqa: E402,F401  (registers the claims)
from .claims import CLAIMS, Claim, ClaimData, register, select  # noqa: E402
from .records import ClaimResult, Finding, Verdict  # noqa: E402
from .runner import report, validate  # noqa: E402
from .units import Unit, unit  # noqa: E402

__all__ = ["CLAIMS", "Claim", "ClaimData", "ClaimResult", "Finding", "Unit", "Verdict", "register", "report",
           "select", "unit", "validate", "__version__"]
