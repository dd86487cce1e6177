/* metrics: every default form, custom patterns, explicit and implied steps, nan/inf, lines that
 * only look like metrics, malformed JSON, very long lines, binary garbage, chunked input; the
 * recorder's files and summary; reading them back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "dir_test_util.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"

/* What a parser emitted, one "name=value@step" per point, space-separated. */
struct got {
	char text[8192];
};

static void collect(void *ctx, const struct mx_found *f)
{
	struct got *g = ctx;
	char v[64];
	mx_format_value(f->value, v, sizeof v);
	size_t len = strlen(g->text);
	snprintf(g->text + len, sizeof g->text - len, "%s%.*s=%s@%lld", len ? " " : "", (int)f->name_len, f->name, v,
		 f->step);
}

static struct mx_parser *parser_with(const struct rp_metrics_cfg *cfg)
{
	struct mx_parser *p;
	struct rp_err err = {0};
	assert_int_equal(mx_parser_new(cfg, &p, &err), 0);
	return p;
}

/* Feed text to a parser of the defaults (or cfg) and return what came out. */
static const char *parse_with(const struct rp_metrics_cfg *cfg, const char *text)
{
	static struct got g;
	memset(&g, 0, sizeof g);
	struct mx_parser *p = parser_with(cfg);
	mx_feed(p, text, strlen(text), collect, &g);
	mx_feed_end(p, collect, &g);
	mx_parser_free(p);
	return g.text;
}

static const char *parse(const char *text)
{
	return parse_with(NULL, text);
}

static void test_colon_pairs(void **state)
{
	(void)state;
	assert_string_equal(parse("epoch: 3 loss: 0.41 val_acc: 0.88\n"), "loss=0.41@3 val_acc=0.88@3");
	assert_string_equal(parse("train/loss: 1.5, val.acc: 2\n"), "train/loss=1.5@0 val.acc=2@0");
}

static void test_equals_pairs_and_spaced_step(void **state)
{
	(void)state;
	assert_string_equal(parse("step 120 loss=0.3 lr=1e-4\n"), "loss=0.3@120 lr=0.0001@120");
	assert_string_equal(parse("Epoch 3/10: loss = 0.5\n"), "loss=0.5@3");
	assert_string_equal(parse("[train] epoch=2 (loss=7)\n"), "loss=7@2");
	assert_string_equal(parse("loss=0.3 step=5\n"), "loss=0.3@5");
}

static void test_json_lines(void **state)
{
	(void)state;
	assert_string_equal(parse("{\"step\": 3, \"loss\": 0.41}\n"), "loss=0.41@3");
	assert_string_equal(parse("  {\"epoch\": 2, \"acc\": 1, \"note\": \"x\", \"nested\": {\"a\": 1}}  \n"), "acc=1@2");
	/* Python's json.dumps writes NaN and Infinity bare */
	assert_string_equal(parse("{\"step\": 1, \"loss\": NaN, \"g\": -Infinity, \"h\": Infinity}\n"),
			    "loss=nan@1 g=-inf@1 h=inf@1");
	assert_string_equal(parse("{\"a\": \"nan\", \"b\": \"inf\", \"c\": \"3\"}\n"), "a=nan@0 b=inf@0");
	assert_string_equal(parse("{\"step\":4,\"loss\":2}\n"), "loss=2@4");
	/* JSON allows spaces before a colon: the prefilter must not skip such a line */
	assert_string_equal(parse("{\"loss\" :3.5}\n"), "loss=3.5@0");
	assert_string_equal(parse("{\"loss\"\t :\t\"nan\"}\n"), "loss=nan@0");
	assert_string_equal(parse("loss:\r2 acc=\r1\n"), "loss=2@0 acc=1@0");
	/* nor one whose gaps are control bytes, which cJSON reads as whitespace */
	assert_string_equal(parse("{\"loss\":\x16" "93.5}\n"), "loss=93.5@0");
	/* a step that is not a step is not a metric either */
	assert_string_equal(parse("{\"step\": 2.5, \"epoch\": -1, \"loss\": 1}\n"), "loss=1@0");
}

static void test_malformed_json(void **state)
{
	(void)state;
	assert_string_equal(parse("{\"loss\": 0.4\n"), "");
	assert_string_equal(parse("{\"loss\": }\n"), "");
	assert_string_equal(parse("{loss: 1}\n"), "");
	assert_string_equal(parse("{\"loss\": 1,}\n"), "");
	assert_string_equal(parse("[1, 2, {\"loss\": 3}]\n"), "");
	assert_string_equal(parse("{\"text\": \"NaN here\", \"loss\": 1} trailing\n"), "");
	assert_string_equal(parse("{\"loss\": NaN}{\"loss\": 2}\n"), "");
}

static void test_values(void **state)
{
	(void)state;
	assert_string_equal(parse("a=1 b=-2 c=+3 d=.5 e=5. f=1.5e3 g=2E-2\n"), "a=1@0 b=-2@0 c=3@0 d=0.5@0 e=5@0 f=1500@0 g=0.02@0");
	assert_string_equal(parse("a: nan b: inf c: -inf d: NaN e: Infinity f: -INF\n"),
			    "a=nan@0 b=inf@0 c=-inf@0 d=nan@0 e=inf@0 f=-inf@0");
}

/* Every value equals what strtod makes of the same text (the parser converts plain decimals
 * itself). */
static void check_value(void *ctx, const struct mx_found *f)
{
	const char *text = ctx;
	double want = strtod(text, NULL);
	if (f->value != want)
		fail_msg("'%s' parsed as %.17g, strtod says %.17g", text, f->value, want);
}

static void test_values_exact(void **state)
{
	(void)state;
	unsigned int seed = 7;
	struct mx_parser *p = parser_with(NULL);
	for (int i = 0; i < 200000; i++) {
		char num[64], line[96];
		int digits = 1 + rand_r(&seed) % 17, frac = rand_r(&seed) % (digits + 1);
		unsigned long long v = ((unsigned long long)rand_r(&seed) << 31 | (unsigned long long)rand_r(&seed));
		snprintf(num, sizeof num, "%llu", v);
		num[digits < (int)strlen(num) ? digits : (int)strlen(num)] = '\0';
		size_t n = strlen(num);
		if (frac > 0 && (size_t)frac < n) {
			memmove(num + n - frac + 1, num + n - frac, (size_t)frac + 1);
			num[n - frac] = '.';
		}
		const char *sign = rand_r(&seed) % 2 ? "-" : "";
		char text[80];
		snprintf(text, sizeof text, "%s%s", sign, num);
		snprintf(line, sizeof line, "x=%s\n", text);
		mx_feed(p, line, strlen(line), check_value, text);
	}
	mx_parser_free(p);
}

static void test_implied_steps(void **state)
{
	(void)state;
	assert_string_equal(parse("loss: 1\nacc: 2\nloss: 3\nacc: 4\nloss: 5\n"),
			    "loss=1@0 acc=2@0 loss=3@1 acc=4@1 loss=5@2");
	assert_string_equal(parse("loss: 1 acc: 2\nloss: 3 acc: 4\n"), "loss=1@0 acc=2@0 loss=3@1 acc=4@1");
}

static void test_explicit_step_persists(void **state)
{
	(void)state;
	assert_string_equal(parse("epoch: 2\nloss: 5\nval: 1\nepoch: 3\nloss: 4\n"), "loss=5@2 val=1@2 loss=4@3");
}

static void test_look_alikes(void **state)
{
	(void)state;
	static const char *const lines[] = {
		"12:30:01 started",
		"2024-01-01 12:30:01 INFO ready",
		"time: 12:30:01",
		"see http://host:8080/path",
		"Serving on localhost:8080",
		"url=https://example.com/x?a=1",
		"wrote /data/x=3/file",
		"path=/data/run3",
		"C:\\Users\\x: 3",
		"ratio: 3/4",
		"acc: 88%",
		"loss: 0.3.",
		"version: 1.2.3",
		"a==b",
		"x: abc",
		"key:1",
		"3: 4",
		"-x=1",
		"size=12MB",
		"sha256=0e3f5a",
		"hash: 1e5f",
		"{\"step\": 1}",
		"loss:",
		"=5",
		"loss: 1,234 samples",
		"{\"loss\": 0.1}{\"loss\": 0.2}",
		"{\"loss\": 0.1} trailing",
	};
	for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
		char buf[256];
		snprintf(buf, sizeof buf, "%s\n", lines[i]);
		const char *got = parse(buf);
		if (*got)
			fail_msg("'%s' gave '%s'", lines[i], got);
	}
}

static void test_long_lines(void **state)
{
	(void)state;
	size_t n = 2 * 1024 * 1024;
	char *big = xmalloc(n + 64);
	memset(big, 'x', n);
	memcpy(big, "loss=1 ", 7);
	strcpy(big + n, "\nloss=2\n");
	struct got g = {0};
	struct mx_parser *p = parser_with(NULL);
	/* in pieces, as the pipe gives it */
	for (size_t off = 0; off < n + 8; off += 65536) {
		size_t len = strlen(big + off) < 65536 ? strlen(big + off) : 65536;
		mx_feed(p, big + off, len, collect, &g);
	}
	mx_feed_end(p, collect, &g);
	mx_parser_free(p);
	free(big);
	assert_string_equal(g.text, "loss=2@0");
}

static void test_binary_garbage(void **state)
{
	(void)state;
	unsigned char junk[200000];
	unsigned int seed = 42;
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (unsigned char)(rand_r(&seed) & 0xff);
	struct got g = {0};
	struct mx_parser *p = parser_with(NULL);
	mx_feed(p, (const char *)junk, sizeof junk, collect, &g);
	/* NUL bytes and invalid UTF-8 around a pair: neither ends a value nor makes a key */
	static const char odd[] = "loss=1\0x\n\xff\xfeloss=2\n\0loss=3\n\xc3(ok=4\n";
	mx_feed(p, odd, sizeof odd - 1, collect, &g);
	mx_feed(p, "good=5\n", 7, collect, &g);
	mx_feed_end(p, collect, &g);
	mx_parser_free(p);
	/* Whatever the random bytes gave, the last pair came through with a valid name. */
	assert_non_null(strstr(g.text, "good=5@"));
	assert_null(strstr(g.text, "loss=1@"));
	assert_null(strstr(g.text, "loss=2@"));
	assert_null(strstr(g.text, "loss=3@"));
}

static void test_chunks_do_not_matter(void **state)
{
	(void)state;
	const char *text = "epoch: 1 loss: 0.5\nnoise line\n{\"step\": 2, \"loss\": 0.25}\nstep 3 loss=0.125 lr=1e-3\nloss: 9";
	char whole[512];
	snprintf(whole, sizeof whole, "%s", parse(text));
	struct got g = {0};
	struct mx_parser *p = parser_with(NULL);
	for (const char *s = text; *s; s++)
		mx_feed(p, s, 1, collect, &g);
	mx_feed_end(p, collect, &g);
	mx_parser_free(p);
	assert_string_equal(g.text, whole);
	assert_string_equal(whole, "loss=0.5@1 loss=0.25@2 loss=0.125@3 lr=0.001@3 loss=9@3");
}

static void test_custom_patterns(void **state)
{
	(void)state;
	struct rp_metric_pattern pats[] = {
		{.regex = "(?<key>[a-z]+) is (?<value>[0-9.]+)"},
		{.name = "acc", .regex = "accuracy (\\d+\\.\\d+)%"},
		{.name = "tput", .regex = "iter (?<step>\\d+): (?<value>\\d+) img/s"},
	};
	struct rp_metrics_cfg cfg = {.patterns = pats, .npatterns = 3, .defaults = false};
	assert_string_equal(parse_with(&cfg, "loss is 0.5 and lr is 0.01\naccuracy 91.5%\niter 7: 300 img/s\nx=1\n"),
			    "loss=0.5@0 lr=0.01@0 acc=91.5@0 tput=300@7");
	cfg.defaults = true;
	assert_string_equal(parse_with(&cfg, "loss is 2 x=1\n"), "x=1@0 loss=2@0");
	/* a value group that is not a number gives nothing */
	struct rp_metric_pattern bad_value[] = {{.name = "v", .regex = "v(\\w+)"}};
	struct rp_metrics_cfg cfg2 = {.patterns = bad_value, .npatterns = 1, .defaults = false};
	assert_string_equal(parse_with(&cfg2, "vabc v12\n"), "v=12@0");
}

static void test_pattern_errors(void **state)
{
	(void)state;
	char msg[256];
	size_t off;
	assert_int_equal(mx_pattern_check("(?<key>\\w+)=(?<value>\\d+", false, msg, sizeof msg, &off), -1);
	assert_non_null(strstr(msg, "invalid regex"));
	assert_int_equal(off, 24);
	assert_int_equal(mx_pattern_check("(\\w+)=(\\d+)", false, msg, sizeof msg, &off), -1);
	assert_non_null(strstr(msg, "(?<key>"));
	assert_int_equal(mx_pattern_check("loss", true, msg, sizeof msg, &off), -1);
	assert_non_null(strstr(msg, "group"));
	assert_int_equal(mx_pattern_check("loss (\\d+)", true, msg, sizeof msg, &off), 0);
	assert_int_equal(mx_pattern_check("(?<key>\\w+)=(?<value>\\d+)", false, msg, sizeof msg, &off), 0);
	/* a pathological pattern gives up on the line instead of stalling */
	struct rp_metric_pattern slow[] = {{.name = "x", .regex = "^(a+)+(?<value>\\d)$"}};
	struct rp_metrics_cfg cfg = {.patterns = slow, .npatterns = 1, .defaults = false};
	char line[128];
	memset(line, 'a', 60);
	strcpy(line + 60, "!\nx=1\n");
	assert_string_equal(parse_with(&cfg, line), "");
}

/* ---- the recorder ---- */

static char *slurp(const char *dir, const char *name)
{
	char *path = path_join(dir, name);
	char *data = NULL;
	size_t len;
	struct rp_err err = {0};
	int rc = read_file(path, &data, &len, &err);
	free(path);
	return rc == 0 ? data : NULL;
}

static void append(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_recorder_files_and_summary(void **state)
{
	const char *dir = *state;
	char *job = path_join(dir, "job.jsonl");
	struct mx_recorder *m;
	struct rp_err err = {0};
	assert_int_equal(mx_recorder_open(dir, job, NULL, &m, &err), 0);
	const char *out = "epoch: 1 loss: 0.5\nepoch: 2 loss: nan\nepoch: 3 loss: 0.25 acc: 0.9\nhalf=";
	mx_recorder_feed(m, out, strlen(out));
	append(job, "{\"step\": 7, \"tput\": 100}\n{\"tput\": 1");
	mx_recorder_poll_job_file(m);
	/* while running: what was found is in metrics.jsonl already */
	char *jsonl = slurp(dir, RP_METRICS_JSONL);
	assert_non_null(jsonl);
	assert_non_null(strstr(jsonl, "{\"name\":\"loss\",\"step\":2,\"value\":\"nan\","));
	assert_non_null(strstr(jsonl, "\"name\":\"tput\",\"step\":7,\"value\":100,"));
	assert_non_null(strstr(jsonl, "\"source\":\"file\"}"));
	free(jsonl);
	mx_recorder_feed(m, "2\n", 2);
	append(job, "20}\n");
	cJSON *sum;
	assert_int_equal(mx_recorder_finish(m, &sum, &err), 0);
	mx_recorder_free(m);
	assert_non_null(sum);
	char *s = cJSON_PrintUnformatted(sum);
	assert_string_equal(s, "{\"acc\":{\"last\":0.9,\"min\":0.9,\"max\":0.9,\"count\":1,\"last_step\":3},"
			       "\"half\":{\"last\":2,\"min\":2,\"max\":2,\"count\":1,\"last_step\":3},"
			       "\"loss\":{\"last\":0.25,\"min\":0.25,\"max\":0.5,\"count\":3,\"last_step\":3},"
			       "\"tput\":{\"last\":120,\"min\":100,\"max\":120,\"count\":2,\"last_step\":7}}");
	free(s);
	/* metrics.json: per metric steps, values, timestamps, sources */
	char *mj = slurp(dir, RP_METRICS_JSON);
	cJSON *doc = cJSON_Parse(mj);
	free(mj);
	assert_non_null(doc);
	const cJSON *loss = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "metrics"), "loss");
	char *ls = cJSON_PrintUnformatted(cJSON_GetObjectItem(loss, "values"));
	assert_string_equal(ls, "[0.5,\"nan\",0.25]");
	free(ls);
	ls = cJSON_PrintUnformatted(cJSON_GetObjectItem(loss, "steps"));
	assert_string_equal(ls, "[1,2,3]");
	free(ls);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(loss, "timestamps")), 3);
	const cJSON *tput = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "metrics"), "tput");
	ls = cJSON_PrintUnformatted(cJSON_GetObjectItem(tput, "sources"));
	assert_string_equal(ls, "[\"file\",\"file\"]");
	free(ls);
	cJSON_Delete(doc);
	/* read back: the same series and summaries */
	struct mx_set set;
	assert_int_equal(mx_read_series(dir, &set, &err), 0);
	assert_int_equal(set.n, 4);
	const struct mx_series *l = mx_set_find(&set, "loss");
	assert_non_null(l);
	assert_int_equal(l->n, 3);
	assert_true(isnan(l->pts[1].value));
	assert_float_equal(l->sum.max, 0.5, 0);
	assert_int_equal(l->sum.count, 3);
	mx_set_free(&set);
	struct rp_run r = {.status = RP_SUCCESS};
	record_set_section(&r, "metrics", sum);
	assert_int_equal(mx_read_summary("/nonexistent", &r, &set, &err), 0);
	assert_int_equal(set.n, 4);
	assert_float_equal(mx_set_find(&set, "tput")->sum.last, 120, 0);
	assert_null(mx_set_find(&set, "tput")->pts);
	mx_set_free(&set);
	cJSON_Delete(r.sections);
	free(job);
}

static void test_recorder_refuses_links_and_fifos(void **state)
{
	const char *dir = *state;
	char *secret = path_join(dir, "secret.jsonl");
	append(secret, "{\"leak\": 1}\n");
	char *job = path_join(dir, "job.jsonl");
	assert_int_equal(symlink(secret, job), 0);
	struct mx_recorder *m;
	struct rp_err err = {0};
	assert_int_equal(mx_recorder_open(dir, job, NULL, &m, &err), 0);
	cJSON *sum;
	assert_int_equal(mx_recorder_finish(m, &sum, &err), 0);
	mx_recorder_free(m);
	assert_null(sum);
	/* nothing reported: no metrics files */
	char *p = path_join(dir, RP_METRICS_JSONL);
	assert_false(path_exists(p));
	free(p);
	unlink(job);
	assert_int_equal(link(secret, job), 0);   /* a hard link to another file */
	assert_int_equal(mx_recorder_open(dir, job, NULL, &m, &err), 0);
	assert_int_equal(mx_recorder_finish(m, &sum, &err), 0);
	mx_recorder_free(m);
	assert_null(sum);
	unlink(job);
	assert_int_equal(mkfifo(job, 0644), 0);   /* a FIFO must not block the supervisor */
	assert_int_equal(mx_recorder_open(dir, job, NULL, &m, &err), 0);
	mx_recorder_poll_job_file(m);
	assert_int_equal(mx_recorder_finish(m, &sum, &err), 0);
	mx_recorder_free(m);
	assert_null(sum);
	free(job);
	free(secret);
}

static void test_recorder_bad_pattern_is_usage_error(void **state)
{
	struct rp_metric_pattern pats[] = {{.regex = "(unclosed"}};
	struct rp_metrics_cfg cfg = {.patterns = pats, .npatterns = 1, .defaults = true};
	struct mx_recorder *m;
	struct rp_err err = {0};
	assert_int_equal(mx_recorder_open(*state, NULL, &cfg, &m, &err), -1);
	assert_int_equal(err.kind, RP_ERR_USAGE);
	assert_non_null(strstr(err.msg, "metrics.patterns[0]"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_colon_pairs),
		cmocka_unit_test(test_equals_pairs_and_spaced_step),
		cmocka_unit_test(test_json_lines),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_values_exact),
		cmocka_unit_test(test_implied_steps),
		cmocka_unit_test(test_explicit_step_persists),
		cmocka_unit_test(test_look_alikes),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_binary_garbage),
		cmocka_unit_test(test_chunks_do_not_matter),
		cmocka_unit_test(test_custom_patterns),
		cmocka_unit_test(test_pattern_errors),
		cmocka_unit_test_setup_teardown(test_recorder_files_and_summary, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_recorder_refuses_links_and_fifos, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_recorder_bad_pattern_is_usage_error, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
