/* libFuzzer target for the run.json reader (mk/fuzz.mk: make fuzz). Each input is a run.json
 * (one a user or another tool may have edited, or an import brought in):
 * - refused: an error of one line, nothing left allocated;
 * - read: written back (record_to_json), that text reads again, and writes the same text again
 *   (what `runpilot` rewrites on each update must not drift); the fields the commands read
 *   without a live process (sections, the metrics summary, the cgroup name, whether a
 *   supervisor from another boot is gone) are read.
 * Anything else aborts, and so do the sanitizers on any memory error or undefined behaviour. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "metrics.h"
#include "record.h"
#include "util.h"

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_record: %s\n  %s\n", what, detail ? detail : "");
	abort();
}

static char *written(const struct rp_run *r)
{
	cJSON *j = record_to_json(r);
	char *text = cJSON_Print(j);
	cJSON_Delete(j);
	if (!text)
		die("record_to_json gives what cJSON cannot print", "");
	return text;
}

/* What the commands read of a record without looking at processes. */
static void read_fields(const struct rp_run *r)
{
	char cg[48];
	record_cgroup_name(r->id, r->uid, cg);
	if (strlen(cg) >= sizeof cg)
		die("a cgroup name too long", cg);
	/* another boot: decided by the boot ids alone */
	if (r->supervisor_boot_id && strcmp(r->supervisor_boot_id, "fuzz-boot"))
		(void)record_supervisor_gone_reason(r, "fuzz-boot");
	(void)status_name(r->status);
	(void)record_section(r, "resources");
	/* the metrics summary (an ended run's from its section; a live one's from a run directory
	 * that does not exist: none) */
	struct mx_set set;
	struct rp_err e = {0};
	if (mx_read_summary("/nonexistent/fuzz_record", r, &set, &e) == 0)
		mx_set_free(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	char *text = xstrndup((const char *)data, size);
	cJSON *j = cJSON_Parse(text);
	struct rp_run r;
	struct rp_err e = {0};
	if (record_from_json(j, &r, &e) < 0) {
		if (!e.msg[0] || strchr(e.msg, '\n'))
			die("a refusal that is not a one-line error", e.msg);
		if (r.id || r.argv || r.params || r.sections)
			die("a refusal that left the record allocated", text);
		cJSON_Delete(j);
		free(text);
		return 0;
	}
	cJSON_Delete(j);
	read_fields(&r);
	char *first = written(&r);
	record_free(&r);

	j = cJSON_Parse(first);
	if (record_from_json(j, &r, &e) < 0)
		die("a written record that does not read back", first);
	cJSON_Delete(j);
	char *again = written(&r);
	if (strcmp(first, again)) {
		fprintf(stderr, "first:\n%s\nagain:\n%s\n", first, again);
		die("run.json changes on a round trip", text);
	}
	record_free(&r);
	free(first);
	free(again);
	free(text);
	return 0;
}
