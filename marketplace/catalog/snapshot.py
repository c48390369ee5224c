"""The bundled catalogue snapshot: the parsed shared catalogue as compact gzipped JSON.

It lets `make run` work on a machine without ../shared; `build_catalog_snapshot` regenerates it.
"""

import gzip
import json
from dataclasses import asdict
from pathlib import Path

from django.conf import settings

from .regions import RegionInfo
from .skypilot import CatalogParse, OfferRow, RowProblem

_OFFER_FIELDS = list(OfferRow.__dataclass_fields__)


def write_snapshot(parsed: CatalogParse, path: Path | None = None) -> Path:
    path = Path(path or settings.CATALOG_SNAPSHOT)
    payload = {
        "partners": parsed.partners,
        "regions": [[partner, asdict(info)] for (partner, _), info in sorted(parsed.regions.items())],
        "offer_fields": _OFFER_FIELDS,
        "offers": [[getattr(row, f) for f in _OFFER_FIELDS] for row in parsed.offers],
        "problems": [asdict(p) for p in parsed.problems],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as handle:
        json.dump(payload, handle, separators=(",", ":"))
    return path


def load_snapshot(path: Path | None = None) -> CatalogParse:
    with gzip.open(Path(path or settings.CATALOG_SNAPSHOT), "rt", encoding="utf-8") as handle:
        payload = json.load(handle)
    fields = payload["offer_fields"]
    return CatalogParse(
        partners=payload["partners"],
        regions={(partner, info["code"]): RegionInfo(**info) for partner, info in payload["regions"]},
        offers=[OfferRow(**dict(zip(fields, values, strict=True))) for values in payload["offers"]],
        problems=[RowProblem(**p) for p in payload["problems"]],
    )
