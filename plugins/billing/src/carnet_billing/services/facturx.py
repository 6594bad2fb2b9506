"""Factur-X for business-to-business lines (sub-letting a room, fee retrocession to a remplaçant):
a PDF/A-3 whose embedded XML (`factur-x.xml`, UN/CEFACT CII) follows the EN 16931 profile.

The XML is built by the `factur-x` library (Akretion's reference implementation, the one French
accounting software uses) from the EN 16931 business terms (BT-/BG- numbers), and checked against
the official XSD (and its basic rules) as it is built; the visible page is rendered like every
billing document (`render_pdf`, `billing/pdf/business.html`) and the library embeds the XML with
the Factur-X XMP metadata (`generate_from_binary`). Amounts are `Decimal` and cents here; the
library takes floats for monetary fields, converted at that boundary only (two decimals, exact).

VAT: care is exempt (art. 261-4-1° of the CGI), and so is a retrocession of care fees; sub-letting
may bear VAT at the standard rate, or none under the franchise (art. 293 B of the CGI). Each line
carries its EN 16931 category: `S` standard with its rate, `E` exempt with its reason.

Not yet here: storing business invoices with their own number series and a page to issue them
(see CHANGELOG); this module builds and checks the documents from an invoice's data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from carnet_billing.money import euros
from carnet_core.plugin_api import render_pdf

STANDARD, EXEMPT = "S", "E"
CARE_EXEMPTION = "Exonération de TVA, art. 261-4-1° du CGI"
FRANCHISE = "TVA non applicable, art. 293 B du CGI"
INVOICE, CREDIT_NOTE = "380", "381"  # UNTDID 1001
PROFILE = "en16931"


@dataclass(frozen=True)
class Party:
    """A seller or buyer: name, SIREN (legal identifier, scheme 0002), optional VAT number, address."""

    name: str
    siren: str
    address: str
    postcode: str
    city: str
    vat_number: str = ""
    country: str = "FR"


@dataclass(frozen=True)
class BusinessLine:
    label: str
    quantity: Decimal
    unit_cents: int
    vat_category: str = EXEMPT
    vat_rate: Decimal = Decimal("0")
    exemption: str = CARE_EXEMPTION

    @property
    def net_cents(self) -> int:
        return int((self.quantity * self.unit_cents).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class BusinessInvoice:
    number: str
    issued_on: date
    delivered_on: date
    due_on: date
    seller: Party
    buyer: Party
    lines: tuple[BusinessLine, ...]
    type_code: str = INVOICE
    note: str = ""
    preceding: tuple[str, date] | None = None  # a credit note's invoice: number, date
    extra: dict[str, Any] = field(default_factory=dict)

    def breakdown(self) -> list[tuple[str, Decimal, str, int, int]]:
        """VAT per (category, rate, reason): taxable cents and tax cents, rounded per group."""
        groups: dict[tuple[str, Decimal, str], int] = {}
        for line in self.lines:
            key = (line.vat_category, line.vat_rate, "" if line.vat_category == STANDARD else line.exemption)
            groups[key] = groups.get(key, 0) + line.net_cents
        return [(cat, rate, reason, base, int((base * rate / 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP)))
                for (cat, rate, reason), base in sorted(groups.items())]

    @property
    def net_cents(self) -> int:
        return sum(line.net_cents for line in self.lines)

    @property
    def tax_cents(self) -> int:
        return sum(group[4] for group in self.breakdown())


def _money(cents: int) -> float:
    return float(Decimal(cents) / 100)  # the library's monetary type (2 decimals: exact)


def _party(party: Party, seller: bool) -> dict[str, Any]:
    values: dict[str, Any] = {"name": party.name, "legal_identifier": party.siren, "legal_identifier_schemeid": "0002",
                              "addr_l1": party.address, "postcode": party.postcode, "city": party.city,
                              "country_code": party.country}
    if party.vat_number:
        values["vat_identifier"] = party.vat_number
    return values


def data_dict(invoice: BusinessInvoice) -> dict[str, Any]:
    """The invoice as EN 16931 business terms (the library's input)."""
    lines = [{"BT-126": str(n), "BT-153": line.label, "BT-129": float(line.quantity), "BT-130": "C62",
              "BT-146": _money(line.unit_cents), "BT-131": _money(line.net_cents), "BT-151": line.vat_category,
              "BT-152": float(line.vat_rate)} for n, line in enumerate(invoice.lines, start=1)]
    vat = []
    for category, rate, reason, base, tax in invoice.breakdown():
        group: dict[str, Any] = {"BT-116": _money(base), "BT-117": _money(tax), "BT-118": category,
                                 "BT-119": float(rate)}
        if reason:
            group["BT-120"] = reason
        vat.append(group)
    total = invoice.net_cents + invoice.tax_cents
    values: dict[str, Any] = {
        "BT-1": invoice.number, "BT-2": invoice.issued_on, "BT-3": invoice.type_code, "BT-5": "EUR",
        "BT-9": invoice.due_on, "BT-72": invoice.delivered_on,
        "BG-4": _party(invoice.seller, True), "BG-7": _party(invoice.buyer, False),
        "BG-25": lines, "BG-23": vat,
        "BT-106": _money(invoice.net_cents), "BT-109": _money(invoice.net_cents),
        "BT-110": _money(invoice.tax_cents), "BT-112": _money(total), "BT-115": _money(total),
    }
    if invoice.note:
        values["BG-1"] = [{"BT-22": invoice.note}]
    if invoice.preceding:
        values["BG-3"] = [{"BT-25": invoice.preceding[0], "BT-26": invoice.preceding[1]}]
    return values


def cii_xml(invoice: BusinessInvoice) -> bytes:
    """The CII XML of the invoice (EN 16931 profile), checked against the XSD as it is built."""
    import facturx

    return facturx.generate_cii_xml(data_dict(invoice), level=PROFILE, check_xsd=True,  # type: ignore[no-any-return]
                                    check_schematron=False)  # the schematron needs a Saxon server


def facturx_pdf(host: Any, invoice: BusinessInvoice) -> bytes:
    """The invoice as Factur-X: its PDF/A-3 page with the CII XML embedded (`factur-x.xml`)."""
    import facturx

    xml = cii_xml(invoice)
    created = datetime(invoice.issued_on.year, invoice.issued_on.month, invoice.issued_on.day, tzinfo=UTC)
    title = ("Avoir n° " if invoice.type_code == CREDIT_NOTE else "Facture n° ") + invoice.number
    page = render_pdf(host, "billing/pdf/business.html",
                      {"invoice": invoice, "euros": euros, "breakdown": invoice.breakdown(),
                       "total_cents": invoice.net_cents + invoice.tax_cents, "STANDARD": STANDARD},
                      title=title, created=created)
    return facturx.generate_from_binary(page, xml, flavor="factur-x", level=PROFILE, check_xsd=False,  # type: ignore[no-any-return]
                                        pdf_metadata={"author": invoice.seller.name, "keywords": "Factur-X",
                                                      "title": title, "subject": title}, lang="fr-FR")
