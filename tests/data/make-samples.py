#!/usr/bin/env python3
"""Regenerates the sample documents that ipptool's tests and ours send.

ipptool looks up FILE names in its current directory first, so the test
suite runs it from here. The files are small but valid: PDFs with a correct
xref table, DSC-conforming PostScript, baseline JPEGs (made with
ImageMagick's `convert`, which is only needed to regenerate them).

Run from anywhere: python3 tests/data/make-samples.py
"""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))

A4 = (595, 842)
LETTER = (612, 792)


def pdf(pages, size, title):
    """A minimal PDF 1.4 with one Helvetica line per page."""
    width, height = size
    objects = []  # object bodies; object n is objects[n - 1]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    page_ids = [4 + 2 * i for i in range(pages)]
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for n in range(pages):
        text = f"BT /F1 24 Tf 72 {height - 96} Td ({title}, page {n + 1}) Tj ET\n".encode()
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
                f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_ids[n] + 1} 0 R >>"
            ).encode()
        )
        objects.append(
            f"<< /Length {len(text)} >>\nstream\n".encode() + text + b"endstream"
        )
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def postscript(pages, size, media, title):
    width, height = size
    lines = [
        "%!PS-Adobe-3.0",
        f"%%BoundingBox: 0 0 {width} {height}",
        f"%%Title: ({title})",
        f"%%Pages: {pages}",
        f"%%DocumentMedia: {media} {width} {height} 0 () ()",
        "%%EndComments",
        "%%BeginSetup",
        f"<< /PageSize [{width} {height}] >> setpagedevice",
        "%%EndSetup",
    ]
    for n in range(1, pages + 1):
        lines += [
            f"%%Page: {n} {n}",
            "/Helvetica findfont 24 scalefont setfont",
            f"72 {height - 96} moveto ({title}, page {n}) show",
            "showpage",
        ]
    lines += ["%%Trailer", "%%EOF", ""]
    return "\n".join(lines).encode()


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def jpeg(name, *args):
    subprocess.run(
        ["convert", *args, "-strip", "-quality", "85", os.path.join(HERE, name)],
        check=True,
    )


def main():
    write("document-a4.pdf", pdf(2, A4, "printspoold test document, A4"))
    write("document-letter.pdf", pdf(2, LETTER, "printspoold test document, Letter"))
    write("onepage-a4.pdf", pdf(1, A4, "printspoold one page, A4"))
    write("onepage-letter.pdf", pdf(1, LETTER, "printspoold one page, Letter"))
    write("testfile.pdf", pdf(1, LETTER, "printspoold testfile"))
    write("document-a4.ps", postscript(2, A4, "A4", "printspoold test document, A4"))
    write("document-letter.ps", postscript(2, LETTER, "Letter", "printspoold test document, Letter"))
    write("testfile.txt", b"printspoold test file\nA second line, then a form feed.\n\x0cPage two.\n")
    jpeg("color.jpg", "-size", "240x160", "gradient:red-blue")
    jpeg("gray.jpg", "-size", "240x160", "gradient:white-black", "-colorspace", "Gray")
    jpeg("testfile.jpg", "-size", "120x80", "plasma:fractal", "-seed", "7")


if __name__ == "__main__":
    main()
