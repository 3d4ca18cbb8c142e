"""Build step of the layer (Makefile, not shipped): botocore's data only for the services the code
calls. `python3.13 trim_botocore.py <layer python dir> <service> ...`

botocore lists every service's directory when it creates the first client, and parses
endpoints.json (1.2 MB, every service in every partition) for each session: both are paid at
every cold start. The kept services' endpoints must resolve exactly as before, in every region
of every partition, or the build fails.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path
from typing import Any


def endpoint_prefix(service_dir: Path) -> str:
    (model,) = sorted(service_dir.glob("*/service-2.json*"))[-1:]
    raw = gzip.decompress(model.read_bytes()) if model.suffix == ".gz" else model.read_bytes()
    return str(json.loads(raw)["metadata"]["endpointPrefix"])


def resolved(endpoints: dict[str, Any], prefixes: set[str]) -> dict[tuple[str, str], Any]:
    from botocore.regions import EndpointResolver

    resolver = EndpointResolver(endpoints)
    return {
        (prefix, region): resolver.construct_endpoint(prefix, region)
        for partition in endpoints["partitions"]
        for region in partition["regions"]
        for prefix in sorted(prefixes)
    }


def main() -> None:
    layer, keep = Path(sys.argv[1]), set(sys.argv[2:])
    sys.path.insert(0, str(layer))  # botocore is pure Python: the layer's own runs here
    data = layer / "botocore" / "data"
    for service in data.iterdir():
        if service.is_dir() and service.name not in keep:
            shutil.rmtree(service)
    missing = keep - {d.name for d in data.iterdir() if d.is_dir()}
    if missing:
        raise SystemExit(f"botocore has no data for {sorted(missing)}")
    prefixes = {endpoint_prefix(data / service) for service in keep}
    endpoints = json.loads((data / "endpoints.json").read_text())
    before = resolved(endpoints, prefixes)
    for partition in endpoints["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in prefixes}
    if resolved(endpoints, prefixes) != before:
        raise SystemExit("trimmed endpoints.json resolves differently")
    (data / "endpoints.json").write_text(json.dumps(endpoints, separators=(",", ":")))


if __name__ == "__main__":
    main()
