/*
 * verify/report_html.c — the HTML page of `qforge verify --html`: the figures of a
 * qf_verify_report, a bar chart of each layer's SQNR, the histogram of |logit differences|, the
 * rows whose prediction changed (with their text when the data had text), and the recipe and
 * provenance recorded in the artifact. One self-contained file: inline SVG and CSS, no script, no
 * external reference, so it can be archived with a CI run and opened anywhere. Also the parts every
 * job's page shares (report_html_internal.h; the other jobs' pages are report_html_jobs.c's): the
 * buffer, the escaping, the page's head, the recipe and provenance tables, the atomic write.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify/report_html_internal.h"

qf_verify_html_context qf_verify_html_context_default(void)
{
    qf_verify_html_context c;
    memset(&c, 0, sizeof c);
    c.max_changed_rows = 100;
    c.max_text = 400;
    return c;
}

static void html_grow(qf_html *b, size_t more)
{
    size_t need;
    if (b->failed || !qf_add_size(b->len, more, &need) || !qf_add_size(need, 1, &need)) {
        b->failed = true;
        return;
    }
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 16384;
    while (cap < need)
        if (!qf_mul_size(cap, 2, &cap)) {
            b->failed = true;
            return;
        }
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = true;
        return;
    }
    b->data = d;
    b->cap = cap;
}

void qf_html_add(qf_html *b, const char *s, size_t n)
{
    html_grow(b, n);
    if (b->failed) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void qf_html_printf(qf_html *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        qf_html_add(b, small, (size_t)n);
        return;
    }
    html_grow(b, (size_t)n);
    if (b->failed) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* HTML-escapes n bytes (at most `max` characters' worth, then an ellipsis). The text first passes
 * through qf_text_escape: controls, C1, bidi overrides and bytes that are not UTF-8 show as visible
 * escapes (a bidi override in a tensor name would otherwise reorder the page around it). */
void qf_html_escape(qf_html *b, const char *raw, size_t raw_n, size_t max)
{
    size_t cap;
    if (!qf_mul_size(raw_n, QF_TEXT_ESCAPE_GROWTH, &cap) || !qf_add_size(cap, 1, &cap)) {
        b->failed = true;
        return;
    }
    char *s = malloc(cap);
    if (!s) {
        b->failed = true;
        return;
    }
    size_t n = qf_text_escape(raw, raw_n, s, cap);
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) != 0x80 && chars++ >= max) {
            QF_HTML_LIT(b, "\xE2\x80\xA6");
            break;
        }
        switch (c) {
        case '<': QF_HTML_LIT(b, "&lt;"); break;
        case '>': QF_HTML_LIT(b, "&gt;"); break;
        case '&': QF_HTML_LIT(b, "&amp;"); break;
        case '"': QF_HTML_LIT(b, "&quot;"); break;
        case '\'': QF_HTML_LIT(b, "&#39;"); break;
        case '\n':
        case '\t': QF_HTML_LIT(b, " "); break;
        default:
            if (c >= 0x20 && c != 0x7F) qf_html_add(b, (const char *)&c, 1);
        }
    }
    free(s);
}

void qf_html_escape_str(qf_html *b, const char *s) { qf_html_escape(b, s ? s : "", s ? strlen(s) : 0, (size_t)-1); }


static const char STYLE[] =
    "body{font:14px/1.45 system-ui,sans-serif;color:#1d2430;margin:24px auto;max-width:1100px;padding:0 16px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d5dae2}"
    ".sub{color:#5a6473}.badge{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}"
    ".pass{background:#2e8b57}.fail{background:#c0392b}.none{background:#6b7685}"
    "table{border-collapse:collapse;margin:6px 0}td,th{padding:4px 10px;border-bottom:1px solid #e4e7ec;text-align:left;"
    "vertical-align:top}th{background:#f3f5f8}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".kv td:first-child{color:#5a6473;white-space:nowrap}.mono{font-family:ui-monospace,monospace;font-size:12px;"
    "word-break:break-all}svg{display:block;margin:8px 0}svg text{font:12px system-ui,sans-serif;fill:#1d2430}"
    ".grid{stroke:#e4e7ec}.axis{stroke:#5a6473}.sqnr-bar{fill:#3b6fb6}.hist-bar{fill:#d9822b}";

static void summary(qf_html *b, const qf_verify_report *r, const qf_verify_html_context *c)
{
    QF_HTML_LIT(b, "<h2>Summary</h2><table class=\"kv\">");
    if (r->labelled_rows)
        qf_html_printf(b,
                  "<tr><td>accuracy</td><td>FP32 %.2f%% &nbsp; %s %.2f%% &nbsp; <b>drop %.2f pt</b></td></tr>",
                  100 * r->accuracy_reference, qf_encoder_mode_name(r->artifact_mode), 100 * r->accuracy_artifact,
                  r->drop_points);
    qf_html_printf(b, "<tr><td>agreement</td><td>%.2f%% top-1 (%zu of %zu rows changed)</td></tr>", 100 * r->agreement,
              r->changed_count, r->rows);
    qf_html_printf(b,
              "<tr><td>logits</td><td>mean |diff| %.4g &nbsp; max |diff| %.4g &nbsp; cosine mean %.6f &nbsp; "
              "min %.6f</td></tr>",
              r->mean_abs_dlogit, r->max_abs_dlogit, r->mean_cosine, r->min_cosine);
    qf_html_printf(b, "<tr><td>rows</td><td>%zu (%zu labelled), max length %d</td></tr>", r->rows, r->labelled_rows,
              (int)c->max_length);
    qf_html_printf(b, "<tr><td>time</td><td>%.2f s</td></tr>", r->seconds);
    if (c->has_max_drop)
        qf_html_printf(b, "<tr><td>gate</td><td>drop %.2f pt %s --max-drop %g: %s</td></tr>", r->drop_points,
                  c->passed ? "&le;" : "&gt;", c->max_drop, c->passed ? "PASS" : "FAIL");
    QF_HTML_LIT(b, "</table>");
}

/* Horizontal bars, one per layer output; the axis runs to the next 10 dB above the largest SQNR. */
static void sqnr_chart(qf_html *b, const qf_verify_report *r)
{
    QF_HTML_LIT(b, "<h2>Signal-to-quantization-noise ratio per layer</h2>");
    if (!r->num_layer_outputs) {
        QF_HTML_LIT(b, "<p class=\"sub\">not measured (--no-layers)</p>");
        return;
    }
    double top = 10;
    for (size_t l = 0; l < r->num_layer_outputs; l++)
        if (isfinite(r->layer_sqnr_db[l]) && r->layer_sqnr_db[l] > top) top = r->layer_sqnr_db[l];
    top = 10 * ceil(top / 10);
    const double left = 110, width = 560, row = 26;
    double height = 40 + row * (double)r->num_layer_outputs;
    qf_html_printf(b, "<svg class=\"chart\" id=\"sqnr-chart\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                 "aria-label=\"SQNR per layer in dB\">",
              left + width + 90, height);
    for (double g = 0; g <= top + 1e-9; g += 10) {
        double x = left + width * g / top;
        qf_html_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"8\" x2=\"%.1f\" y2=\"%.1f\"/>", x, x, height - 24);
        qf_html_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>", x, height - 8, g);
    }
    qf_html_printf(b, "<text x=\"%.1f\" y=\"%.1f\">dB</text>", left + width + 14, height - 8);
    for (size_t l = 0; l < r->num_layer_outputs; l++) {
        char name[32];
        if (l == 0)
            snprintf(name, sizeof name, "embeddings");
        else
            snprintf(name, sizeof name, "layers.%zu", l - 1);
        double v = r->layer_sqnr_db[l];
        bool exact = !isfinite(v);
        double w = exact ? width : width * (v > 0 ? v : 0) / top;
        double y = 12 + row * (double)l;
        qf_html_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>", left - 8, y + 14, name);
        qf_html_printf(b, "<rect class=\"sqnr-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"18\"><title>%s: ", left, y,
                  w, name);
        if (exact)
            QF_HTML_LIT(b, "exact (no difference)");
        else
            qf_html_printf(b, "%.2f dB", v);
        QF_HTML_LIT(b, "</title></rect>");
        if (exact)
            qf_html_printf(b, "<text x=\"%.1f\" y=\"%.1f\">exact</text>", left + w + 6, y + 14);
        else
            qf_html_printf(b, "<text x=\"%.1f\" y=\"%.1f\">%.1f</text>", left + w + 6, y + 14, v);
    }
    QF_HTML_LIT(b, "</svg>");
}

/* One bar per bin (QF_VERIFY_DLOGIT_BINS), heights relative to the fullest bin. */
static void dlogit_chart(qf_html *b, const qf_verify_report *r)
{
    QF_HTML_LIT(b, "<h2>Histogram of |logit difference|</h2>");
    uint64_t total = 0, most = 1;
    for (size_t i = 0; i < QF_VERIFY_DLOGIT_BINS; i++) {
        total += r->dlogit_hist[i];
        if (r->dlogit_hist[i] > most) most = r->dlogit_hist[i];
    }
    qf_html_printf(b,
              "<p class=\"sub\">%llu logits (%zu rows &times; %lld labels), 4 bins per decade; the first bin holds "
              "values below 1e-6, exact zeros included.</p>",
              (unsigned long long)total, r->rows, (long long)r->num_labels);
    const double left = 70, bar = 22, plot_h = 220, top = 12;
    double width = bar * QF_VERIFY_DLOGIT_BINS;
    qf_html_printf(b, "<svg class=\"chart\" id=\"dlogit-histogram\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
                 "aria-label=\"histogram of absolute logit differences\">",
              left + width + 20, top + plot_h + 50);
    for (int k = 0; k <= 4; k++) {
        double y = top + plot_h - plot_h * k / 4.0;
        qf_html_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", left, y, left + width, y);
        qf_html_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%llu</text>", left - 6, y + 4,
                  (unsigned long long)((double)most * k / 4.0 + 0.5));
    }
    for (size_t i = 0; i < QF_VERIFY_DLOGIT_BINS; i++) {
        double h = plot_h * (double)r->dlogit_hist[i] / (double)most;
        double x = left + bar * (double)i;
        qf_html_printf(b, "<rect class=\"hist-bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>", x + 1,
                  top + plot_h - h, bar - 2, h);
        if (i == 0)
            qf_html_printf(b, "below 1e-6: %llu", (unsigned long long)r->dlogit_hist[i]);
        else if (i + 1 == QF_VERIFY_DLOGIT_BINS)
            qf_html_printf(b, "100 or more: %llu", (unsigned long long)r->dlogit_hist[i]);
        else
            qf_html_printf(b, "[%.3g, %.3g): %llu", qf_verify_dlogit_bin_lower(i), qf_verify_dlogit_bin_lower(i + 1),
                      (unsigned long long)r->dlogit_hist[i]);
        QF_HTML_LIT(b, "</title></rect>");
    }
    qf_html_printf(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", left, top + plot_h,
              left + width, top + plot_h);
    for (int d = -6; d <= 2; d++) { /* decade ticks at the lower edge of bins 1, 5, ..., 33 */
        double x = left + bar * (double)(1 + 4 * (d + 6));
        qf_html_printf(b, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, top + plot_h, x,
                  top + plot_h + 5);
        qf_html_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">1e%d</text>", x, top + plot_h + 20, d);
    }
    qf_html_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">|FP32 logit &#8722; artifact logit|</text>",
              left + width / 2, top + plot_h + 42);
    QF_HTML_LIT(b, "</svg>");
}

static void changed_rows(qf_html *b, const qf_verify_report *r, const qf_verify_html_context *c)
{
    QF_HTML_LIT(b, "<h2>Rows whose prediction changed</h2>");
    if (!r->changed_count) {
        QF_HTML_LIT(b, "<p>None: FP32 and the artifact agree on every row.</p>");
        return;
    }
    size_t listed = r->changed_kept; /* the rows the run kept, at most the context's count */
    if (listed > c->max_changed_rows) listed = c->max_changed_rows;
    if (listed < r->changed_count) qf_html_printf(b, "<p class=\"sub\">the first %zu of %zu</p>", listed, r->changed_count);
    QF_HTML_LIT(b, "<table id=\"changed-rows\"><tr><th>row</th><th>label</th><th>FP32</th><th>artifact</th><th>text</th></tr>");
    char name[128];
    for (size_t i = 0; i < listed; i++) {
        size_t row = r->changed_rows[i];
        qf_html_printf(b, "<tr class=\"changed\"><td class=\"n\">%zu</td><td>", row);
        const qf_dataset_row *dr = c->data ? qf_dataset_row_at(c->data, row) : NULL;
        if (dr && dr->label >= 0) {
            qf_label_name(c->config_json, dr->label, name, sizeof name);
            qf_html_escape_str(b, name);
        }
        QF_HTML_LIT(b, "</td><td>");
        qf_label_name(c->config_json, r->changed_reference_label[i], name, sizeof name);
        qf_html_escape_str(b, name);
        QF_HTML_LIT(b, "</td><td>");
        qf_label_name(c->config_json, r->changed_artifact_label[i], name, sizeof name);
        qf_html_escape_str(b, name);
        QF_HTML_LIT(b, "</td><td>");
        size_t len = 0;
        const char *text = c->data ? qf_dataset_row_text(c->data, row, &len) : NULL;
        if (text)
            qf_html_escape(b, text, len, c->max_text);
        else if (dr)
            qf_html_printf(b, "<span class=\"sub\">%d token ids</span>", (int)dr->length);
        QF_HTML_LIT(b, "</td></tr>");
    }
    QF_HTML_LIT(b, "</table>");
}

void qf_html_kv(qf_html *b, const char *k, const char *v)
{
    QF_HTML_LIT(b, "<tr><td>");
    qf_html_escape_str(b, k);
    QF_HTML_LIT(b, "</td><td class=\"mono\">");
    qf_html_escape_str(b, v);
    QF_HTML_LIT(b, "</td></tr>");
}

void qf_html_recipe_provenance(qf_html *b, qf_encoder_mode mode, const qf_verify_html_context *c,
                               const char *data_sha256)
{
    QF_HTML_LIT(b, "<h2>Recipe</h2><table class=\"kv\" id=\"recipe\">");
    qf_html_kv(b, "artifact mode", qf_encoder_mode_name(mode));
    size_t n = c->artifact ? qf_model_meta_count(c->artifact) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        if (qf_model_meta_at(c->artifact, i, &k, &v) && (strncmp(k, "quant.", 6) == 0 || strncmp(k, "convert.", 8) == 0))
            qf_html_kv(b, k, v);
    }
    QF_HTML_LIT(b, "</table><h2>Provenance</h2><table class=\"kv\" id=\"provenance\">");
    qf_html_kv(b, "artifact", c->artifact_path);
    qf_html_kv(b, "reference (FP32)", c->reference_path);
    qf_html_kv(b, "data", c->data_path);
    if (data_sha256) qf_html_kv(b, "data sha256", data_sha256);
    if (c->tokenizer_path && c->tokenizer_path[0]) qf_html_kv(b, "tokenizer", c->tokenizer_path);
    if (c->prompt && c->prompt[0]) qf_html_kv(b, "prompt (prepended to every text)", c->prompt);
    if (c->prompt_tokens_excluded) {
        char excluded[64];
        snprintf(excluded, sizeof excluded, "%d leading tokens (include_prompt false)", (int)c->prompt_tokens_excluded);
        qf_html_kv(b, "left out of the pooling", excluded);
    }
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        if (qf_model_meta_at(c->artifact, i, &k, &v) && (strncmp(k, "source.", 7) == 0 || strncmp(k, "arch.", 5) == 0))
            qf_html_kv(b, k, v);
    }
    qf_html_kv(b, "qforge", QF_VERSION_STRING);
    QF_HTML_LIT(b, "</table>");
}

void qf_html_page_start(qf_html *b, const qf_verify_html_context *c, bool gated, bool passed, qf_encoder_mode mode,
                        size_t rows, const char *job)
{
    QF_HTML_LIT(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    QF_HTML_LIT(b, "<meta name=\"viewport\" content=\"width=device-width\"><title>qforge verify: ");
    qf_html_escape_str(b, c->artifact_path);
    qf_html_printf(b, "</title><style>%s</style></head><body>", STYLE);
    QF_HTML_LIT(b, "<h1>qforge verify: ");
    qf_html_escape_str(b, c->artifact_path);
    QF_HTML_LIT(b, "</h1><p class=\"sub\">");
    if (gated)
        qf_html_printf(b, "<span class=\"badge %s\">%s</span> ", passed ? "pass" : "fail", passed ? "PASS" : "FAIL");
    else
        QF_HTML_LIT(b, "<span class=\"badge none\">no gate</span> ");
    qf_html_printf(b, "%s artifact against its FP32 reference on %zu rows", qf_encoder_mode_name(mode), rows);
    if (job) qf_html_printf(b, ", the %s job", job);
    QF_HTML_LIT(b, "</p>");
}

qf_status qf_html_finish(qf_html *b, const char *path, qf_error *err)
{
    QF_HTML_LIT(b, "</body></html>\n");
    if (b->failed) {
        free(b->data);
        return qf_error_set(err, QF_STATUS_NO_MEMORY, path, NULL, -1, NULL, "out of memory for the HTML report");
    }
    qf_output *out = NULL;
    qf_status s = qf_output_open(path, &out, err);
    if (!s) s = qf_output_write(out, b->data, b->len, err);
    if (!s)
        s = qf_output_commit(out, err);
    else
        qf_output_abort(out);
    free(b->data);
    return s;
}

qf_status qf_verify_report_write_html(const qf_verify_report *r, const qf_verify_html_context *ctx, const char *path,
                                      qf_error *err)
{
    qf_verify_html_context defaults = qf_verify_html_context_default();
    const qf_verify_html_context *c = ctx ? ctx : &defaults;
    qf_html b = {0};
    qf_html_page_start(&b, c, c->has_max_drop, c->passed, r->artifact_mode, r->rows, NULL);
    summary(&b, r, c);
    sqnr_chart(&b, r);
    dlogit_chart(&b, r);
    changed_rows(&b, r, c);
    qf_html_recipe_provenance(&b, r->artifact_mode, c, c->data ? qf_dataset_sha256(c->data) : NULL);
    return qf_html_finish(&b, path, err);
}
