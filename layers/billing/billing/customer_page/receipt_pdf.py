"""A receipt as PDF (fpdf2), from the same content as its HTML page (`render.receipt_document`).

fpdf2's built-in fonts cover Latin-1 only; Lithuanian needs more (ą, č, ę, ė, į, š, ų, ū, ž), so
the DejaVu Sans font ships with the package (fonts/, Bitstream Vera licence). fpdf2 is imported
here only, when a PDF is asked for: no other request pays for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FONTS = Path(__file__).parent / "fonts"


def receipt_pdf(document: dict[str, Any]) -> bytes:
    """`document`: `render.receipt_document` (its fields and table labels in the document's language)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(document["title"])
    pdf.set_author(document["merchant_name"])
    pdf.set_creator("recurring-payments")
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_margins(20, 20, 20)
    pdf.set_font("DejaVu", "B", 18)
    pdf.cell(0, 12, document["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    pdf.cell(0, 6, document["merchant_name"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def field(label: str, lines: list[str] | str) -> None:
        pdf.set_font("DejaVu", "B", 10)
        pdf.cell(50, 6, label)
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(0, 6, "\n".join(lines) if isinstance(lines, list) else lines, new_x="LMARGIN", new_y="NEXT")

    for entry in document["fields"]:
        field(entry["label"], entry["lines"])
    labels = document["labels"]
    for note in document["notes"]:  # returned by the bank, disputed
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(0, 6, note, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    def row(description: str, amount: str, bold: bool = False) -> None:
        pdf.set_font("DejaVu", "B" if bold else "", 10)
        pdf.cell(130, 7, description, border="B")
        pdf.cell(0, 7, amount, border="B", align="R", new_x="LMARGIN", new_y="NEXT")

    row(labels["item"], labels["amount"], bold=True)
    for line in document["lines"]:
        row(line["description"], line["amount"])
    if document.get("vat"):
        row(labels["net_total"], document["net_total"])
        for line in document["vat"]:
            row(line["description"], line["amount"])
    row(labels["total"], document["total"], bold=True)
    if document["refunds"]:
        pdf.ln(4)
        pdf.set_font("DejaVu", "B", 12)
        pdf.cell(0, 8, labels["refunds"], new_x="LMARGIN", new_y="NEXT")
        for line in document["refunds"]:
            row(line["description"], line["amount"])
        row(labels["net"], document["net"], bold=True)
    if document["support"]:
        pdf.ln(6)
        pdf.set_font("DejaVu", "", 9)
        pdf.cell(0, 6, document["support"], new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
