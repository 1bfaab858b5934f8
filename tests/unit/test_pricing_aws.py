"""The live AWS price provider against botocore's Stubber: responses in the documented shapes
(GetProducts' PriceList JSON documents, DescribeSpotPriceHistory items), paging, and every failure:
access denied, throttling, timeouts, an unavailable 0.0000000000 price, malformed entries.
No test reaches the network: a Stubber answers before any request is sent."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from botocore.stub import ANY, Stubber

from inferplace.pricing.aws import PRODUCT_FILTERS, fetch

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _entry(instance_type: str, region: str, on_demand: str | None,
           reserved: dict[tuple[str, str, str], str] | None = None, effective: str = "2026-11-01T00:00:00Z") -> str:
    """One PriceList entry as GetProducts returns it: a JSON document, product + terms + priceDimensions."""
    sku = f"SKU{abs(hash((instance_type, region))) % 10**8:08d}"
    terms: dict[str, Any] = {}
    if on_demand is not None:
        terms["OnDemand"] = {f"{sku}.JRTCKXETXF": {
            "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "unit": "Hrs", "endRange": "Inf", "description": f"${on_demand} per On Demand Linux {instance_type}",
                "appliesTo": [], "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7", "beginRange": "0",
                "pricePerUnit": {"USD": on_demand}}},
            "sku": sku, "effectiveDate": effective, "offerTermCode": "JRTCKXETXF", "termAttributes": {}}}
    for i, ((length, klass, option), usd) in enumerate((reserved or {}).items()):
        code = f"RES{i:05d}"
        dims = {f"{sku}.{code}.HRS": {"unit": "Hrs", "pricePerUnit": {"USD": usd}, "rateCode": f"{sku}.{code}.HRS",
                                      "description": "hourly", "appliesTo": [], "beginRange": "0", "endRange": "Inf"}}
        if option != "No Upfront":
            dims[f"{sku}.{code}.UPF"] = {"unit": "Quantity", "pricePerUnit": {"USD": "1000"},
                                         "rateCode": f"{sku}.{code}.UPF", "description": "upfront", "appliesTo": []}
        terms.setdefault("Reserved", {})[f"{sku}.{code}"] = {
            "priceDimensions": dims, "sku": sku, "effectiveDate": effective, "offerTermCode": code,
            "termAttributes": {"LeaseContractLength": length, "OfferingClass": klass, "PurchaseOption": option}}
    return json.dumps({
        "product": {"productFamily": "Compute Instance", "sku": sku, "attributes": {
            "instanceType": instance_type, "regionCode": region, "operatingSystem": "Linux", "tenancy": "Shared",
            "preInstalledSw": "NA", "capacitystatus": "Used", "servicecode": "AmazonEC2"}},
        "serviceCode": "AmazonEC2", "terms": terms, "version": "20261120000000",
        "publicationDate": "2026-11-20T00:00:00Z"})


class Clients:
    """A client factory with one stubbed pricing client and one stubbed EC2 client per region."""

    def __init__(self) -> None:
        session = botocore.session.get_session()
        session.set_credentials("AKIDEXAMPLE", "secret")  # a Stubber answers before any request is signed or sent
        self.made: dict[tuple[str, str], Any] = {}
        self.stubs: dict[tuple[str, str], Stubber] = {}
        self._session = session

    def stub(self, service: str, region: str) -> Stubber:
        if (service, region) not in self.stubs:
            client = self._session.create_client(service, region_name=region)
            self.made[service, region] = client
            self.stubs[service, region] = Stubber(client)
            self.stubs[service, region].activate()
        return self.stubs[service, region]

    def __call__(self, service: str, region: str) -> Any:
        self.stub(service, region)
        return self.made[service, region]

    def done(self) -> None:
        for s in self.stubs.values():
            s.assert_no_pending_responses()


def _filters(region: str, types: str) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
            {"Type": "ANY_OF", "Field": "instanceType", "Value": types},
            *({"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in PRODUCT_FILTERS.items())]


def _products(clients: Clients, region: str, types: str, pages: list[list[str]]) -> None:
    for i, page in enumerate(pages):
        params: dict[str, Any] = {"ServiceCode": "AmazonEC2", "Filters": _filters(region, types),
                                  "FormatVersion": "aws_v1", "MaxResults": 100}
        if i:
            params["NextToken"] = f"token-{i}"
        response: dict[str, Any] = {"FormatVersion": "aws_v1", "PriceList": page}
        if i + 1 < len(pages):
            response["NextToken"] = f"token-{i + 1}"
        clients.stub("pricing", "us-east-1").add_response("get_products", response, params)


def _spot(clients: Clients, region: str, items: list[tuple[str, str, str, datetime]]) -> None:
    clients.stub("ec2", region).add_response("describe_spot_price_history", {"SpotPriceHistory": [
        {"AvailabilityZone": az, "InstanceType": t, "ProductDescription": "Linux/UNIX", "SpotPrice": usd,
         "Timestamp": ts} for t, az, usd, ts in items]},
        {"InstanceTypes": ANY, "ProductDescriptions": ["Linux/UNIX"], "StartTime": NOW})


def test_on_demand_reserved_and_spot_prices_are_read_exactly_across_pages() -> None:
    clients = Clients()
    _products(clients, "us-east-1", "g6e.12xlarge,p5.48xlarge", [
        [_entry("p5.48xlarge", "us-east-1", "55.0400000000", {
            ("1yr", "standard", "No Upfront"): "38.5280000000",
            ("3yr", "standard", "No Upfront"): "26.4190000000",
            ("1yr", "convertible", "No Upfront"): "45.0000000000",  # not a standard RI
            ("1yr", "standard", "All Upfront"): "0.0000000000"})],  # upfront: not an hourly no-upfront rate
        [_entry("g6e.12xlarge", "us-east-1", "10.4926400000")],
    ])
    _spot(clients, "us-east-1", [("p5.48xlarge", "us-east-1a", "27.100000", NOW),
                                  ("p5.48xlarge", "us-east-1b", "29.500000", NOW),
                                  ("p5.48xlarge", "us-east-1a", "26.000000", datetime(2026, 11, 30, tzinfo=UTC))])
    got = fetch(clients, ["p5.48xlarge", "g6e.12xlarge"], ["us-east-1"], NOW)
    clients.done()
    assert got.problems == [] and got.calls == 3
    table = {(p.instance_type, p.capacity_type): (p.usd_per_hour, p.as_of, p.provider) for p in got.prices}
    assert table == {
        ("p5.48xlarge", "on-demand"): (55.04, date(2026, 11, 1), "aws"),
        ("p5.48xlarge", "reserved-1y"): (38.528, date(2026, 11, 1), "aws"),
        ("p5.48xlarge", "reserved-3y"): (26.419, date(2026, 11, 1), "aws"),
        ("g6e.12xlarge", "on-demand"): (10.49264, date(2026, 11, 1), "aws"),
        # The newest price of each zone, and the dearest zone: a fleet spread over zones pays that one.
        ("p5.48xlarge", "spot"): (29.5, NOW.date(), "aws"),
    }
    spot = next(p for p in got.prices if p.capacity_type == "spot")
    assert "2 zone(s)" in spot.note and "lowest 27.1" in spot.note
    assert all(p.region == "us-east-1" for p in got.prices)


def test_an_unavailable_zero_price_and_a_malformed_entry_are_skipped_with_reasons() -> None:
    clients = Clients()
    _products(clients, "us-east-2", "p5e.48xlarge,trn2.48xlarge", [[
        _entry("trn2.48xlarge", "us-east-2", "0.0000000000"), "{not json",
        _entry("p5e.48xlarge", "us-east-2", "39.8")]])
    got = fetch(clients, ["trn2.48xlarge", "p5e.48xlarge"], ["us-east-2"], NOW, spot=False)
    assert [(p.instance_type, p.usd_per_hour) for p in got.prices] == [("p5e.48xlarge", 39.8)]
    assert any("0.0000000000 USD/h (unavailable there)" in p for p in got.problems)
    assert any("not the documented shape" in p for p in got.problems)


@pytest.mark.parametrize(("code", "status"), [("AccessDeniedException", 400), ("ThrottlingException", 400)])
def test_access_denied_or_throttling_is_a_reason_and_spot_is_still_read(code: str, status: int) -> None:
    clients = Clients()
    clients.stub("pricing", "us-east-1").add_client_error("get_products", service_error_code=code,
                                                          service_message="no", http_status_code=status)
    _spot(clients, "us-east-1", [("p5.48xlarge", "us-east-1a", "27.1", NOW)])
    got = fetch(clients, ["p5.48xlarge"], ["us-east-1"], NOW)
    assert got.problems == [f"pricing:GetProducts for us-east-1: {code}: An error occurred ({code}) when calling the "
                            "GetProducts operation: no"]
    assert [(p.capacity_type, p.usd_per_hour) for p in got.prices] == [("spot", 27.1)]


def test_a_timeout_is_a_reason_not_a_hang() -> None:
    session = botocore.session.get_session()
    session.set_credentials("AKIDEXAMPLE", "secret")
    pricing = session.create_client("pricing", region_name="us-east-1",
                                    config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    sent: list[str] = []

    def timeout(request: Any, **_: Any) -> None:  # where the HTTP request would leave: it never does
        sent.append(request.url)
        raise ReadTimeoutError(endpoint_url=request.url)

    pricing.meta.events.register("before-send.pricing.GetProducts", timeout)
    got = fetch(lambda _service, _region: pricing, ["p5.48xlarge"], ["us-east-1"], NOW, spot=False)
    assert sent and sent[0].startswith("https://api.pricing.us-east-1.amazonaws.com")
    assert got.prices == [] and got.problems[0].startswith("pricing:GetProducts for us-east-1: ReadTimeoutError")


def test_an_entry_for_another_region_is_never_used_for_this_one() -> None:
    clients = Clients()
    _products(clients, "us-west-2", "p5.48xlarge", [[_entry("p5.48xlarge", "us-east-1", "55.04")]])
    got = fetch(clients, ["p5.48xlarge"], ["us-west-2"], NOW, spot=False)
    assert got.prices == [] and "is for us-east-1, not us-west-2" in got.problems[0]
