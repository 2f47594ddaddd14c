"""Great Expectations validation of the normalized results: quarantine, data-quality status, Data Docs.

Suites live as versioned GX 1.x JSON in `expectations/` and are loaded into an in-memory GX
context at run time. See docs/validation.md for every expectation and its reason text.
"""

from meshmark_tasks.validation.data_docs import build_data_docs
from meshmark_tasks.validation.structure import ValidationStructureError
from meshmark_tasks.validation.validate import ValidationOutcome, validate_results

__all__ = ["ValidationOutcome", "ValidationStructureError", "build_data_docs", "validate_results"]
