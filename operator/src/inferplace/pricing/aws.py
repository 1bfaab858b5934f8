"""Live prices from AWS, through botocore and the standard credential chain (IRSA or EKS Pod Identity
in a cluster): on-demand and reserved terms from the AWS Price List Query API (`pricing:GetProducts`),
spot from EC2 `DescribeSpotPriceHistory`. Those two actions are all the IAM policy needs.

Every call has a connect and a read timeout; a failure (access denied, throttling, a timeout, a
malformed entry, a price AWS lists as 0.0000000000) is a reason in `Fetched.problems`, never an
exception past `fetch`: the caller keeps its last good prices and the snapshot fills the gaps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from inferplace.api.vocabulary import CapacityType
from inferplace.pricing.model import MAX_USD_PER_HOUR, Price

PRICING_API_REGION = "us-east-1"  # the Price List Query API answers from us-east-1 (also eu-central-1, ap-south-1)
PAGE_SIZE = 100
# The product: Linux, shared tenancy, no pre-installed software, capacity that is used (not reserved
# host capacity), as the issue of record and Karpenter's pricing provider filter it.
PRODUCT_FILTERS = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
RESERVED: dict[str, CapacityType] = {"1yr": "reserved-1y", "3yr": "reserved-3y"}
SPOT_PRODUCT = "Linux/UNIX"


@dataclass
class Fetched:
    prices: list[Price] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per failed call or unusable entry
    calls: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _usd(dimension: Mapping[str, Any]) -> float | None:
    try:
        return float(dimension["pricePerUnit"]["USD"])
    except (KeyError, TypeError, ValueError):
        return None


def _day(text: object) -> date | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).date()
    except ValueError:
        return None


def parse_price_list_entry(entry: str, wanted_region: str) -> tuple[list[Price], list[str]]:
    """Prices in one PriceList entry (a JSON document: product, terms, priceDimensions)."""
    try:
        doc = json.loads(entry)
        attrs = doc["product"]["attributes"]
        instance_type, region = str(attrs["instanceType"]), str(attrs["regionCode"])
        terms = doc.get("terms", {})
        published = str(doc.get("publicationDate", ""))
    except (ValueError, KeyError, TypeError) as exc:
        return [], [f"a PriceList entry for {wanted_region} is not the documented shape ({type(exc).__name__}): "
                    "skipped"]
    if region != wanted_region:
        return [], [f"a PriceList entry for {instance_type} is for {region}, not {wanted_region}: skipped"]
    source = f"AWS Price List Query API (pricing:GetProducts AmazonEC2, publication {published or 'undated'})"
    out: list[Price] = []
    problems: list[str] = []

    def add(kind: CapacityType, term: Mapping[str, Any], note: str) -> None:
        hourly = [d for d in (term.get("priceDimensions") or {}).values() if d.get("unit") == "Hrs"]
        usd = _usd(hourly[0]) if len(hourly) == 1 else None
        as_of = _day(term.get("effectiveDate")) or _day(published)
        if usd is None or as_of is None:
            problems.append(f"{instance_type} {region} {kind}: no hourly USD price or date in the entry: skipped")
        elif usd <= 0:
            problems.append(f"{instance_type} {region} {kind}: AWS lists {hourly[0]['pricePerUnit']['USD']} USD/h "
                            "(unavailable there): skipped")
        elif usd > MAX_USD_PER_HOUR:
            problems.append(f"{instance_type} {region} {kind}: {usd} USD/h is implausible: skipped")
        else:
            out.append(Price(instance_type, region, kind, usd, as_of, source, "aws", note))

    for term in (terms.get("OnDemand") or {}).values():
        add("on-demand", term, "Linux, shared tenancy")
    for term in (terms.get("Reserved") or {}).values():
        a = term.get("termAttributes") or {}
        kind = RESERVED.get(str(a.get("LeaseContractLength")))
        if kind and a.get("OfferingClass") == "standard" and a.get("PurchaseOption") == "No Upfront":
            add(kind, term, "Standard Reserved Instance, no upfront, Linux, shared tenancy")
    return out, problems


def _error(exc: Exception, what: str) -> str:
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{what}: {code or type(exc).__name__}: {str(exc)[:200]}"


ClientFactory = Callable[[str, str], Any]
"""(service, region) -> a botocore client; tests hand in clients with a Stubber."""


def botocore_clients(timeout_s: float = 10.0) -> ClientFactory:
    """Clients from one botocore session (the default credential chain), each call bounded by `timeout_s`."""
    import botocore.session  # type: ignore[import-untyped]  # noqa: PLC0415 - optional extra
    from botocore.config import Config  # type: ignore[import-untyped]  # noqa: PLC0415

    session = botocore.session.get_session()
    config = Config(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 2, "mode": "standard"})
    made: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in made:
            made[service, region] = session.create_client(service, region_name=region, config=config)
        return made[service, region]

    return client


def _transport_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]  # noqa: PLC0415

    return (ClientError, BotoCoreError)


def fetch(clients: ClientFactory, instance_types: Sequence[str], regions: Iterable[str], now: datetime,
          spot: bool = True) -> Fetched:
    """Every on-demand, reserved and (with `spot`) spot price AWS lists for `instance_types` in `regions`;
    spot prices are the latest at `now`."""
    errors = _transport_errors()
    out = Fetched()
    types = sorted(set(instance_types))
    for region in sorted(set(regions)):
        filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
                   {"Type": "ANY_OF", "Field": "instanceType", "Value": ",".join(types)},
                   *({"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in PRODUCT_FILTERS.items())]
        token: str | None = None
        try:
            pricing = clients("pricing", PRICING_API_REGION)
            while True:
                args: dict[str, Any] = {"ServiceCode": "AmazonEC2", "Filters": filters, "FormatVersion": "aws_v1",
                                        "MaxResults": PAGE_SIZE}
                if token:
                    args["NextToken"] = token
                page = pricing.get_products(**args)
                out.calls += 1
                for entry in page.get("PriceList", []):
                    prices, problems = parse_price_list_entry(entry, region)
                    out.prices += prices
                    out.problems += problems
                token = page.get("NextToken") or None
                if token is None:
                    break
        except errors as exc:
            out.problems.append(_error(exc, f"pricing:GetProducts for {region}"))
        if spot:
            _spot(clients, types, region, now, out, errors)
    return out


def _spot(clients: ClientFactory, types: list[str], region: str, now: datetime, out: Fetched,
          errors: tuple[type[Exception], ...]) -> None:
    latest: dict[tuple[str, str], tuple[datetime, float]] = {}  # (type, zone) -> newest (time, price)
    token: str | None = None
    try:
        ec2 = clients("ec2", region)
        while True:
            args: dict[str, Any] = {"InstanceTypes": types, "ProductDescriptions": [SPOT_PRODUCT], "StartTime": now}
            if token:
                args["NextToken"] = token
            page = ec2.describe_spot_price_history(**args)
            out.calls += 1
            for item in page.get("SpotPriceHistory", []):
                try:
                    key = (str(item["InstanceType"]), str(item["AvailabilityZone"]))
                    stamp, usd = item["Timestamp"], float(item["SpotPrice"])
                except (KeyError, TypeError, ValueError):
                    out.problems.append(f"ec2:DescribeSpotPriceHistory in {region}: an entry is not the documented "
                                        "shape: skipped")
                    continue
                if usd > 0 and (key not in latest or stamp > latest[key][0]):
                    latest[key] = (stamp, usd)
            token = page.get("NextToken") or None
            if token is None:
                break
    except errors as exc:
        out.problems.append(_error(exc, f"ec2:DescribeSpotPriceHistory in {region}"))
        return
    for instance_type in types:
        zones = {z: v for (t, z), v in latest.items() if t == instance_type}
        if not zones:
            continue
        stamp, usd = max(zones.values(), key=lambda v: v[1])  # a fleet spread over zones pays the dearest one
        low = min(v[1] for v in zones.values())
        out.prices.append(Price(instance_type, region, "spot", usd, stamp.astimezone(UTC).date(),
                                "EC2 DescribeSpotPriceHistory (Linux/UNIX)", "aws",
                                f"highest current price of {len(zones)} zone(s) (lowest {low:g}); spot prices move"))
