"""Turn a load-generator pod's XCom result into a CellMeasurement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from meshmark_tasks.backends.kubernetes.settings import DEFAULT_IMAGES
from meshmark_tasks.errors import ResultParseError
from meshmark_tasks.matrix import Cell
from meshmark_tasks.measurement import CellMeasurement, ResourceUsage
from meshmark_tasks.profile import Profile


def image_version(image: str) -> str | None:
    """The tag of an image reference ("fortio/fortio:1.69.4" -> "1.69.4"); None when untagged."""
    reference = image.split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def write_raw(cell: Cell, xcom_value: Any, raw_dir: Path) -> Path:
    """Keep the tool's output: a string as received, a dict (XCom already decoded it) as JSON."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    path = raw_dir / f"{cell.cell_id}.json"
    text = xcom_value if isinstance(xcom_value, str) else json.dumps(xcom_value, indent=1, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def measurement_from_xcom(
    profile: Profile,
    cell: Cell,
    xcom_value: dict[str, Any] | str | None,
    raw_dir: Path,
    resources: ResourceUsage | None,
) -> CellMeasurement:
    """Parse the pod's result; an unusable result is a failed cell (failure set), not an exception."""
    from meshmark_tasks.adapters import parse_file

    tool = profile.load_generator.tool
    if xcom_value is None or xcom_value == "" or xcom_value == {}:
        return CellMeasurement.failed(
            cell, f"the {tool} pod returned no result (empty XCom)", resources=resources, raw_format=tool
        )
    raw_path = write_raw(cell, xcom_value, Path(raw_dir))
    image = profile.load_generator.image or DEFAULT_IMAGES.get(tool, "")
    try:
        result = parse_file(
            raw_path,
            tool,
            requested_qps=cell.requested_qps,
            connections=cell.connections,
            protocol=cell.protocol,
            load_generator_version=image_version(image),
        )
    except ResultParseError as exc:
        return CellMeasurement.failed(
            cell, str(exc), resources=resources, raw_path=str(raw_path), raw_format=tool
        )
    # fortio, Nighthawk and k6 summaries carry no explicit "could not keep the rate" signal, so no
    # cell is marked saturated here: a shortfall beyond the profile's tolerance is then a bad
    # measurement, and validation quarantines it with the achieved/requested ratio as the reason.
    return CellMeasurement(
        cell=cell,
        result=result,
        resources=resources,
        raw_path=str(raw_path),
        raw_format=tool,
    )
