/* libFuzzer harness: the run-spec parser (spec_runspec_parse). A spec that parses is dumped as
 * YAML and as JSON, and both dumps must parse back to the same jobs with the same hashes
 * (spec_runspec_dump's contract). */
#include <stdint.h>

#include "fuzz-util.h"
#include "m87/error.h"
#include "m87/spec-runspec.h"

static void check_dump(const struct spec_runspec *rs, bool json)
{
    char *text = spec_runspec_dump(rs, json);
    struct m87_error *err = NULL;
    struct spec_runspec *back = spec_runspec_parse(text, strlen(text), "dump", &err);
    if (back == NULL) {
        fprintf(stderr, "%s dump does not parse back: %s\n%s\n", json ? "JSON" : "YAML", err->msg,
                text);
        abort();
    }
    if (back->n_jobs != rs->n_jobs)
        abort();
    for (size_t i = 0; i < rs->n_jobs; i++) {
        if (strcmp(rs->jobs[i].id, back->jobs[i].id) != 0 ||
            strcmp(rs->jobs[i].hash, back->jobs[i].hash) != 0 ||
            rs->jobs[i].enabled != back->jobs[i].enabled) {
            fprintf(stderr, "job %zu differs after the %s dump\n%s\n", i, json ? "JSON" : "YAML",
                    text);
            abort();
        }
    }
    spec_runspec_free(back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct m87_error *err = NULL;
    struct spec_runspec *rs = spec_runspec_parse((const char *)data, size, "fuzz.yml", &err);
    if (rs == NULL) {
        if (err == NULL || strncmp(err->msg, "fuzz.yml", 8) != 0)
            abort();
        m87_error_clear(&err);
        return 0;
    }
    if (err != NULL) /* an error left behind by a load that claims success */
        abort();
    for (size_t i = 0; i < rs->n_jobs; i++) {
        char hash[SPEC_JOB_HASH_LEN + 1];
        spec_job_hash(&rs->jobs[i], hash);
        if (strcmp(hash, rs->jobs[i].hash) != 0 || spec_runspec_job(rs, rs->jobs[i].id) == NULL)
            abort();
        free(spec_job_canonical_json(&rs->jobs[i]));
    }
    check_dump(rs, false);
    check_dump(rs, true);
    spec_runspec_free(rs);
    return 0;
}
