"""Regenerate the derived register fixtures from register.csv (run from this folder; needs openpyxl).

register.csv is the source of truth; everything else here is derived from it so that tests can
assert that each quirk yields exactly the rows of the plain file.
"""

from __future__ import annotations

import codecs
import csv
import io
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).parent
QUIRK_ROWS = ("IA-001", "", "IA-012")  # ids of the rows the quirk files keep ("" = first row without one)


def rows() -> list[list[str]]:
    with open(HERE / "register.csv", newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def quirk_rows() -> list[list[str]]:
    all_rows = rows()
    keep = [all_rows[0]]
    for wanted in QUIRK_ROWS:
        keep.append(next(r for r in all_rows[1:] if r[0] == wanted))
    return keep


def write_csv(table: list[list[str]], delimiter: str = ",") -> str:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(table)
    return buf.getvalue()


def main() -> None:
    q = quirk_rows()
    (HERE / "quirk_bom.csv").write_bytes(codecs.BOM_UTF8 + write_csv(q).encode("utf-8"))
    (HERE / "quirk_cp1252.csv").write_bytes(write_csv(q).encode("cp1252"))
    (HERE / "quirk_semicolon.csv").write_bytes(write_csv(q, ";").encode("utf-8"))
    (HERE / "quirk_utf16_tab.txt").write_bytes(write_csv(q, "\t").encode("utf-16"))
    width = len(q[0])
    padded = [["Test Borough Council - Information Asset Register"] + [""] * (width + 2), [""] * (width + 3)]
    padded += [r + ["", "", ""] for r in q[:2]] + [[""] * (width + 3)] + [r + ["", "", ""] for r in q[2:]]
    (HERE / "quirk_heading_rows.csv").write_bytes(write_csv(padded).encode("utf-8"))

    from openpyxl import Workbook

    wb = Workbook()
    notes = wb.active
    notes.title = "Read me"
    notes["A1"] = "Crafted test register; see README.md"
    ws = wb.create_sheet("Information Asset Register")
    table = rows()
    ws.cell(row=1, column=1, value="Test Borough Council - Information Asset Register")
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(table[0]))
    for i, row in enumerate(table, start=3):  # row 2 blank, header on row 3
        for j, value in enumerate(row, start=1):
            if value == "":
                continue
            cell: object = value
            if i > 3 and table[0][j - 1] == "Last Reviewed":
                try:
                    cell = datetime.strptime(value, "%Y-%m-%d")  # a real date cell, as Excel stores it
                except ValueError:
                    pass
            ws.cell(row=i, column=j, value=cell)
    wb.save(HERE / "register.xlsx")


if __name__ == "__main__":
    main()
