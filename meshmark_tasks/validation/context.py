"""A process-wide ephemeral GX context with the results data source and the four validation definitions.

Building the context and loading the suites costs about a second after the GX import, so it is
done once per process, on first use (inside a task, never at DAG parse time), and reused.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
from dataclasses import dataclass
from typing import Any

from meshmark_tasks.validation.suites import (
    IMPORT_SUITE_FILE,
    PLANNED_SUITE_FILE,
    RESULTS_SUITE_FILE,
    STRUCTURE_SUITE_FILE,
    load_suite_document,
)

# GX logs hundreds of INFO lines about its own import ("Skipping registering function ...",
# "Multiple declarations of metric ...") into whatever log is active: a task's log in Airflow.
# Set before any GX import (every one in this package comes after this module); its warnings and
# errors still come through.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

DATA_SOURCE = "meshmark"
ASSET = "results"
BATCH_DEFINITION = "whole_results"


@dataclass(frozen=True)
class GxValidators:
    context: Any  # great_expectations EphemeralDataContext
    structure: Any  # ValidationDefinition of the structure suite
    rows: Any  # ValidationDefinition of the results suite
    plan: Any  # ValidationDefinition of the planned-cells suite (run on the plan, not the results)
    rows_import: Any  # ValidationDefinition of the results suite for imported runs
    structure_suite: dict[str, Any]
    rows_suite: dict[str, Any]
    plan_suite: dict[str, Any]
    rows_import_suite: dict[str, Any]


def new_context() -> Any:
    """An in-memory GX context: no files, no analytics calls, no progress bars in task logs."""
    # GX reads this when the context is created; we never send usage statistics from a benchmark run.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


@functools.lru_cache(maxsize=1)
def gx_validators() -> GxValidators:
    import great_expectations as gx

    context = new_context()
    asset = context.data_sources.add_pandas(DATA_SOURCE).add_dataframe_asset(ASSET)
    batch = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
    documents = {}
    definitions = {}
    suites = (
        ("structure", STRUCTURE_SUITE_FILE),
        ("rows", RESULTS_SUITE_FILE),
        ("plan", PLANNED_SUITE_FILE),
        ("rows_import", IMPORT_SUITE_FILE),
    )
    for key, file_name in suites:
        document = load_suite_document(file_name)
        suite = context.suites.add(gx.ExpectationSuite(**copy.deepcopy(document)))
        definitions[key] = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{document['name']}_validation", data=batch, suite=suite)
        )
        documents[key] = document
    return GxValidators(
        context=context,
        structure=definitions["structure"],
        rows=definitions["rows"],
        plan=definitions["plan"],
        rows_import=definitions["rows_import"],
        structure_suite=documents["structure"],
        rows_suite=documents["rows"],
        plan_suite=documents["plan"],
        rows_import_suite=documents["rows_import"],
    )
