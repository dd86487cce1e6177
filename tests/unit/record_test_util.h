/* A full run record for unit tests (include after <cmocka.h>). */
#ifndef RECORD_TEST_UTIL_H
#define RECORD_TEST_UTIL_H

#include <cjson/cJSON.h>
#include <string.h>

#include "record.h"
#include "util.h"

static inline char **strings(const char *a, const char *b, const char *c)
{
	struct strvec sv = {0};
	const char *in[] = {a, b, c};
	for (int i = 0; i < 3; i++)
		if (in[i])
			strvec_push(&sv, in[i]);
	return strvec_items(&sv);
}

/* A finished run with every field set. */
static inline void full_run(struct rp_run *r)
{
	memset(r, 0, sizeof *r);
	r->schema_version = RP_SCHEMA_VERSION;
	r->id = xstrdup("rp_0042");
	r->uid = xstrdup("0f8e2a4c-1b7d-4c3e-9a5f-6d2e8b1c0a97");
	r->name = xstrdup("mnist-cnn-baseline");
	r->status = RP_FAILED;
	r->reason = xstrdup("signal");
	r->created_at = 1795891801.123;
	r->started_at = 1795891801.456;
	r->ended_at = 1795891931.789;
	r->duration_s = 130.333;
	r->has_exit_code = true;
	r->exit_code = -1;
	r->signal = 9;
	r->entrypoint = xstrdup("python train.py");
	r->argv = strings("/bin/sh", "-c", "python train.py");
	r->workdir = xstrdup("/home/u/mnist");
	r->image = xstrdup("python:3.11-slim");
	r->params = cJSON_Parse("{\"lr\": 0.001, \"epochs\": 10, \"opt\": \"adam\", \"gpu\": true, \"x\": null}");
	r->tags = strings("mnist", "cnn", NULL);
	r->env = cJSON_Parse("{\"PYTHONUNBUFFERED\": \"1\", \"HF_TOKEN\": \"<redacted>\"}");
	r->runner = cJSON_Parse("{\"type\": \"local\", \"fallback_reason\": \"no sandbox support\"}");
	r->host_hostname = xstrdup("gpu-box");
	r->host_kernel = xstrdup("6.1.0-18-amd64");
	r->host_arch = xstrdup("x86_64");
	r->host_user = xstrdup("alice");
	r->supervisor_pid = 12345;
	r->supervisor_start_ticks = 9876543210ULL;
	r->supervisor_boot_id = xstrdup("7eb68fd8-8e59-4cc1-aa03-63ae02000c26");
	r->runpilot_version = xstrdup("0.1.0");
	r->paths = cJSON_Parse("{\"run_dir\": \"/r/rp_0042\", \"logs\": \"/r/rp_0042/logs.txt\"}");
	r->sections = cJSON_Parse("{\"resources\": {\"limits\": {\"memory\": 2147483648}, \"usage\": [1, 2.5, \"x\"]},"
				  " \"metrics\": [{\"step\": 1, \"loss\": 0.5}], \"future_flag\": true,"
				  " \"future_null\": null, \"future_text\": \"t\"}");
}

static inline void assert_json_equal(const cJSON *a, const cJSON *b)
{
	if (!cJSON_Compare(a, b, 1)) {
		char *sa = cJSON_Print(a), *sb = cJSON_Print(b);
		fail_msg("JSON differs:\n%s\n---\n%s", sa, sb);
	}
}

#endif
