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

int qf_error_format(const qf_error *err, char *buf, size_t size)
{
    if (!err) return snprintf(buf, size, "no error");
    char where[QF_ERROR_PATH_MAX + QF_ERROR_FIELD_MAX + 64];
    size_t n = 0;
    where[0] = '\0';
    if (err->file[0]) n += (size_t)snprintf(where + n, sizeof where - n, "%s: ", err->file);
    if (n < sizeof where && err->part[0])
        n += (size_t)snprintf(where + n, sizeof where - n, "%s%s", err->part,
                              err->offset >= 0 ? " " : ": ");
    if (n < sizeof where && err->offset >= 0)
        n += (size_t)snprintf(where + n, sizeof where - n, "offset %lld: ", (long long)err->offset);
    (void)n;
    const char *msg = err->message[0] ? err->message : qf_status_text(err->code);
    if (err->expected[0] || err->found[0])
        return snprintf(buf, size, "%s%s (expected %s, found %s)", where, msg,
                        err->expected[0] ? err->expected : "?", err->found[0] ? err->found : "?");
    return snprintf(buf, size, "%s%s", where, msg);
}
