"""Factur-X for business-to-business lines: the CII XML of an EN 16931 invoice passes the factur-x
library's XSD check, is embedded in a PDF/A-3 with Factur-X metadata, and carries exempt and
standard-rated VAT lines with their totals."""

import io
import re
from datetime import date
from decimal import Decimal

import facturx
import pypdf
from lxml import etree

from carnet_billing.services.facturx import (
    CREDIT_NOTE,
    FRANCHISE,
    STANDARD,
    BusinessInvoice,
    BusinessLine,
    Party,
    cii_xml,
    facturx_pdf,
)

SELLER = Party("Claire Martin", "123456789", "1 rue des Tilleuls", "69001", "Lyon")
BUYER = Party("Julien Petit", "987654321", "2 place Bellecour", "69002", "Lyon", vat_number="FR32987654321")
RETROCESSION = BusinessInvoice(
    number="F2026-000001", issued_on=date(2026, 4, 1), delivered_on=date(2026, 3, 31), due_on=date(2026, 4, 30),
    seller=SELLER, buyer=BUYER, note="Rétrocession d'honoraires, remplacement de mars 2026",
    lines=(BusinessLine("Rétrocession d'honoraires (20 % de 2 000,00 €)", Decimal("1"), 40000),
           BusinessLine("Sous-location du cabinet, mars 2026", Decimal("1"), 30000, STANDARD, Decimal("20")),
           BusinessLine("Ménage partagé", Decimal("2.5"), 1999, exemption=FRANCHISE)))
NS = {"rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
      "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}


def test_the_cii_xml_passes_the_xsd_check_of_the_en16931_profile():
    xml = cii_xml(RETROCESSION)
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
    assert facturx.get_level(etree.fromstring(xml)) == "en16931"
    root = etree.fromstring(xml)
    sums = root.find(".//ram:SpecifiedTradeSettlementHeaderMonetarySummation", NS)
    # 400,00 + 300,00 + 2.5 × 19,99 = 749,975 -> 749,98 excl. VAT; VAT 20 % of 300,00 = 60,00
    assert sums.find("ram:LineTotalAmount", NS).text == "749.98"
    assert sums.find("ram:TaxTotalAmount", NS).text == "60.00"
    assert sums.find("ram:DuePayableAmount", NS).text == "809.98"
    reasons = {e.text for e in root.iterfind(".//ram:ApplicableTradeTax/ram:ExemptionReason", NS)}
    assert reasons == {"Exonération de TVA, art. 261-4-1° du CGI", "TVA non applicable, art. 293 B du CGI"}
    assert root.find(".//ram:SellerTradeParty/ram:SpecifiedLegalOrganization/ram:ID", NS).text == "123456789"


def test_a_credit_note_references_its_invoice():
    avoir = BusinessInvoice(number="F2026-000002", issued_on=date(2026, 4, 2), delivered_on=date(2026, 3, 31),
                            due_on=date(2026, 4, 2), seller=SELLER, buyer=BUYER, type_code=CREDIT_NOTE,
                            preceding=("F2026-000001", date(2026, 4, 1)), lines=RETROCESSION.lines[:1])
    xml = cii_xml(avoir)
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml and b"F2026-000001" in xml


def test_the_factur_x_pdf_embeds_the_xml_in_a_pdf_a3(plugin_host):
    pdf = facturx_pdf(plugin_host, RETROCESSION)
    name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert name == "factur-x.xml" and xml == cii_xml(RETROCESSION)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    xmp = reader.xmp_metadata.stream.get_data().decode()
    assert re.search(r'pdfaid:part[=>"]+3', xmp) and "ConformanceLevel" in xmp and "EN 16931" in xmp
    text = re.sub(r"\s+", " ", reader.pages[0].extract_text())
    for mention in ("Facture n° F2026-000001", "Julien Petit", "SIREN n° 987654321", "749,98 €", "809,98 €",
                    "Exonération de TVA, art. 261-4-1° du CGI"):
        assert mention in text, mention
