"""GX Data Docs (static HTML) of one validation, written to a local directory.

A fresh in-memory context gets a filesystem Data Docs site rooted at the target directory, the
suites and this run's validation results (structure, results and, when a plan was given, planned
cells), and builds the site: index.html lists the validations, one page each, plus the suites.
"""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

from meshmark_tasks.validation.context import gx_validators, new_context

SITE_NAME = "meshmark"


def _site_config(target_dir: Path) -> dict[str, Any]:
    return {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(target_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }


def build_data_docs(outcome: Any, target_dir: str) -> str:
    """Write the Data Docs of `outcome` (a ValidationOutcome) to `target_dir`; return index.html's path."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    target = Path(target_dir).resolve()
    target.mkdir(parents=True, exist_ok=True)
    context = new_context()
    context.add_data_docs_site(SITE_NAME, _site_config(target))
    validators = gx_validators()
    run_time = datetime.datetime.now(datetime.UTC)
    run_id = RunIdentifier(run_name=f"meshmark-{outcome.summary['status']}", run_time=run_time)
    # The results suite the rows were validated with: the nightly one or the import variant.
    rows_suite = next(
        (
            s
            for s in (validators.rows_suite, validators.rows_import_suite)
            if s["name"] == outcome.summary["suite"]
        ),
        validators.rows_suite,
    )
    pairs = [
        (validators.structure_suite, outcome.structure_result),
        (rows_suite, outcome.validation_result),
        (validators.plan_suite, outcome.plan_result),
    ]
    for document, result in pairs:
        context.suites.add(gx.ExpectationSuite(**copy.deepcopy(document)))
        if result is None:
            continue
        suite_id = ExpectationSuiteIdentifier(name=document["name"])
        key = ValidationResultIdentifier(
            expectation_suite_identifier=suite_id, run_id=run_id, batch_identifier="results"
        )
        context.validation_results_store.store_validation_results(
            suite_validation_result=result,
            suite_validation_result_identifier=key,
            expectation_suite_identifier=suite_id,
        )
    context.build_data_docs(site_names=[SITE_NAME])
    index = target / "index.html"
    if not index.is_file():
        raise RuntimeError(f"GX did not write {index}")
    return str(index)
