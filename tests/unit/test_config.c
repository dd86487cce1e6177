/* config.c: valid configs, every bad-input class with its exact "PATH:LINE:COL: message",
 * command-line overrides, unit parsers and the config.yaml round trip. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

/* ---- fixture: a temp dir holding cfg.yaml ---- */

struct fx {
	char *dir;
	char *path; /* <dir>/cfg.yaml */
};

static int setup(void **state)
{
	char tmpl[] = "/tmp/rp-test-config-XXXXXX";
	if (!mkdtemp(tmpl))
		return -1;
	struct fx *f = xcalloc(1, sizeof *f);
	f->dir = xstrdup(tmpl);
	f->path = path_join(f->dir, "cfg.yaml");
	/* the fixture is its own repository (a runpilot.yaml above it is not searched) with its
	 * own home (no user config of whoever runs the tests) */
	char *git = path_join(f->dir, ".git"), *home = path_join(f->dir, "home");
	int rc = mkdir(git, 0755) | mkdir(home, 0755) | setenv("RUNPILOT_HOME", home, 1);
	free(git);
	free(home);
	*state = f;
	return rc ? -1 : 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int rc = rm_rf(f->dir, NULL);
	free(f->dir);
	free(f->path);
	free(f);
	return rc;
}

static void write_text(const char *path, const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0644, NULL), 0);
}

static void load_ok(struct fx *f, const char *text, const struct rp_overrides *ov, struct rp_spec *s)
{
	write_text(f->path, text);
	struct rp_err e = {0};
	int rc = config_load(f->path, ov, s, &e);
	if (rc != 0)
		fail_msg("config_load failed: %s", e.msg);
}

/* The config must be rejected with exactly "<path>:<line>:<col>: <msg>", as a usage error,
 * leaving nothing allocated in the spec. */
static void expect_error(struct fx *f, const char *text, int line, int col, const char *msg)
{
	write_text(f->path, text);
	struct rp_spec s;
	struct rp_err e = {0};
	assert_int_equal(config_load(f->path, NULL, &s, &e), -1);
	char *want = xasprintf("%s:%d:%d: %s", f->path, line, col, msg);
	assert_string_equal(e.msg, want);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_null(strchr(e.msg, '\n')); /* one line */
	assert_null(s.name);
	assert_null(s.argv);
	free(want);
}

static const struct rp_kv *param(const struct rp_spec *s, const char *key)
{
	for (size_t i = 0; i < s->nparams; i++)
		if (!strcmp(s->params[i].key, key))
			return &s->params[i];
	fail_msg("no param '%s'", key);
	return NULL;
}

static void expect_param(const struct rp_spec *s, const char *key, const char *value, enum rp_scalar_type t)
{
	const struct rp_kv *kv = param(s, key);
	assert_string_equal(kv->value, value);
	if (kv->type != t)
		fail_msg("param '%s' has type %d, want %d", key, (int)kv->type, (int)t);
}

/* ---- valid configs ---- */

static const char full_config[] =
	"# a full config\n"
	"name: mnist-cnn-baseline\n"
	"entrypoint: \"python train.py --lr 0.1\"\n"
	"image: \"python:3.11-slim\"\n"
	"workdir: sub\n"
	"env: {PYTHONUNBUFFERED: \"1\", DEBUG: 0, EMPTY: \"\"}\n"
	"params:\n"
	"  learning_rate: 0.001\n"
	"  batch_size: 64\n"
	"  epochs: 10\n"
	"tags: [mnist, cnn, baseline]\n"
	"resources: {cpus: 1.5, memory: 2g, pids: 512, timeout: 30m}\n";

static void test_full_config(void **state)
{
	struct fx *f = *state;
	char *sub = path_join(f->dir, "sub");
	assert_int_equal(mkdir(sub, 0755), 0);
	struct rp_spec s;
	load_ok(f, full_config, NULL, &s);
	assert_string_equal(s.config_path, f->path);
	assert_string_equal(s.config_dir, f->dir);
	assert_string_equal(s.name, "mnist-cnn-baseline");
	assert_string_equal(s.image, "python:3.11-slim");
	assert_string_equal(s.workdir_raw, "sub");
	assert_string_equal(s.workdir, sub);

	assert_int_equal(s.nenv, 3);
	assert_string_equal(s.env[0].key, "PYTHONUNBUFFERED");
	assert_string_equal(s.env[0].value, "1");
	assert_string_equal(s.env[1].key, "DEBUG");
	assert_string_equal(s.env[1].value, "0");
	assert_string_equal(s.env[2].value, "");
	for (size_t i = 0; i < s.nenv; i++)
		assert_int_equal(s.env[i].type, RP_STR); /* env values are always strings */

	assert_int_equal(s.nparams, 3);
	assert_string_equal(s.params[0].key, "learning_rate"); /* file order kept */
	expect_param(&s, "learning_rate", "0.001", RP_FLOAT);
	expect_param(&s, "batch_size", "64", RP_INT);
	expect_param(&s, "epochs", "10", RP_INT);

	assert_int_equal(s.ntags, 3);
	assert_string_equal(s.tags[0], "mnist");
	assert_string_equal(s.tags[1], "cnn");
	assert_string_equal(s.tags[2], "baseline");

	assert_float_equal(s.resources.cpus, 1.5, 1e-9);
	assert_int_equal(s.resources.memory_bytes, 2LL * 1024 * 1024 * 1024);
	assert_int_equal(s.resources.pids, 512);
	assert_float_equal(s.resources.timeout_s, 1800, 1e-9);

	/* no sandbox: section, yet its defaults are filled */
	assert_false(s.has_sandbox);
	assert_string_equal(s.sandbox.network, "outbound");
	assert_string_equal(s.sandbox.seccomp_profile, "default");
	config_free(&s);
	assert_null(s.name);
	free(sub);
}

static void test_minimal_config_defaults(void **state)
{
	struct fx *f = *state;
	struct rp_spec s;
	load_ok(f, "name: a\nentrypoint: true\n", NULL, &s);
	assert_string_equal(s.workdir, f->dir); /* default: the config's folder */
	assert_null(s.workdir_raw);
	assert_null(s.image);
	assert_int_equal(s.nenv, 0);
	assert_int_equal(s.nparams, 0);
	assert_int_equal(s.ntags, 0);
	assert_true(s.resources.cpus == 0 && s.resources.memory_bytes == 0 && s.resources.pids == 0 &&
		    s.resources.timeout_s == 0);
	assert_string_equal(s.argv[2], "true"); /* a plain scalar that looks like a bool is still text */
	config_free(&s);
}

static void test_string_entrypoint_runs_with_sh(void **state)
{
	struct fx *f = *state;
	struct rp_spec s;
	load_ok(f, "name: a\nentrypoint: python train.py --epochs 3 && echo done\n", NULL, &s);
	assert_false(s.entrypoint_is_list);
	assert_string_equal(s.entrypoint, "python train.py --epochs 3 && echo done");
	assert_string_equal(s.argv[0], "/bin/sh");
	assert_string_equal(s.argv[1], "-c");
	assert_string_equal(s.argv[2], "python train.py --epochs 3 && echo done");
	assert_null(s.argv[3]);
	config_free(&s);
}

static void test_list_entrypoint_is_argv(void **state)
{
	struct fx *f = *state;
	struct rp_spec s;
	load_ok(f,
		"name: a\n"
		"entrypoint:\n"
		"  - python3\n"
		"  - train.py\n"
		"  - --lr\n"
		"  - 0.1\n"
		"  - \"it's here\"\n"
		"  - \"\"\n",
		NULL, &s);
	assert_true(s.entrypoint_is_list);
	const char *want[] = {"python3", "train.py", "--lr", "0.1", "it's here", ""};
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(s.argv[i], want[i]);
	assert_null(s.argv[6]);
	/* the text form is shell-quoted so it can be pasted back into a shell */
	assert_string_equal(s.entrypoint, "python3 train.py --lr 0.1 'it'\\''s here' ''");
	config_free(&s);
}

static void test_param_types(void **state)
{
	struct fx *f = *state;
	struct rp_spec s;
	load_ok(f,
		"name: a\n"
		"entrypoint: x\n"
		"params:\n"
		"  i: 64\n"
		"  neg: -3\n"
		"  fl: 0.001\n"
		"  sci: 1e-4\n"
		"  t: true\n"
		"  F: False\n"
		"  s: adam\n"
		"  quoted: \"1\"\n"
		"  single: '2.5'\n"
		"  qbool: \"true\"\n"
		"  yes_word: yes\n"
		"  n1: null\n"
		"  n2: ~\n"
		"  n3:\n"
		"  qnull: \"null\"\n"
		"  hex: 0x1A\n"
		"  big: 99999999999999999999\n"
		"  dotted.name-1: v\n",
		NULL, &s);
	expect_param(&s, "i", "64", RP_INT);
	expect_param(&s, "neg", "-3", RP_INT);
	expect_param(&s, "fl", "0.001", RP_FLOAT);
	expect_param(&s, "sci", "1e-4", RP_FLOAT);
	expect_param(&s, "t", "true", RP_BOOL);
	expect_param(&s, "F", "False", RP_BOOL);
	expect_param(&s, "s", "adam", RP_STR);
	expect_param(&s, "quoted", "1", RP_STR);
	expect_param(&s, "single", "2.5", RP_STR);
	expect_param(&s, "qbool", "true", RP_STR);
	expect_param(&s, "yes_word", "yes", RP_STR); /* YAML 1.2: yes is a string */
	expect_param(&s, "n1", "null", RP_NULL);
	expect_param(&s, "n2", "~", RP_NULL);
	expect_param(&s, "n3", "", RP_NULL);
	expect_param(&s, "qnull", "null", RP_STR);
	expect_param(&s, "hex", "0x1A", RP_STR);
	expect_param(&s, "dotted.name-1", "v", RP_STR);

	/* params.json: typed JSON values */
	cJSON *j = config_params_json(&s);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "i")));
	assert_int_equal(cJSON_GetObjectItem(j, "i")->valueint, 64);
	assert_int_equal(cJSON_GetObjectItem(j, "neg")->valueint, -3);
	assert_float_equal(cJSON_GetObjectItem(j, "fl")->valuedouble, 0.001, 1e-12);
	assert_float_equal(cJSON_GetObjectItem(j, "sci")->valuedouble, 0.0001, 1e-12);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "t")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(j, "F")));
	assert_string_equal(cJSON_GetObjectItem(j, "s")->valuestring, "adam");
	assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "quoted")));
	assert_string_equal(cJSON_GetObjectItem(j, "quoted")->valuestring, "1");
	assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "qbool")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "n1")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "n3")));
	assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "qnull")));
	/* an integer too big for a double stays exact, as text */
	assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "big")));
	assert_string_equal(cJSON_GetObjectItem(j, "big")->valuestring, "99999999999999999999");
	cJSON_Delete(j);
	config_free(&s);
}

static void test_sandbox_and_fingerprint_sections(void **state)
{
	struct fx *f = *state;
	char *old_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
	setenv("HOME", "/home/tester", 1);
	struct rp_spec s;
	load_ok(f,
		"name: a\n"
		"entrypoint: x\n"
		"sandbox:\n"
		"  network: none\n"
		"  rootfs: rootfs/debian\n"
		"  mounts:\n"
		"    - {src: /data/../data/mnist, dst: /mnt/data}\n"
		"    - {src: ~/cache, dst: /cache, readonly: false}\n"
		"  mask: [/etc/shadow, ~/.ssh]\n"
		"  capabilities: [CAP_NET_BIND_SERVICE]\n"
		"  seccomp: {profile: strict, deny: [ptrace, mount], log: true}\n"
		"  gpus: all\n"
		"  userns: true\n"
		"  env_pass: [HF_HOME, WANDB_*]\n"
		"fingerprint:\n"
		"  env: [CUDA_VISIBLE_DEVICES, OMP_NUM_THREADS]\n"
		"  max_bytes: 1g\n",
		NULL, &s);
	if (old_home)
		setenv("HOME", old_home, 1);
	else
		unsetenv("HOME");
	free(old_home);
	assert_true(s.has_sandbox);
	struct rp_sandbox_cfg *sb = &s.sandbox;
	assert_string_equal(sb->network, "none");
	char *rootfs = path_join(f->dir, "rootfs/debian"); /* relative to the config's folder */
	assert_string_equal(sb->rootfs, rootfs);
	free(rootfs);
	assert_int_equal(sb->nmounts, 2);
	assert_string_equal(sb->mounts[0].src, "/data/mnist");
	assert_string_equal(sb->mounts[0].dst, "/mnt/data");
	assert_true(sb->mounts[0].readonly); /* read-only unless asked */
	assert_string_equal(sb->mounts[1].src, "/home/tester/cache");
	assert_false(sb->mounts[1].readonly);
	assert_int_equal(sb->nmask, 2);
	assert_string_equal(sb->mask[0], "/etc/shadow");
	assert_string_equal(sb->mask[1], "/home/tester/.ssh");
	assert_int_equal(sb->ncapabilities, 1);
	assert_string_equal(sb->capabilities[0], "CAP_NET_BIND_SERVICE");
	assert_string_equal(sb->seccomp_profile, "strict");
	assert_int_equal(sb->nseccomp_deny, 2);
	assert_string_equal(sb->seccomp_deny[1], "mount");
	assert_true(sb->seccomp_log);
	assert_true(sb->gpus);
	assert_int_equal(sb->nenv_pass, 2);
	assert_string_equal(sb->env_pass[1], "WANDB_*");
	assert_int_equal(s.fingerprint.nenv, 2);
	assert_string_equal(s.fingerprint.env[0], "CUDA_VISIBLE_DEVICES");
	assert_int_equal(s.fingerprint.max_bytes, 1LL << 30);

	cJSON *j = config_to_json(&s);
	cJSON *jsb = cJSON_GetObjectItem(j, "sandbox");
	assert_string_equal(cJSON_GetObjectItem(jsb, "network")->valuestring, "none");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(jsb, "seccomp"), "profile")->valuestring,
			    "strict");
	assert_string_equal(cJSON_GetObjectItem(jsb, "gpus")->valuestring, "all");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(jsb, "mounts")), 2);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(jsb, "env_pass")), 2);
	cJSON *jfp = cJSON_GetObjectItem(j, "fingerprint");
	assert_float_equal(cJSON_GetObjectItem(jfp, "max_bytes")->valuedouble, (double)(1LL << 30), 0);
	cJSON_Delete(j);
	config_free(&s);
}

static void test_seccomp_as_profile_name(void **state)
{
	struct fx *f = *state;
	struct rp_spec s;
	load_ok(f, "name: a\nentrypoint: x\nsandbox: {seccomp: unconfined, gpus: none, userns: true}\n", NULL, &s);
	assert_string_equal(s.sandbox.seccomp_profile, "unconfined");
	assert_false(s.sandbox.gpus);
	assert_string_equal(s.sandbox.network, "outbound");
	config_free(&s);
}

/* workdir is relative to the config file's folder, never to the caller's working directory. */
static void test_workdir_relative_to_config_dir(void **state)
{
	struct fx *f = *state;
	char *data = path_join(f->dir, "data");
	assert_int_equal(mkdir(data, 0755), 0);
	char *cwd = getcwd(NULL, 0);
	assert_int_equal(chdir("/"), 0);
	struct rp_spec s;
	load_ok(f, "name: a\nentrypoint: x\nworkdir: ./data/../data\n", NULL, &s);
	assert_string_equal(s.workdir, data);
	assert_string_equal(s.workdir_raw, "./data/../data");
	config_free(&s);
	load_ok(f, "name: a\nentrypoint: x\nworkdir: .\n", NULL, &s);
	assert_string_equal(s.workdir, f->dir);
	config_free(&s);
	load_ok(f, "name: a\nentrypoint: x\nworkdir: /\n", NULL, &s);
	assert_string_equal(s.workdir, "/");
	config_free(&s);

	/* a relative config path is made absolute, and so is everything derived from it */
	assert_int_equal(chdir(data), 0);
	struct rp_err e = {0};
	int rc = config_load("../cfg.yaml", NULL, &s, &e);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, 0);
	assert_string_equal(s.config_path, f->path);
	assert_string_equal(s.config_dir, f->dir);
	assert_string_equal(s.workdir, "/");
	config_free(&s);
	free(cwd);
	free(data);
}

/* ---- overrides ---- */

static void test_overrides(void **state)
{
	struct fx *f = *state;
	const char *tags[] = {"cnn", "sweep-3"};
	const char *params[] = {"lr=0.01", "epochs=20", "quoted=7", "new_one=1", "flag=true", "opt=sgd",
				"note=", "lr=0.02"};
	struct rp_overrides ov = {.name = "renamed.run_2", .tags = tags, .ntags = 2, .params = params,
				  .nparams = 8};
	struct rp_spec s;
	load_ok(f,
		"name: a\nentrypoint: x\n"
		"params: {lr: 0.1, epochs: 10, quoted: \"1\", opt: adam}\n"
		"tags: [mnist, cnn]\n",
		&ov, &s);
	assert_string_equal(s.name, "renamed.run_2");
	assert_int_equal(s.ntags, 3); /* "cnn" not doubled */
	assert_string_equal(s.tags[0], "mnist");
	assert_string_equal(s.tags[1], "cnn");
	assert_string_equal(s.tags[2], "sweep-3");
	assert_null(s.tags[3]);
	assert_int_equal(s.nparams, 7);
	/* overridden in place (order kept), with types inferred from the new text; the last one wins */
	assert_string_equal(s.params[0].key, "lr");
	expect_param(&s, "lr", "0.02", RP_FLOAT);
	expect_param(&s, "epochs", "20", RP_INT);
	expect_param(&s, "quoted", "7", RP_INT);
	expect_param(&s, "opt", "sgd", RP_STR);
	/* new params are appended */
	assert_string_equal(s.params[4].key, "new_one");
	expect_param(&s, "new_one", "1", RP_INT);
	expect_param(&s, "flag", "true", RP_BOOL);
	expect_param(&s, "note", "", RP_NULL);
	config_free(&s);
}

static void test_override_adds_params_and_tags_to_bare_config(void **state)
{
	struct fx *f = *state;
	const char *tags[] = {"t1"};
	const char *params[] = {"batch_size=32", "url=http://x/?a=b"};
	struct rp_overrides ov = {.tags = tags, .ntags = 1, .params = params, .nparams = 2,
				  .resources = {.memory_bytes = 1 << 20, .timeout_s = 5}};
	struct rp_spec s;
	load_ok(f, "name: a\nentrypoint: x\nresources: {memory: 2g, cpus: 2}\n", &ov, &s);
	assert_int_equal(s.ntags, 1);
	assert_string_equal(s.tags[0], "t1");
	assert_int_equal(s.nparams, 2);
	expect_param(&s, "batch_size", "32", RP_INT);
	expect_param(&s, "url", "http://x/?a=b", RP_STR); /* only the first '=' splits */
	assert_string_equal(s.name, "a");
	assert_int_equal(s.resources.memory_bytes, 1 << 20);
	assert_float_equal(s.resources.timeout_s, 5, 0);
	assert_float_equal(s.resources.cpus, 2, 0); /* not overridden */
	config_free(&s);
}

static void expect_override_error(struct fx *f, const struct rp_overrides *ov, const char *msg)
{
	write_text(f->path, "name: a\nentrypoint: x\n");
	struct rp_spec s;
	struct rp_err e = {0};
	assert_int_equal(config_load(f->path, ov, &s, &e), -1);
	assert_string_equal(e.msg, msg);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_null(s.name);
}

static void test_override_errors(void **state)
{
	struct fx *f = *state;
	const char *p1[] = {"noequals"};
	struct rp_overrides ov = {.params = p1, .nparams = 1};
	expect_override_error(f, &ov, "--param 'noequals': expected KEY=VALUE");
	const char *p2[] = {"=5"};
	ov.params = p2;
	expect_override_error(f, &ov, "--param '=5': expected KEY=VALUE");
	const char *p3[] = {"bad key=1"};
	ov.params = p3;
	expect_override_error(f, &ov, "--param 'bad key=1': name may only use letters, digits, '.', '_' and '-'");
	struct rp_overrides ov2 = {.name = "my run"};
	expect_override_error(f, &ov2, "--name 'my run': may only use letters, digits, '.', '_' and '-' (at most 64)");
	const char *t[] = {""};
	struct rp_overrides ov3 = {.tags = t, .ntags = 1};
	expect_override_error(f, &ov3, "--tag: a tag must not be empty");
}

/* ---- bad input: every class, with its exact position ---- */

static void test_err_unknown_top_key_suggests(void **state)
{
	expect_error(*state, "name: demo\nentrypiont: python train.py\n", 2, 1,
		     "unknown key 'entrypiont' (did you mean 'entrypoint'?)");
	expect_error(*state, "name: demo\nentrypoint: x\nparam: {a: 1}\n", 3, 1,
		     "unknown key 'param' (did you mean 'params'?)");
}

static void test_err_unknown_top_key_far_off(void **state)
{
	expect_error(*state, "name: demo\nentrypoint: x\ncolour: red\n", 3, 1, "unknown key 'colour'");
	/* a quoted key with line breaks: the error stays one line */
	expect_error(*state, "name: demo\nentrypoint: x\n\"col\\nour\\t\": red\n", 3, 1, "unknown key 'col?our?'");
}

static void test_err_unknown_nested_key(void **state)
{
	expect_error(*state, "name: demo\nentrypoint: x\nresources:\n  cpus: 2\n  memroy: 2g\n", 5, 3,
		     "unknown key 'memroy' in 'resources' (did you mean 'memory'?)");
	expect_error(*state, "name: demo\nentrypoint: x\nresources: {cpus: 2, timout: 5m}\n", 3, 22,
		     "unknown key 'timout' in 'resources' (did you mean 'timeout'?)");
	expect_error(*state, "name: demo\nentrypoint: x\nsandbox:\n  netwrok: none\n", 4, 3,
		     "unknown key 'netwrok' in 'sandbox' (did you mean 'network'?)");
	expect_error(*state, "name: demo\nentrypoint: x\nsandbox:\n  seccomp:\n    profil: strict\n", 5, 5,
		     "unknown key 'profil' in 'sandbox.seccomp' (did you mean 'profile'?)");
	expect_error(*state, "name: demo\nentrypoint: x\nsandbox:\n  mounts:\n    - {src: /a, dest: /b}\n", 5, 17,
		     "unknown key 'dest' in 'sandbox.mounts' (did you mean 'dst'?)");
	expect_error(*state, "name: demo\nentrypoint: x\nfingerprint: {max_byte: 1g}\n", 3, 15,
		     "unknown key 'max_byte' in 'fingerprint' (did you mean 'max_bytes'?)");
}

static void test_err_wrong_types(void **state)
{
	expect_error(*state, "name: [a, b]\nentrypoint: x\n", 1, 7, "'name' must be a string, not a list");
	expect_error(*state, "name: demo\nentrypoint: x\nparams:\n  lr: {a: 1}\n", 4, 7,
		     "params.lr must be a scalar (string, number or bool), not a mapping");
	expect_error(*state, "name: demo\nentrypoint: x\nparams:\n  lr: [1, 2]\n", 4, 7,
		     "params.lr must be a scalar (string, number or bool), not a list");
	expect_error(*state, "name: demo\nentrypoint: x\ntags: mnist\n", 3, 7, "'tags' must be a list, not a scalar");
	expect_error(*state, "name: demo\nentrypoint: x\ntags: [a, [b]]\n", 3, 11,
		     "'tags' items must be non-empty strings");
	expect_error(*state, "name: demo\nentrypoint: x\nparams: [1, 2]\n", 3, 9,
		     "'params' must be a mapping, not a list");
	expect_error(*state, "name: demo\nentrypoint: x\nenv: PATH=/bin\n", 3, 6, "'env' must be a mapping, not a scalar");
	expect_error(*state, "name: demo\nentrypoint: {cmd: x}\n", 2, 13,
		     "'entrypoint' must be a string or a list of strings, not a mapping");
	expect_error(*state, "name: demo\nentrypoint: [python, [a]]\n", 2, 22,
		     "'entrypoint' list items must be strings, not a list");
	expect_error(*state, "name: demo\nentrypoint: x\nimage: {a: b}\n", 3, 8, "'image' must be a string, not a mapping");
	expect_error(*state, "name: demo\nentrypoint: x\nresources: 4\n", 3, 12, "'resources' must be a mapping, not a scalar");
	expect_error(*state, "name: demo\nentrypoint: x\nresources: {memory: [1g]}\n", 3, 21,
		     "resources.memory must be a scalar, not a list");
	expect_error(*state, "name: demo\nentrypoint: x\nenv: {1BAD: x}\n", 3, 7,
		     "'1BAD' is not a valid environment variable name");
	expect_error(*state, "name: demo\nentrypoint: x\nparams: {\"a b\": 1}\n", 3, 10,
		     "param name 'a b' may only use letters, digits, '.', '_' and '-'");
	expect_error(*state, "name: demo\nentrypoint: x\n[a]: 1\n", 3, 1, "keys must be plain names, not a list");
}

static void test_err_bad_units(void **state)
{
	expect_error(*state, "name: demo\nentrypoint: x\nresources:\n  memory: lots\n", 4, 11,
		     "resources.memory: 'lots' is not a size (e.g. 512m, 2g)");
	expect_error(*state, "name: demo\nentrypoint: x\nresources:\n  timeout: 5x\n", 4, 12,
		     "resources.timeout: '5x' is not a duration (e.g. 90s, 30m, 2h)");
	expect_error(*state, "name: demo\nentrypoint: x\nresources:\n  cpus: -1\n", 4, 9,
		     "resources.cpus: '-1' is not a positive number of CPUs (e.g. 1.5)");
	expect_error(*state, "name: demo\nentrypoint: x\nresources:\n  pids: 1.5\n", 4, 9,
		     "resources.pids: '1.5' is not a positive integer");
	expect_error(*state, "name: demo\nentrypoint: x\nresources:\n  memory: 0\n", 4, 11,
		     "resources.memory: '0' is not a size (e.g. 512m, 2g)");
	expect_error(*state, "name: demo\nentrypoint: x\nfingerprint:\n  max_bytes: huge\n", 4, 14,
		     "fingerprint.max_bytes must be a size (e.g. 2g)");
}

static void test_err_image_conflicts(void **state)
{
	struct fx *f = *state;
	expect_error(f, "name: demo\nentrypoint: x\nimage: \"\"\n", 3, 8,
		     "image must name an image (\"python:3.11-slim\"), not be empty");
	write_text(f->path, "name: demo\nentrypoint: x\nimage: busybox\nsandbox:\n  rootfs: /srv/root\n");
	struct rp_spec s;
	struct rp_err e = {0};
	assert_int_equal(config_load(f->path, NULL, &s, &e), -1);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_non_null(strstr(e.msg, "image and sandbox.rootfs both name the job's root filesystem: keep one"));
}

static void test_err_missing_required(void **state)
{
	expect_error(*state, "entrypoint: python train.py\n", 1, 1, "missing required key 'name'");
	expect_error(*state, "# comment\n\nentrypoint: x\n", 3, 1, "missing required key 'name'");
	expect_error(*state, "name: demo\nimage: python\n", 1, 1, "missing required key 'entrypoint'");
}

static void test_err_invalid_name(void **state)
{
	expect_error(*state, "name: \"my run!\"\nentrypoint: x\n", 1, 7,
		     "name 'my run!' may only use letters, digits, '.', '_' and '-' (at most 64)");
	char long_name[66];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	char *text = xasprintf("entrypoint: x\nname: %s\n", long_name);
	char *msg = xasprintf("name '%s' may only use letters, digits, '.', '_' and '-' (at most 64)", long_name);
	expect_error(*state, text, 2, 7, msg);
	free(msg);
	free(text);
	expect_error(*state, "name: \"\"\nentrypoint: x\n", 1, 7,
		     "name '' may only use letters, digits, '.', '_' and '-' (at most 64)");
	expect_error(*state, "name:\nentrypoint: x\n", 1, 6, "'name' must be a string, not empty");
	/* exactly 64 is fine */
	struct fx *f = *state;
	long_name[64] = '\0';
	text = xasprintf("name: %s\nentrypoint: x\n", long_name);
	struct rp_spec s;
	load_ok(f, text, NULL, &s);
	assert_string_equal(s.name, long_name);
	config_free(&s);
	free(text);
}

static void test_err_yaml_syntax(void **state)
{
	expect_error(*state, "name: demo\n  bad: indent\n", 2, 6,
		     "YAML syntax error: mapping values are not allowed in this context");
	expect_error(*state, "name: demo\nentrypoint: [a, b\n", 3, 1,
		     "YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence");
	expect_error(*state, "name: demo\nentrypoint: x\nparams: {a: 1, b: [}\n", 3, 20,
		     "YAML syntax error: did not find expected node content while parsing a flow node");
}

static void test_err_empty_file(void **state)
{
	expect_error(*state, "", 1, 1, "the config is empty: it needs at least 'name' and 'entrypoint'");
	expect_error(*state, "# nothing but a comment\n", 1, 1,
		     "the config is empty: it needs at least 'name' and 'entrypoint'");
	expect_error(*state, "- a\n- b\n", 1, 1,
		     "the config must be a mapping of keys (name, entrypoint, ...), not a list");
	expect_error(*state, "just text\n", 1, 1,
		     "the config must be a mapping of keys (name, entrypoint, ...), not a scalar");
}

static void test_err_entrypoint_empty(void **state)
{
	expect_error(*state, "name: demo\nentrypoint: \"\"\n", 2, 13, "'entrypoint' must not be empty");
	expect_error(*state, "name: demo\nentrypoint: []\n", 2, 13, "'entrypoint' must not be empty");
	expect_error(*state, "name: demo\nentrypoint:\n", 2, 12, "'entrypoint' must not be empty");
}

static void test_err_workdir(void **state)
{
	struct fx *f = *state;
	char *msg = xasprintf("workdir '%s/nope' is not a directory", f->dir);
	expect_error(f, "name: demo\nentrypoint: x\nworkdir: nope\n", 3, 10, msg);
	free(msg);
	/* a file is not a directory either */
	char *file = path_join(f->dir, "afile");
	write_text(file, "x");
	msg = xasprintf("workdir '%s' is not a directory", file);
	expect_error(f, "name: demo\nentrypoint: x\nworkdir: afile\n", 3, 10, msg);
	free(msg);
	free(file);
}

static void test_err_duplicate_keys(void **state)
{
	expect_error(*state, "name: a\nentrypoint: x\nname: b\n", 3, 1, "duplicate key 'name'");
	expect_error(*state, "name: a\nentrypoint: x\nparams:\n  lr: 1\n  lr: 2\n", 5, 3,
		     "duplicate key 'lr' in 'params'");
	expect_error(*state, "name: a\nentrypoint: x\nresources:\n  memory: 1g\n  memory: 2g\n", 5, 3,
		     "duplicate key 'memory' in 'resources'");
	expect_error(*state, "name: a\nentrypoint: x\nsandbox:\n  mask: [/a]\n  mask: [/b]\n", 5, 3,
		     "duplicate key 'mask' in 'sandbox'");
	expect_error(*state, "name: a\nentrypoint: x\nsandbox: {seccomp: {deny: [a], deny: [b]}}\n", 3, 32,
		     "duplicate key 'deny' in 'sandbox.seccomp'");
	expect_error(*state, "name: a\nentrypoint: x\nfingerprint: {env: [A], env: [B]}\n", 3, 25,
		     "duplicate key 'env' in 'fingerprint'");
}

static void test_err_sandbox_values(void **state)
{
	expect_error(*state, "name: a\nentrypoint: x\nsandbox: {network: bridge}\n", 3, 20,
		     "sandbox.network must be 'outbound', 'none' or 'host', not 'bridge'");
	/* src may be relative (to the config's folder); dst is a path inside the sandbox */
	expect_error(*state, "name: a\nentrypoint: x\nsandbox:\n  mounts: [{src: data, dst: rel}]\n", 4, 29,
		     "sandbox.mounts.dst: 'rel' must be an absolute path (or start with ~/)");
	expect_error(*state, "name: a\nentrypoint: x\nsandbox:\n  mounts: [{src: /data}]\n", 4, 12,
		     "sandbox.mounts items need both 'src' and 'dst'");
	expect_error(*state, "name: a\nentrypoint: x\nsandbox: {seccomp: paranoid}\n", 3, 20,
		     "unknown seccomp profile 'paranoid' (use default, strict or unconfined)");
	expect_error(*state, "name: a\nentrypoint: x\nsandbox: {userns: maybe}\n", 3, 19,
		     "sandbox.userns must be true or false");
	expect_error(*state, "name: a\nentrypoint: x\nsandbox: {userns: false}\n", 3, 19,
		     "sandbox.userns: false is not supported: the job always runs in a user namespace "
		     "(a root caller's as nobody); remove the setting");
	expect_error(*state, "name: a\nentrypoint: x\nsandbox: {env_pass: [\"A=B\"]}\n", 3, 21,
		     "sandbox.env_pass: 'A=B' is not a variable name or a glob of names");
}

static void test_err_missing_file(void **state)
{
	struct fx *f = *state;
	char *p = path_join(f->dir, "missing.yaml");
	struct rp_spec s;
	struct rp_err e = {0};
	assert_int_equal(config_load(p, NULL, &s, &e), -1);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	char *want = xasprintf("cannot read config %s: No such file or directory", p);
	assert_string_equal(e.msg, want);
	free(want);
	free(p);
}

/* ---- unit parsers ---- */

static void test_parse_memory(void **state)
{
	struct { const char *in; long long want; } ok[] = {
		{"100", 100}, {"512k", 512LL << 10}, {"64m", 64LL << 20}, {"2g", 2LL << 30}, {"1t", 1LL << 40},
		{"2G", 2LL << 30}, {"1.5g", 3LL << 29}, {"2GiB", 2LL << 30}, {"2gb", 2LL << 30}, {"10b", 10},
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		long long b = -1;
		if (parse_memory(ok[i].in, &b) != 0)
			fail_msg("parse_memory(%s) failed", ok[i].in);
		assert_int_equal(b, ok[i].want);
	}
	const char *bad[] = {"lots", "", "-1", "0", "2x", "g", "1e30", "2gg", "1.5.5m", "nan", "inf"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		long long b = 7;
		if (parse_memory(bad[i], &b) == 0)
			fail_msg("parse_memory(%s) accepted", bad[i]);
		assert_int_equal(b, 7);
	}
	assert_int_equal(parse_memory(NULL, &(long long){0}), -1);
}

static void test_parse_duration(void **state)
{
	struct { const char *in; double want; } ok[] = {
		{"90", 90}, {"90s", 90}, {"30m", 1800}, {"2h", 7200}, {"1.5h", 5400}, {"250ms", 0.25}, {"1d", 86400},
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		double d = -1;
		if (parse_duration(ok[i].in, &d) != 0)
			fail_msg("parse_duration(%s) failed", ok[i].in);
		assert_float_equal(d, ok[i].want, 1e-9);
	}
	/* too long to be a time limit: 1e308d is infinite, and config.yaml wrote it as 'inf' */
	const char *bad[] = {"5x", "-5", "0", "m", "", "5 minutes", "1h30m", "1e308d", "1e300", "200000d"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		double d = 7;
		if (parse_duration(bad[i], &d) == 0)
			fail_msg("parse_duration(%s) accepted", bad[i]);
		assert_float_equal(d, 7, 0);
	}
}

static void test_parse_cpus_and_count(void **state)
{
	double c = 0;
	assert_int_equal(parse_cpus("1.5", &c), 0);
	assert_float_equal(c, 1.5, 0);
	assert_int_equal(parse_cpus("0.25", &c), 0);
	assert_float_equal(c, 0.25, 0);
	const char *bad_cpus[] = {"-1", "0", "abc", "2cores", "5000", ""};
	for (size_t i = 0; i < sizeof bad_cpus / sizeof *bad_cpus; i++)
		if (parse_cpus(bad_cpus[i], &c) == 0)
			fail_msg("parse_cpus(%s) accepted", bad_cpus[i]);
	long long n = 0;
	assert_int_equal(parse_count("512", &n), 0);
	assert_int_equal(n, 512);
	const char *bad_count[] = {"0", "-3", "1.5", "12abc", "", "99999999999999999999"};
	for (size_t i = 0; i < sizeof bad_count / sizeof *bad_count; i++)
		if (parse_count(bad_count[i], &n) == 0)
			fail_msg("parse_count(%s) accepted", bad_count[i]);
}

/* ---- config.yaml round trip ---- */

static void round_trip(struct fx *f, const char *text, const struct rp_overrides *ov, char **yaml_out)
{
	struct rp_spec a, b;
	load_ok(f, text, ov, &a);
	struct rp_err e = {0};
	char *yaml = config_to_yaml(&a, &e);
	if (!yaml)
		fail_msg("config_to_yaml: %s", e.msg);
	/* written elsewhere, as in a run directory */
	char *other = path_join(f->dir, "run");
	mkdir(other, 0755);
	char *p = path_join(other, "config.yaml");
	write_text(p, yaml);
	if (config_load(p, NULL, &b, &e) != 0)
		fail_msg("reloading config.yaml failed: %s\n%s", e.msg, yaml);
	cJSON *ja = config_to_json(&a), *jb = config_to_json(&b);
	if (!cJSON_Compare(ja, jb, 1)) {
		char *sa = cJSON_Print(ja), *sb = cJSON_Print(jb);
		fail_msg("round trip changed the config:\n%s\n---\n%s\n---\n%s", sa, sb, yaml);
	}
	/* params keep their JSON types */
	cJSON *pa = config_params_json(&a), *pb = config_params_json(&b);
	assert_true(cJSON_Compare(pa, pb, 1));
	cJSON_Delete(pa);
	cJSON_Delete(pb);
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	config_free(&a);
	config_free(&b);
	free(p);
	free(other);
	if (yaml_out)
		*yaml_out = yaml;
	else
		free(yaml);
}

static void test_round_trip_full(void **state)
{
	struct fx *f = *state;
	char *sub = path_join(f->dir, "sub");
	assert_int_equal(mkdir(sub, 0755), 0);
	free(sub);
	char *yaml;
	round_trip(f,
		   "name: mnist-cnn-baseline\n"
		   "entrypoint: [python3, \"train.py\", \"--msg\", \"a: b # c\", \"it's\", \"\", \"yes\", \"null\"]\n"
		   "image: python:3.11-slim\n"
		   "workdir: sub\n"
		   "env: {PYTHONUNBUFFERED: \"1\", QUOTE: \"say \\\"hi\\\"\", NL: \"two\\nlines\", EMPTY: \"\"}\n"
		   "params:\n"
		   "  learning_rate: 0.1\n"
		   "  tiny: 1e-7\n"
		   "  batch_size: 64\n"
		   "  neg: -3\n"
		   "  flag: false\n"
		   "  optimizer: adam\n"
		   "  quoted: \"1\"\n"
		   "  word_true: \"true\"\n"
		   "  nothing: null\n"
		   "  big: 99999999999999999999\n"
		   "tags: [mnist, \"2024\", \"with space\"]\n"
		   "resources: {cpus: 1.5, memory: 1.5g, pids: 512, timeout: 90m}\n"
		   "sandbox:\n"
		   "  network: none\n"
		   "  mounts: [{src: /data, dst: /mnt/data}, {src: /scratch, dst: /scratch, readonly: false}]\n"
		   "  mask: [/etc/shadow]\n"
		   "  capabilities: [CAP_NET_BIND_SERVICE]\n"
		   "  seccomp: {profile: strict, deny: [ptrace], log: true}\n"
		   "  gpus: all\n"
		   "  userns: true\n"
		   "fingerprint: {env: [CUDA_VISIBLE_DEVICES], max_bytes: 512m}\n",
		   NULL, &yaml);
	/* floats are written as the user would, not as 0.10000000000000001 */
	assert_non_null(strstr(yaml, "learning_rate: 0.1\n"));
	assert_non_null(strstr(yaml, "tiny: 1e-07\n"));
	assert_non_null(strstr(yaml, "quoted: \"1\"\n"));
	assert_non_null(strstr(yaml, "nothing: null\n"));
	free(yaml);
}

static void test_runner_and_slurm_section(void **state)
{
	struct fx *f = *state;
	struct rp_spec s;
	load_ok(f, "name: a\nentrypoint: true\nrunner: slurm\nresources: {timeout: 90s}\n"
		   "slurm: {partition: gpu, account: p-1, qos: high, nodes: 2, gpus: \"a100:2\", time: 2h,\n"
		   "        extra_args: [--constraint=ib, --exclusive]}\n", NULL, &s);
	assert_string_equal(s.runner, "slurm");
	assert_true(s.has_slurm);
	assert_string_equal(s.slurm.partition, "gpu");
	assert_string_equal(s.slurm.account, "p-1");
	assert_string_equal(s.slurm.qos, "high");
	assert_int_equal(s.slurm.nodes, 2);
	assert_string_equal(s.slurm.gpus, "a100:2");
	assert_true(s.slurm.time_s == 7200);
	assert_int_equal(s.slurm.nextra_args, 2);
	assert_string_equal(s.slurm.extra_args[1], "--exclusive");
	/* config.yaml keeps them, and reads back the same */
	struct rp_err e = {0};
	char *yaml = config_to_yaml(&s, &e);
	assert_non_null(yaml);
	config_free(&s);
	struct rp_overrides resolved = {.resolved = true};
	load_ok(f, yaml, &resolved, &s);
	free(yaml);
	assert_string_equal(s.runner, "slurm");
	assert_true(s.slurm.time_s == 7200);
	assert_string_equal(s.slurm.extra_args[0], "--constraint=ib");
	config_free(&s);
	expect_error(f, "name: a\nentrypoint: true\nrunner: cluster\n", 3, 9,
		     "runner: unknown runner 'cluster' (use auto or a runner's name, see `runpilot run --help`)");
	expect_error(f, "name: a\nentrypoint: true\nslurm: {partiton: gpu}\n", 3, 9,
		     "unknown key 'partiton' in 'slurm' (did you mean 'partition'?)");
	expect_error(f, "name: a\nentrypoint: true\nslurm: {partition: \"gpu; rm\"}\n", 3, 20,
		     "slurm.partition 'gpu; rm': expected a Slurm name (letters, digits, '_', '.', '-')");
	expect_error(f, "name: a\nentrypoint: true\nslurm: {extra_args: [--output=/tmp/x]}\n", 3, 21,
		     "slurm.extra_args[0] '--output=/tmp/x': --output is runpilot's own or not allowed (docs/cluster.md)");
	/* sbatch takes a prefix of a name as the option */
	expect_error(f, "name: a\nentrypoint: true\nslurm: {extra_args: [--exclusive, --ou=/home/u/.bashrc]}\n", 3, 21,
		     "slurm.extra_args[1] '--ou=/home/u/.bashrc': --output is runpilot's own or not allowed (docs/cluster.md)");
	expect_error(f, "name: a\nentrypoint: true\nslurm: {extra_args: [--container=/b]}\n", 3, 21,
		     "slurm.extra_args[0] '--container=/b': --container is runpilot's own or not allowed (docs/cluster.md)");
	expect_error(f, "name: a\nentrypoint: true\nslurm: {extra_args: [-N2]}\n", 3, 21,
		     "slurm.extra_args[0] '-N2' must be one long sbatch option (--opt=value)");
	expect_error(f, "name: a\nentrypoint: true\nslurm: {time: soon}\n", 3, 15,
		     "slurm.time must be a duration (e.g. 90m, 2h, 1d)");
}

static void test_round_trip_with_overrides_and_string_entrypoint(void **state)
{
	struct fx *f = *state;
	const char *params[] = {"lr=0.3", "extra=hello"};
	const char *tags[] = {"override"};
	struct rp_overrides ov = {.name = "over", .params = params, .nparams = 2, .tags = tags, .ntags = 1};
	char *yaml;
	round_trip(f, "name: a\nentrypoint: python train.py --lr $LR 'x y'\nparams: {lr: 0.1}\n", &ov, &yaml);
	/* config.yaml holds the config as it ran: overrides applied */
	assert_non_null(strstr(yaml, "name: \"over\"\n"));
	assert_non_null(strstr(yaml, "lr: 0.3\n"));
	assert_non_null(strstr(yaml, "extra: \"hello\"\n"));
	assert_non_null(strstr(yaml, "- \"override\"\n"));
	free(yaml);
	round_trip(f, "name: a\nentrypoint: true\n", NULL, NULL);
}

static void test_config_to_json_shape(void **state)
{
	struct fx *f = *state;
	struct rp_spec s;
	load_ok(f, "name: a\nentrypoint: [echo, hi]\nresources: {memory: 64m, timeout: 2h}\ntags: [x]\n", NULL, &s);
	cJSON *j = config_to_json(&s);
	assert_string_equal(cJSON_GetObjectItem(j, "name")->valuestring, "a");
	cJSON *ep = cJSON_GetObjectItem(j, "entrypoint");
	assert_true(cJSON_IsArray(ep));
	assert_int_equal(cJSON_GetArraySize(ep), 2);
	assert_string_equal(cJSON_GetArrayItem(ep, 1)->valuestring, "hi");
	assert_string_equal(cJSON_GetObjectItem(j, "workdir")->valuestring, f->dir);
	cJSON *r = cJSON_GetObjectItem(j, "resources");
	assert_float_equal(cJSON_GetObjectItem(r, "memory")->valuedouble, 64.0 * 1024 * 1024, 0);
	assert_float_equal(cJSON_GetObjectItem(r, "timeout")->valuedouble, 7200, 0);
	assert_null(cJSON_GetObjectItem(r, "cpus")); /* unset limits are left out */
	assert_null(cJSON_GetObjectItem(j, "sandbox"));
	assert_null(cJSON_GetObjectItem(j, "params"));
	assert_null(cJSON_GetObjectItem(j, "image"));
	cJSON_Delete(j);
	config_free(&s);
}

static void test_metrics_section(void **state)
{
	struct fx *f = *state;
	struct rp_spec s;
	load_ok(f, "name: m\nentrypoint: x\n", NULL, &s);
	assert_true(s.metrics.defaults);
	assert_int_equal(s.metrics.npatterns, 0);
	cJSON *none = config_to_json(&s);
	assert_null(cJSON_GetObjectItem(none, "metrics"));
	cJSON_Delete(none);
	config_free(&s);
	load_ok(f,
		"name: m\nentrypoint: x\nmetrics:\n"
		"  defaults: false\n"
		"  patterns:\n"
		"    - '(?<key>\\w+) is (?<value>[\\d.]+)'\n"
		"    - {acc: 'accuracy (\\d+)%'}\n",
		NULL, &s);
	assert_false(s.metrics.defaults);
	assert_int_equal(s.metrics.npatterns, 2);
	assert_null(s.metrics.patterns[0].name);
	assert_string_equal(s.metrics.patterns[0].regex, "(?<key>\\w+) is (?<value>[\\d.]+)");
	assert_string_equal(s.metrics.patterns[1].name, "acc");
	assert_string_equal(s.metrics.patterns[1].regex, "accuracy (\\d+)%");
	cJSON *j = config_to_json(&s);
	char *txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "metrics"));
	assert_string_equal(txt, "{\"patterns\":[\"(?<key>\\\\w+) is (?<value>[\\\\d.]+)\",{\"acc\":\"accuracy (\\\\d+)%\"}],"
				 "\"defaults\":false}");
	free(txt);
	cJSON_Delete(j);
	config_free(&s);
	/* an invalid regex: the column of the problem inside the pattern */
	expect_error(f, "name: m\nentrypoint: x\nmetrics:\n  patterns:\n    - 'loss=(?<value>\\d+'\n", 5, 25,
		     "metrics.patterns[0]: invalid regex: missing closing parenthesis");
	expect_error(f, "name: m\nentrypoint: x\nmetrics:\n  patterns: ['(\\w+)=(\\d+)']\n", 4, 15,
		     "metrics.patterns[0]: the regex needs named groups (?<key>...) and (?<value>...) (or use {NAME: regex})");
	expect_error(f, "name: m\nentrypoint: x\nmetrics:\n  patterns:\n    - {loss: 'no group'}\n", 5, 15,
		     "metrics.patterns[0]: the regex needs a group for the value: (?<value>...) or (...)");
	expect_error(f, "name: m\nentrypoint: x\nmetrics: {defaults: maybe}\n", 3, 21, "metrics.defaults must be true or false");
	expect_error(f, "name: m\nentrypoint: x\nmetrics: {pattern: []}\n", 3, 11,
		     "unknown key 'pattern' in 'metrics' (did you mean 'patterns'?)");
}

/* ---- defaults: user and project ---- */

static char *fx_file(struct fx *f, const char *rel, const char *text)
{
	char *p = path_join(f->dir, rel);
	char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755, NULL), 0);
	free(dir);
	write_text(p, text);
	return p;
}

static const struct rp_origin *origin(const struct rp_spec *s, const char *setting)
{
	for (size_t i = 0; i < s->norigins; i++)
		if (!strcmp(s->origins[i].setting, setting))
			return &s->origins[i];
	return NULL;
}

/* setting came from src, in path (NULL: none) at line */
static void expect_origin(const struct rp_spec *s, const char *setting, enum rp_source src, const char *path,
			  size_t line)
{
	const struct rp_origin *o = origin(s, setting);
	if (!o)
		fail_msg("no origin for %s", setting);
	if (o->source != src)
		fail_msg("%s: source %s, want %s", setting, config_source_name(o->source), config_source_name(src));
	if (path)
		assert_string_equal(o->path, path);
	else
		assert_null(o->path);
	assert_int_equal(o->line, line);
}

static const char *env_of(const struct rp_spec *s, const char *key)
{
	for (size_t i = 0; i < s->nenv; i++)
		if (!strcmp(s->env[i].key, key))
			return s->env[i].value;
	return NULL;
}

static const char user_defaults[] =
	"defaults:\n"                                        /* 1 */
	"  runner: local\n"                                  /* 2 */
	"  resources: {cpus: 3, memory: 1g, pids: 10, timeout: 1h}\n" /* 3 */
	"  env: {A: user, B: user, C: user}\n"              /* 4 */
	"  metrics: {defaults: false}\n"                     /* 5 */
	"  fingerprint: {max_bytes: 1m}\n"                   /* 6 */
	"  sandbox: {network: none, seccomp: strict}\n";    /* 7 */

static const char project_defaults[] =
	"name: not-this-one\n"                               /* 1: a job key: not for other configs */
	"entrypoint: exit 9\n"
	"params: {from_project: 1}\n"
	"defaults:\n"                                        /* 4 */
	"  runner: sandbox\n"                                /* 5 */
	"  resources:\n"                                     /* 6 */
	"    memory: 2g\n"                                   /* 7 */
	"    pids: 20\n"                                     /* 8 */
	"    timeout: 2h\n"                                  /* 9 */
	"  env: {B: project, C: project}\n";                /* 10 */

/* Per setting: flags > run config > project defaults > user config > built-in. */
static void test_defaults_precedence(void **state)
{
	struct fx *f = *state;
	char *user = fx_file(f, "home/config.yaml", user_defaults);
	char *proj = fx_file(f, "runpilot.yaml", project_defaults);
	char *sub = path_join(f->dir, "exp");
	char *cfg = fx_file(f, "exp/train.yaml",
			    "name: train\n"
			    "entrypoint: python t.py\n"
			    "resources: {pids: 30, timeout: 3h}\n"    /* 3 */
			    "env:\n"
			    "  C: run\n");                            /* 5 */
	struct rp_overrides ov = {.resources = {.timeout_s = 60}};
	struct rp_spec s;
	struct rp_err e = {0};
	if (config_load(cfg, &ov, &s, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(s.name, "train");
	assert_int_equal(s.nparams, 0); /* the project file's job keys do not apply */
	assert_string_equal(s.workdir, sub);
	/* resources: one from each layer */
	assert_true(s.resources.cpus == 3);
	expect_origin(&s, "resources.cpus", RP_SRC_USER, user, 3);
	assert_int_equal(s.resources.memory_bytes, 2LL << 30);
	expect_origin(&s, "resources.memory", RP_SRC_PROJECT, proj, 7);
	assert_int_equal(s.resources.pids, 30);
	expect_origin(&s, "resources.pids", RP_SRC_RUN, cfg, 3);
	assert_true(s.resources.timeout_s == 60);
	expect_origin(&s, "resources.timeout", RP_SRC_FLAG, NULL, 0);
	/* env merged per key */
	assert_int_equal(s.nenv, 3);
	assert_string_equal(env_of(&s, "A"), "user");
	assert_string_equal(env_of(&s, "B"), "project");
	assert_string_equal(env_of(&s, "C"), "run");
	expect_origin(&s, "env.A", RP_SRC_USER, user, 4);
	expect_origin(&s, "env.B", RP_SRC_PROJECT, proj, 10);
	expect_origin(&s, "env.C", RP_SRC_RUN, cfg, 5);
	/* the rest */
	assert_string_equal(s.runner, "sandbox");
	expect_origin(&s, "runner", RP_SRC_PROJECT, proj, 5);
	assert_false(s.metrics.defaults);
	assert_true(s.has_metrics);
	expect_origin(&s, "metrics.defaults", RP_SRC_USER, user, 5);
	assert_int_equal(s.fingerprint.max_bytes, 1LL << 20);
	assert_true(s.has_sandbox);
	assert_string_equal(s.sandbox.network, "none");
	assert_string_equal(s.sandbox.seccomp_profile, "strict");
	expect_origin(&s, "sandbox.seccomp.profile", RP_SRC_USER, user, 7);
	expect_origin(&s, "name", RP_SRC_RUN, cfg, 1);
	assert_null(origin(&s, "sandbox.rootfs")); /* not given anywhere: built-in */
	/* the files, run config first */
	assert_int_equal(s.nsources, 3);
	assert_string_equal(s.sources[0].path, cfg);
	assert_int_equal(s.sources[0].role, RP_SRC_RUN);
	assert_string_equal(s.sources[1].path, proj);
	assert_int_equal(s.sources[1].role, RP_SRC_PROJECT);
	assert_string_equal(s.sources[2].path, user);
	assert_int_equal(s.sources[2].role, RP_SRC_USER);
	/* explain: every setting, with its source */
	cJSON *x = config_explain(&s);
	bool seen_memory = false, seen_pids_builtin = false;
	const cJSON *row;
	cJSON_ArrayForEach(row, x) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "setting"));
		const char *val = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "value"));
		const char *src = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "source"));
		if (!strcmp(name, "resources.memory")) {
			seen_memory = true;
			assert_string_equal(val, "2g");
			assert_string_equal(src, "project defaults");
			assert_int_equal(cJSON_GetObjectItemCaseSensitive(row, "line")->valueint, 7);
		}
		if (!strcmp(name, "sandbox.rootfs"))
			seen_pids_builtin = !strcmp(src, "built-in default") && !strcmp(val, "-");
	}
	assert_true(seen_memory && seen_pids_builtin);
	cJSON_Delete(x);
	config_free(&s);
	/* without the flag, the run config's timeout; without the run config's, the project's */
	load_ok(f, "name: b\nentrypoint: x\n", NULL, &s);
	assert_true(s.resources.timeout_s == 7200);
	assert_int_equal(s.resources.pids, 20);
	assert_string_equal(env_of(&s, "C"), "project");
	config_free(&s);
	/* without a project file, the user's */
	assert_int_equal(unlink(proj), 0);
	load_ok(f, "name: b\nentrypoint: x\n", NULL, &s);
	assert_true(s.resources.timeout_s == 3600);
	assert_string_equal(s.runner, "local");
	assert_int_equal(s.nsources, 2);
	config_free(&s);
	free(user);
	free(proj);
	free(sub);
	free(cfg);
}

/* runpilot.yaml as the run config: its job keys and its own defaults. */
static void test_defaults_of_runpilot_yaml_itself(void **state)
{
	struct fx *f = *state;
	char *proj = fx_file(f, "runpilot.yaml",
			     "name: p\nentrypoint: x\nenv: {A: run}\ndefaults:\n  env: {A: project, B: project}\n"
			     "  resources: {memory: 64m}\n");
	/* a runpilot.yaml in a folder below: its own project, the one above is not consulted */
	char *upper = fx_file(f, "inner/runpilot.yaml", "name: q\nentrypoint: y\n");
	struct rp_spec s;
	struct rp_err e = {0};
	if (config_load(proj, NULL, &s, &e) < 0)
		fail_msg("%s", e.msg);
	assert_string_equal(s.name, "p");
	assert_string_equal(env_of(&s, "A"), "run");
	assert_string_equal(env_of(&s, "B"), "project");
	assert_int_equal(s.resources.memory_bytes, 64LL << 20);
	expect_origin(&s, "resources.memory", RP_SRC_PROJECT, proj, 6);
	assert_int_equal(s.nsources, 2);
	assert_string_equal(s.sources[1].path, proj);
	assert_int_equal(s.sources[1].role, RP_SRC_PROJECT);
	config_free(&s);
	/* inner/runpilot.yaml has no defaults: the outer one is not consulted for it */
	if (config_load(upper, NULL, &s, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(s.resources.memory_bytes, 0);
	assert_int_equal(s.nsources, 1);
	config_free(&s);
	free(proj);
	free(upper);
}

/* A stored, resolved config.yaml: nothing is added to it. */
static void test_resolved_ignores_defaults(void **state)
{
	struct fx *f = *state;
	char *user = fx_file(f, "home/config.yaml", user_defaults);
	char *proj = fx_file(f, "runpilot.yaml", project_defaults);
	struct rp_overrides ov = {.resolved = true};
	struct rp_spec s;
	load_ok(f, "name: r\nentrypoint: x\nenv: {C: run}\n", &ov, &s);
	assert_int_equal(s.nenv, 1);
	assert_int_equal(s.resources.memory_bytes, 0);
	assert_int_equal(s.resources.cpus, 0);
	assert_null(s.runner);
	assert_true(s.metrics.defaults);
	assert_string_equal(s.sandbox.network, "outbound");
	assert_int_equal(s.nsources, 1);
	config_free(&s);
	/* the same file, not resolved: both layers fill it */
	load_ok(f, "name: r\nentrypoint: x\nenv: {C: run}\n", NULL, &s);
	assert_int_equal(s.nenv, 3);
	assert_int_equal(s.resources.memory_bytes, 2LL << 30);
	config_free(&s);
	free(user);
	free(proj);
}

/* A changed default changes the resolved config, so the fingerprint's config component. */
static void test_defaults_change_config_json(void **state)
{
	struct fx *f = *state;
	struct rp_spec a, b;
	load_ok(f, "name: r\nentrypoint: x\n", NULL, &a);
	char *user = fx_file(f, "home/config.yaml", "defaults:\n  resources: {memory: 1g}\n");
	load_ok(f, "name: r\nentrypoint: x\n", NULL, &b);
	cJSON *ja = config_to_json(&a), *jb = config_to_json(&b);
	assert_false(cJSON_Compare(ja, jb, true));
	assert_non_null(cJSON_GetObjectItemCaseSensitive(jb, "resources"));
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	config_free(&a);
	config_free(&b);
	free(user);
}

/* image and sandbox.rootfs are one choice: the run config's rootfs hides a default image. */
static void test_defaults_root_filesystem_is_one_choice(void **state)
{
	struct fx *f = *state;
	char *user = fx_file(f, "home/config.yaml", "defaults:\n  image: python:3.11\n");
	struct rp_spec s;
	load_ok(f, "name: r\nentrypoint: x\nsandbox: {rootfs: /}\n", NULL, &s);
	assert_null(s.image);
	assert_string_equal(s.sandbox.rootfs, "/");
	config_free(&s);
	load_ok(f, "name: r\nentrypoint: x\n", NULL, &s);
	assert_string_equal(s.image, "python:3.11");
	expect_origin(&s, "image", RP_SRC_USER, user, 2);
	config_free(&s);
	free(user);
}

/* "PATH:LINE:COL: message" for a mistake in another file than CONFIG. */
static void expect_file_error(struct fx *f, const char *cfg_text, const char *bad, int line, int col, const char *msg)
{
	write_text(f->path, cfg_text);
	struct rp_spec s;
	struct rp_err e = {0};
	assert_int_equal(config_load(f->path, NULL, &s, &e), -1);
	char *want = xasprintf("%s:%d:%d: %s", bad, line, col, msg);
	assert_string_equal(e.msg, want);
	assert_int_equal(e.kind, RP_ERR_USAGE);
	assert_null(s.name);
	free(want);
}

static void test_defaults_errors(void **state)
{
	struct fx *f = *state;
	/* defaults: in a run config not named runpilot.yaml */
	expect_error(f, "name: m\nentrypoint: x\ndefaults:\n  runner: local\n", 3, 1,
		     "'defaults' is only allowed in a project's runpilot.yaml and in the user config "
		     "($RUNPILOT_HOME/config.yaml), not in a run config named otherwise");
	char *proj = path_join(f->dir, "runpilot.yaml");
	const char *ok = "name: m\nentrypoint: x\n";
	/* in the project's defaults */
	write_text(proj, "defaults:\n  resources:\n    cpu: 2\n");
	expect_file_error(f, ok, proj, 3, 5, "unknown key 'cpu' in 'resources' (did you mean 'cpus'?)");
	write_text(proj, "defaults:\n  runner: local\n  entrypoint: x\n");
	expect_file_error(f, ok, proj, 3, 3, "unknown key 'entrypoint' in 'defaults'");
	write_text(proj, "defaults:\n  runner: lokal\n");
	expect_file_error(f, ok, proj, 2, 11,
			  "defaults.runner: unknown runner 'lokal' (use auto or a runner's name, see `runpilot run --help`)");
	write_text(proj, "defaults: [1]\n");
	expect_file_error(f, ok, proj, 1, 11, "'defaults' must be a mapping, not a list");
	write_text(proj, "defaults:\n  env: {A: 1}\n  env: {B: 2}\n");
	expect_file_error(f, ok, proj, 3, 3, "duplicate key 'env' in 'defaults'");
	write_text(proj, "defaults: {image: x, sandbox: {rootfs: /}}\n");
	expect_file_error(f, ok, proj, 1, 11,
			  "defaults: image and sandbox.rootfs both name the job's root filesystem: keep one");
	write_text(proj, "defaults:\n  resources: {memory: lots}\n");
	expect_file_error(f, ok, proj, 2, 23, "resources.memory: 'lots' is not a size (e.g. 512m, 2g)");
	assert_int_equal(unlink(proj), 0);
	/* in the user config */
	char *user = path_join(f->dir, "home/config.yaml");
	write_text(user, "defaults:\n  resources:\n    timeout: soon\n");
	expect_file_error(f, ok, user, 3, 14, "resources.timeout: 'soon' is not a duration (e.g. 90s, 30m, 2h)");
	write_text(user, "defaults:\n  sandbox: {netwrok: none}\n");
	expect_file_error(f, ok, user, 2, 13, "unknown key 'netwrok' in 'sandbox' (did you mean 'network'?)");
	write_text(user, "defualts:\n  runner: local\n");
	expect_file_error(f, ok, user, 1, 1, "unknown key 'defualts' in 'the user config' (did you mean 'defaults'?)");
	write_text(user, "defaults: {runner: [a]\n");
	write_text(f->path, ok);
	struct rp_spec s;
	struct rp_err e = {0};
	assert_int_equal(config_load(f->path, NULL, &s, &e), -1);
	assert_int_equal(strncmp(e.msg, user, strlen(user)), 0); /* a YAML syntax error names the file */
	/* an empty user config is no error */
	write_text(user, "");
	load_ok(f, ok, NULL, &s);
	assert_int_equal(s.nsources, 1);
	config_free(&s);
	free(proj);
	free(user);
}

/* The project file: nearest up to the repository root (the first folder with .git), or /. */
static void test_find_project(void **state)
{
	struct fx *f = *state;
	/* f->dir holds .git: a runpilot.yaml above it is never found from inside */
	char *deep = path_join(f->dir, "a/b/c");
	assert_int_equal(mkdir_p(deep, 0755, NULL), 0);
	char *found = NULL, *stop = NULL;
	assert_int_equal(config_find_project(deep, &found, &stop), 0);
	assert_null(found);
	assert_string_equal(stop, f->dir);
	free(stop);
	char *top = fx_file(f, "runpilot.yaml", "name: t\nentrypoint: x\n");
	assert_int_equal(config_find_project(deep, &found, NULL), 1);
	assert_string_equal(found, top);
	free(found);
	char *mid = fx_file(f, "a/b/runpilot.yaml", "name: m\nentrypoint: x\n");
	assert_int_equal(config_find_project(deep, &found, NULL), 1);
	assert_string_equal(found, mid);
	free(found);
	/* a nested repository: a/b/c/.git stops the search at a/b/c */
	char *git = path_join(deep, ".git");
	write_text(git, "gitdir: elsewhere\n"); /* .git as a file (a worktree) counts too */
	assert_int_equal(config_find_project(deep, &found, &stop), 0);
	assert_string_equal(stop, deep);
	free(stop);
	free(git);
	free(deep);
	free(top);
	free(mid);
}

/* sync: of runpilot.yaml: found from a folder below it, validated, refused elsewhere */
static void test_sync_section(void **state)
{
	struct fx *f = *state;
	char *proj = path_join(f->dir, "runpilot.yaml"), *sub = path_join(f->dir, "sub");
	assert_int_equal(mkdir(sub, 0755), 0);
	struct rp_sync_cfg c;
	struct rp_err e = {0};
	assert_int_equal(config_sync_find(sub, &c, &e), 0);
	write_text(proj, "sync: {server: \"http://team:7100\", project: vision, auto: true}\n");
	assert_int_equal(config_sync_find(sub, &c, &e), 1);
	assert_string_equal(c.server, "http://team:7100");
	assert_string_equal(c.project, "vision");
	assert_true(c.auto_push);
	config_sync_free(&c);
	write_text(proj, "sync: {server: \"http://team:7100\", project: vision}\n");
	assert_int_equal(config_sync_find(sub, &c, &e), 1);
	assert_false(c.auto_push);
	config_sync_free(&c);
	static const char *const bad[][2] = {
		{"sync: {server: ftp://x, project: p}\n", "sync.server 'ftp://x' is not a server URL"},
		{"sync: {server: \"http://x\"}\n", "sync needs both server and project"},
		{"sync: {server: \"http://x\", project: \"a b\"}\n", "sync.project 'a b' may only use"},
		{"sync: {server: \"http://x\", project: p, auto: maybe}\n", "sync.auto must be true or false"},
		{"sync: {server: \"http://x\", project: p, color: red}\n", "unknown key 'color'"},
		{"sync: [a]\n", "'sync' must be a mapping"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		write_text(proj, bad[i][0]);
		e = (struct rp_err){0};
		assert_int_equal(config_sync_find(sub, &c, &e), -1);
		assert_int_equal(e.kind, RP_ERR_USAGE);
		if (!strstr(e.msg, bad[i][1]))
			fail_msg("%s: got %s", bad[i][0], e.msg);
		assert_non_null(strstr(e.msg, "runpilot.yaml:1:"));
	}
	/* a run config named otherwise may not say it */
	expect_error(f, "name: a\nentrypoint: x\nsync: {server: \"http://x\", project: p}\n", 3, 1,
		     "'sync' is only allowed in a project's runpilot.yaml");
	remove(proj);
	free(proj);
	free(sub);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_full_config),
		T(test_metrics_section),
		T(test_minimal_config_defaults),
		T(test_string_entrypoint_runs_with_sh),
		T(test_list_entrypoint_is_argv),
		T(test_param_types),
		T(test_sandbox_and_fingerprint_sections),
		T(test_seccomp_as_profile_name),
		T(test_workdir_relative_to_config_dir),
		T(test_overrides),
		T(test_override_adds_params_and_tags_to_bare_config),
		T(test_override_errors),
		T(test_err_unknown_top_key_suggests),
		T(test_err_unknown_top_key_far_off),
		T(test_err_unknown_nested_key),
		T(test_err_wrong_types),
		T(test_err_bad_units),
		T(test_err_image_conflicts),
		T(test_err_missing_required),
		T(test_err_invalid_name),
		T(test_err_yaml_syntax),
		T(test_err_empty_file),
		T(test_err_entrypoint_empty),
		T(test_err_workdir),
		T(test_err_duplicate_keys),
		T(test_err_sandbox_values),
		T(test_err_missing_file),
		cmocka_unit_test(test_parse_memory),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_cpus_and_count),
		T(test_round_trip_full),
		T(test_runner_and_slurm_section),
		T(test_round_trip_with_overrides_and_string_entrypoint),
		T(test_config_to_json_shape),
		T(test_defaults_precedence),
		T(test_defaults_of_runpilot_yaml_itself),
		T(test_resolved_ignores_defaults),
		T(test_defaults_change_config_json),
		T(test_defaults_root_filesystem_is_one_choice),
		T(test_defaults_errors),
		T(test_find_project),
		T(test_sync_section),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
