"""`qforge verify --html` end to end, rendered by a real browser.

Quantizes the bundled debsec-mini model per tensor (so that a few predictions change), verifies it
with --html and --json, then:
  1. parses the page: two inline SVG charts, one SQNR bar per layer output, one histogram bar per
     bin whose counts add up to rows x labels, one table row per changed prediction (the same rows,
     with the same texts, as the JSON report), and nothing that loads or runs anything;
  2. renders it in headless Chromium and keeps the screenshot as a test artifact
     ($QF_BINARY_DIR/report-html/report.png); decodes the PNG (a few lines over zlib) and checks
     that it is not blank and that the charts' two colours cover the area their bars should.
Exit 77 (skip) when Chromium is not installed (.ci/install-deps.sh installs Debian's `chromium`).
"""
import html.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

CLI = os.environ.get("QF_CLI", "build/qforge")
SOURCE = os.environ.get("QF_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))
BINARY = os.environ.get("QF_BINARY_DIR", "build")
MINI = os.path.join(SOURCE, "fixtures", "debsec-mini")
OUT = os.path.join(BINARY, "report-html")

SQNR_RGB = (0x3B, 0x6F, 0xB6)  # .sqnr-bar in verify/report_html.c
HIST_RGB = (0xD9, 0x82, 0x2B)  # .hist-bar

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = {}
        self.classes = {}
        self.attrs_seen = []
        self.hist_titles = []
        self.changed = []  # one list of cell texts per tr.changed
        self._title_of = None
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attrs_seen.extend(attrs)
        for c in (a.get("class") or "").split():
            self.classes[(tag, c)] = self.classes.get((tag, c), 0) + 1
        if tag == "rect" and a.get("class") == "hist-bar":
            self._title_of = "hist"
        if tag == "tr" and a.get("class") == "changed":
            self._row = []
        if tag == "td" and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.changed.append(self._row)
            self._row = None
        if tag == "rect":
            self._title_of = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._title_of == "hist" and self.get_starttag_text().startswith("<title"):
            self.hist_titles.append(data)


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = body
        elif kind == b"IDAT":
            idat += body
    w, h = int.from_bytes(hdr[0:4], "big"), int.from_bytes(hdr[4:8], "big")
    depth, ctype, interlace = hdr[8], hdr[9], hdr[12]
    assert depth == 8 and ctype in (2, 6) and interlace == 0, "unsupported PNG layout %r" % (hdr,)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


def near(px, rgb, tol=12):
    return all(abs(p - q) <= tol for p, q in zip(px, rgb))


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("skip: chromium is not installed (bash .ci/install-deps.sh installs Debian's chromium)")
        return 77
    os.makedirs(OUT, exist_ok=True)
    art = os.path.join(OUT, "debsec-mini.per-tensor.qf")
    page = os.path.join(OUT, "report.html")
    report = os.path.join(OUT, "report.json")
    png = os.path.join(OUT, "report.png")
    for p in (page, report, png):
        if os.path.exists(p):
            os.remove(p)
    subprocess.run([CLI, "quantize", os.path.join(MINI, "pytorch_model.bin"), "-o", art, "--mode", "dynamic",
                    "--per-tensor"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([CLI, "verify", art, "--data", os.path.join(MINI, "eval.jsonl"), "--threads", "1",
                    "--html", page, "--json", report, "--max-drop", "1", "--quiet"], check=True)
    with open(report) as f:
        rep = json.load(f)
    with open(page, encoding="utf-8") as f:
        text = f.read()
    eval_rows = [json.loads(line) for line in open(os.path.join(MINI, "eval.jsonl")) if line.strip()]

    p = Page()
    p.feed(text)
    check(p.tags.get("svg") == 2, "two inline SVG charts (found %s)" % p.tags.get("svg"))
    check(p.classes.get(("rect", "sqnr-bar")) == len(rep["layers"]) == 3,
          "one SQNR bar per layer output (%s bars, %d layers)" % (p.classes.get(("rect", "sqnr-bar")), len(rep["layers"])))
    check(p.classes.get(("rect", "hist-bar")) == 34, "34 histogram bars (found %s)" % p.classes.get(("rect", "hist-bar")))
    counts = [int(t.rsplit(":", 1)[1]) for t in p.hist_titles]
    check(sum(counts) == rep["rows"] * 30, "histogram counts add up to rows x labels (%d)" % sum(counts))
    check(rep["changed_count"] > 0, "the per-tensor artifact changes some predictions")
    check(len(p.changed) == rep["changed_count"], "one table row per changed prediction (%d vs %d)" %
          (len(p.changed), rep["changed_count"]))
    for cells, want in zip(p.changed, rep["changed_rows"]):
        row = int(cells[0])
        check(row == want["row"], "changed row %d listed in order" % want["row"])
        check(cells[1:4] == [want["label"], want["reference"], want["artifact"]],
              "row %d: label and both predictions %r" % (row, cells[1:4]))
        check(cells[4] == eval_rows[row]["text"][:400], "row %d shows its text" % row)
    for forbidden in ("script", "iframe", "link", "img", "object", "embed"):
        check(forbidden not in p.tags, "no <%s>" % forbidden)
    check(not any(k in ("src", "href") or (k.startswith("on")) for k, _ in p.attrs_seen), "no src/href/on* attributes")
    check("http:" not in text and "https:" not in text and "url(" not in text, "no external reference")
    check("quant.weights" in text and "source.sha256" in text and rep["data_sha256"] in text, "recipe and provenance")

    profile = tempfile.mkdtemp(prefix="qf-chromium-")
    try:
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync", "--no-first-run",
                            "--user-data-dir=" + profile, "--screenshot=" + os.path.abspath(png),
                            "--window-size=1200,2000", "file://" + os.path.abspath(page)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if not os.path.exists(png):
        print(r.stdout.decode(errors="replace")[-2000:])
        check(False, "chromium wrote the screenshot")
        return 1
    w, h, rows = png_pixels(png)
    check((w, h) == (1200, 2000), "screenshot is 1200x2000 (got %dx%d)" % (w, h))
    flat = [px for line in rows for px in line]
    lum = [0.299 * r_ + 0.587 * g + 0.114 * b for r_, g, b in flat]
    mean = sum(lum) / len(lum)
    var = sum((v - mean) ** 2 for v in lum) / len(lum)
    blue = sum(1 for px in flat if near(px, SQNR_RGB))
    orange = sum(1 for px in flat if near(px, HIST_RGB))
    # 3 SQNR bars of 18 px height, each over 30 dB on a 40 dB axis of 560 px; histogram mass ~ a few bars
    print("screenshot %s: %dx%d, luminance variance %.0f, SQNR-bar pixels %d, histogram pixels %d" %
          (png, w, h, var, blue, orange))
    check(var > 200, "the screenshot is not blank (variance %.0f)" % var)
    check(blue > 3 * 18 * 300, "the SQNR bars are drawn (%d pixels)" % blue)
    check(orange > 5000, "the histogram bars are drawn (%d pixels)" % orange)
    ys_blue = [y for y, line in enumerate(rows) if any(near(px, SQNR_RGB) for px in line)]
    ys_orange = [y for y, line in enumerate(rows) if any(near(px, HIST_RGB) for px in line)]
    check(ys_blue and ys_orange and max(ys_blue) < min(ys_orange), "the SQNR chart comes above the histogram")
    if failures:
        print("%d passed, %d failed" % (0, len(failures)))
        return 1
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
