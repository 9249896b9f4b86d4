/*
 * core/status.c — status names and texts (from the one table in core.h) and the caller-owned
 * error detail: first failure wins, one-line formatting for the CLI.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qforge/core.h"

static const char *const status_names[] = {
#define QF_STATUS_NAME_(name, text) #name,
    QF_STATUS_TABLE(QF_STATUS_NAME_)
#undef QF_STATUS_NAME_
};

static const char *const status_texts[] = {
#define QF_STATUS_TEXT_(name, text) text,
    QF_STATUS_TABLE(QF_STATUS_TEXT_)
#undef QF_STATUS_TEXT_
};

const char *qf_status_name(qf_status s)
{
    if ((unsigned)s >= (unsigned)QF_STATUS_COUNT_) return "UNKNOWN";
    return status_names[s];
}

const char *qf_status_text(qf_status s)
{
    if ((unsigned)s >= (unsigned)QF_STATUS_COUNT_) return "unknown status";
    return status_texts[s];
}

void qf_error_clear(qf_error *err)
{
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->code = QF_STATUS_OK;
    err->offset = -1;
}

static void copy_field(char *dst, size_t size, const char *src)
{
    if (!src) {
        dst[0] = '\0';
        return;
    }
    snprintf(dst, size, "%s", src);
}

qf_status qf_error_set(qf_error *err, qf_status code, const char *file, const char *part,
                       int64_t offset, const char *object, const char *fmt, ...)
{
    if (!err || err->code != QF_STATUS_OK) return code;
    char keep_file[QF_ERROR_PATH_MAX];
    copy_field(keep_file, sizeof keep_file, err->file);
    qf_error_clear(err);
    err->code = code;
    /* A reader's entry point may have recorded the path already; a NULL `file` keeps it. */
    copy_field(err->file, sizeof err->file, file ? file : keep_file);
    copy_field(err->part, sizeof err->part, part);
    err->offset = offset;
    copy_field(err->object, sizeof err->object, object);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    } else {
        copy_field(err->message, sizeof err->message, qf_status_text(code));
    }
    return code;
}

void qf_error_expected(qf_error *err, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->expected, sizeof err->expected, fmt, ap);
    va_end(ap);
}

void qf_error_found(qf_error *err, const char *fmt, ...)
{
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->found, sizeof err->found, fmt, ap);
    va_end(ap);
}

void qf_error_set_file(qf_error *err, const char *path)
{
    if (!err || !path || err->file[0]) return;
    copy_field(err->file, sizeof err->file, path);
}

/* Appends text to a line being formatted, escaped (qf_text_escape) or as it is; `n` counts the whole
 * length, as snprintf does; once a piece does not fit nothing more is written. */
typedef struct line_buf {
    char *buf;
    size_t size, n, written;
    bool stopped;
} line_buf;

static void line_add(line_buf *l, const char *text, bool escape)
{
    size_t len = strlen(text);
    size_t room = l->stopped || !l->buf || l->size == 0 ? 0 : l->size - l->written;
    char *at = room ? l->buf + l->written : NULL;
    size_t need = escape ? qf_text_escape(text, len, at, room) : len;
    if (at && !escape) snprintf(at, room, "%s", text);
    if (at) l->written += strlen(at); /* what fitted, a truncated prefix included */
    if (need >= room) l->stopped = true;
    l->n += need;
}

int qf_error_format(const qf_error *err, char *buf, size_t size)
{
    if (!err) return snprintf(buf, size, "no error");
    line_buf l = {buf, size, 0, 0, false};
    if (buf && size) buf[0] = '\0';
    char num[48];
    if (err->file[0]) {
        line_add(&l, err->file, true);
        line_add(&l, ": ", false);
    }
    if (err->part[0]) {
        line_add(&l, err->part, true);
        line_add(&l, err->offset >= 0 ? " " : ": ", false);
    }
    if (err->offset >= 0) {
        snprintf(num, sizeof num, "offset %lld: ", (long long)err->offset);
        line_add(&l, num, false);
    }
    line_add(&l, err->message[0] ? err->message : qf_status_text(err->code), true);
    if (err->expected[0] || err->found[0]) {
        line_add(&l, " (expected ", false);
        line_add(&l, err->expected[0] ? err->expected : "?", true);
        line_add(&l, ", found ", false);
        line_add(&l, err->found[0] ? err->found : "?", true);
        line_add(&l, ")", false);
    }
    return l.n > (size_t)INT32_MAX ? INT32_MAX : (int)l.n;
}
