/*
 * tests/fuzz/fuzz_qfc.c — the `.qfc` calibration statistics reader (calibrate/qfc.c) on bytes in
 * memory: qf_calib_stats_parse, the whole-file validation that qf_calib_stats_read runs after
 * mapping. Accepted statistics are walked and serialized again.
 */
#include <stdlib.h>

#include "fuzz_common.h"
#include "qforge/calibrate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qf_calib_stats *s = NULL;
    qf_error err;
    qf_error_clear(&err);
    if (qf_calib_stats_parse(data, size, "fuzz.qfc", &s, &err) == QF_STATUS_OK) {
        uint64_t sum = 0;
        for (size_t i = 0; i < qf_calib_stats_count(s); i++) {
            const qf_calib_entry *e = qf_calib_stats_entry(s, i);
            sum += (uint64_t)e->channels;
            (void)qf_calib_stats_find(s, e->name);
        }
        (void)qf_calib_stats_provenance(s);
        uint8_t *bytes = NULL;
        size_t n = 0;
        if (qf_calib_stats_serialize(s, &bytes, &n, &err) == QF_STATUS_OK && n) sum += bytes[n - 1];
        free(bytes);
        (void)sum;
    } else {
        char line[2048];
        qf_error_format(&err, line, sizeof line);
    }
    qf_calib_stats_destroy(s);
    return 0;
}
