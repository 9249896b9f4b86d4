"""Checks a page of `qforge verify --html` against the JSON report of the same run.

usage: check_report_html.py PAGE.html REPORT.json [--hostile TEXT]...

  - the page is UTF-8, parses with html.parser with every end tag closing the element opened last
    (void elements excepted) and nothing left open, and holds nothing that loads or runs anything
    (no script element, no src / href / url(), no on* attribute);
  - its figures equal the JSON report's, formatted as the page formats them: the job's metrics
    (tr#metric-<name>: FP32, artifact, the headline's drop), the summary lines, the gate's badge;
  - each --hostile TEXT (a string from a file or the user) shows on the page as text, so it was
    escaped: the parsed text contains it while the raw page does not.
Exit 1 with one line per failure.
"""
import html.parser
import json
import math
import sys

VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.errors = []
        self.rows = {}  # tr id -> list of cell texts
        self.badge = None
        self.text = []
        self._row = None
        self._cell = None
        self._badge = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" or "src" in a or "href" in a or any(k.startswith("on") for k in a):
            self.errors.append("active content: <%s %s>" % (tag, attrs))
        if "url(" in (a.get("style") or ""):
            self.errors.append("url() in a style attribute")
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "tr" and a.get("id"):
            self._row = (a["id"], [])
        if tag in ("td", "th") and self._row is not None:
            self._cell = []
        if tag == "span" and "badge" in (a.get("class") or ""):
            self._badge = True

    def handle_startendtag(self, tag, attrs):
        pass  # <line/>, <rect/>: opened and closed at once

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes <%s>" % (tag, self.stack[-1] if self.stack else "nothing"))
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row[1].append("".join(self._cell).strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows[self._row[0]] = self._row[1]
            self._row = None
        if tag == "span":
            self._badge = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._badge:
            self.badge = (self.badge or "") + data


failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def pct(x):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.2f%%" % (100 * x)


def fixed(x, digits):
    return "n/a" if x is None else "%.*f" % (digits, x)


def drop(x):
    return "%.2f pt" % x


def metric(page, name, reference, artifact, fmt, headline_drop=None):
    row = page.rows.get("metric-" + name)
    if row is None:
        failures.append("no tr#metric-%s" % name)
        return
    want = [fmt(reference), fmt(artifact)]
    check(row[1:3] == want, "metric %s: page %s, JSON %s" % (name, row[1:3], want))
    if headline_drop is not None:
        check(row[3] == drop(headline_drop), "metric %s drop: page %r, JSON %r" % (name, row[3], drop(headline_drop)))


def single(page, name, value, fmt):
    row = page.rows.get("metric-" + name)
    check(row is not None and row[1] == fmt(value), "%s: page %s, JSON %s" % (name, row, fmt(value)))


def contains(page, row_id, text):
    row = page.rows.get(row_id)
    check(row is not None and text in " ".join(row), "tr#%s lacks %r: %s" % (row_id, text, row))


def main(argv):
    page_path, json_path = argv[1], argv[2]
    hostile = [argv[i + 1] for i in range(3, len(argv) - 1) if argv[i] == "--hostile"]
    raw = open(page_path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        print("FAIL: the page is not UTF-8:", e)
        return 1
    j = json.load(open(json_path, encoding="utf-8", errors="surrogateescape"))  # paths may hold any byte
    page = Page()
    page.feed(text)
    page.close()
    failures.extend(page.errors)
    check(not page.stack, "elements left open: %s" % page.stack)
    check(text.endswith("</body></html>\n"), "the page does not end with </body></html>")
    parsed = "".join(page.text)
    for h in hostile:
        check(h in parsed, "hostile text %r is not shown as text" % h)
        check(h not in text, "hostile text %r is in the page unescaped" % h)
    job = j.get("job", "classification")
    mode = j["artifact_mode"]
    check(("%s artifact against its FP32 reference on %d rows" % (mode, j["rows"])) in parsed, "no title line")
    gated = j.get("max_drop") is not None or j.get("min_cosine") is not None or j.get("min_spearman") is not None
    want_badge = ("PASS" if j["passed"] else "FAIL") if gated else "no gate"
    check(page.badge == want_badge, "badge %r, JSON says %r" % (page.badge, want_badge))
    if job != "classification":
        check(("the %s job" % job) in parsed, "the page does not name the %s job" % job)
    if job == "token-classification":
        m = j["metrics"]
        metric(page, "entity_f1", m["entity_f1"] and m["entity_f1"]["reference"],
               m["entity_f1"] and m["entity_f1"]["artifact"], pct, j["drop_points"])
        for k in ("entity_precision", "entity_recall", "token_accuracy"):
            metric(page, k, m[k] and m[k]["reference"], m[k] and m[k]["artifact"], pct)
        contains(page, "agreement", "%.2f%% of words (%d of %d words changed label)" % (
            100 * j["agreement"], j["words_compared"] - j["words_agreeing"], j["words_compared"]))
        if j["labelled_rows"]:
            e = j["entities"]
            contains(page, "headline", "drop %.2f pt" % j["drop_points"])
            check("%d gold" % e["gold"] in parsed and "%d predicted (%d correct)" % (
                e["artifact_predicted"], e["artifact_correct"]) in parsed, "entity counts")
    elif job == "qa":
        metric(page, "f1", j["f1"]["reference"], j["f1"]["artifact"], pct, j["drop_points"])
        metric(page, "exact_match", j["exact_match"]["reference"], j["exact_match"]["artifact"], pct)
        contains(page, "agreement", "%.2f%% same answer span (%d of %d rows changed)" % (
            100 * j["span_agreement"], j["changed_count"], j["rows"]))
        changed = text.count('<tr class="changed">')
        check(changed == len(j["changed_rows"]), "%d changed rows on the page, %d in JSON" % (changed, len(j["changed_rows"])))
    elif job == "multi-label":
        metric(page, "micro_f1", j["micro_f1"]["reference"], j["micro_f1"]["artifact"], pct, j["drop_points"])
        contains(page, "agreement", "%.2f%% exact label set (%d of %d rows changed)" % (
            100 * j["label_set_agreement"], j["changed_count"], j["rows"]))
        if j["labelled_rows"]:
            for side in ("reference", "artifact"):
                c = j["counts"][side]
                row = page.rows.get("counts-" + side)
                want = [str(c["true_positive"]), str(c["predicted"]), str(c["gold"])]
                check(row is not None and row[1:] == want, "counts %s: page %s, JSON %s" % (side, row, want))
    elif job == "rerank":
        contains(page, "score-spearman", fixed(j["score_spearman"], 6))
        if j["rank_agreement"] is not None:
            contains(page, "agreement", "%.2f%% rank" % (100 * j["rank_agreement"]))
        if j["labelled"]:
            metric(page, "mrr_at_10", j["mrr_at_10"]["reference"], j["mrr_at_10"]["artifact"],
                   lambda x: fixed(x, 4), j["drop_points"])
            metric(page, "ndcg_at_10", j["ndcg_at_10"]["reference"], j["ndcg_at_10"]["artifact"], lambda x: fixed(x, 4))
        else:
            check("metric-mrr_at_10" not in page.rows, "MRR@10 shown without relevance labels")
    elif job == "embedding":
        single(page, "cosine_mean", j["cosine"]["mean"], lambda x: fixed(x, 6))
        single(page, "cosine_min", j["cosine"]["min"], lambda x: fixed(x, 6))
        single(page, "top1_agreement", j["retrieval"]["top1_agreement"], pct)
        single(page, "top10_overlap", j["retrieval"]["top10_overlap"], pct)
        contains(page, "cosine", "(row %d)" % j["cosine"]["min_row"])
        if "sts" in j:
            s = j["sts"]
            metric(page, "sts_spearman", s["spearman"]["reference"], s["spearman"]["artifact"], lambda x: fixed(x, 4),
                   s["drop_points"])
    else:
        failures.append("no check for job %r" % job)
    for f in failures:
        print("FAIL:", page_path + ":", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
