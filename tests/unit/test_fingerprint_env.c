/* Fingerprint components beyond the files: interpreter resolution, runtime, packages, env,
 * git workdirs and sandbox rootfs trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "skip_util.h"

#include "fp_test_util.h"

static void make_exec(const char *dir, const char *rel, const char *content)
{
	fpt_write(dir, rel, content);
	char *p = path_join(dir, rel);
	chmod(p, 0755);
	free(p);
}

static void test_resolve_interpreter(void **state)
{
	(void)state;
	char *d = fpt_tmpdir();
	make_exec(d, "bin/python3", "#!/bin/sh\necho fake\n");
	make_exec(d, "bin/mytool", "\x7f" "ELF not really");
	make_exec(d, "wd/train.py", "#!/usr/bin/env python3\nprint(1)\n");
	char *wd = path_join(d, "wd"), *path = xasprintf("PATH=%s/bin:/usr/bin:/bin", d);
	char *envp[] = { path, NULL };
	struct fp_interp ip;
	struct rp_err err = { 0 };
	char *expect = xasprintf("%s/bin/python3", d);

	/* sh -c: assignments, exec and env are skipped; the word is found on the job's PATH */
	char *a1[] = { "/bin/sh", "-c", "FOO=1 exec env -u X BAR=2 python3 -u train.py --lr 0.1", NULL };
	assert_int_equal(fp_resolve_interpreter(a1, envp, wd, NULL, &ip, &err), 0);
	assert_string_equal(ip.command, "python3");
	assert_string_equal(ip.path, expect);
	assert_true(ip.is_python);
	fp_interp_free(&ip);

	/* setup builtins before the real command are skipped */
	char *a5[] = { "/bin/sh", "-c", "cd . && export A=1; python3 train.py", NULL };
	assert_int_equal(fp_resolve_interpreter(a5, envp, wd, NULL, &ip, &err), 0);
	assert_string_equal(ip.path, expect);
	fp_interp_free(&ip);

	/* a script: its #! interpreter (through env) */
	char *a2[] = { "/bin/sh", "-c", "./train.py", NULL };
	assert_int_equal(fp_resolve_interpreter(a2, envp, wd, NULL, &ip, &err), 0);
	assert_string_equal(ip.path, expect);
	fp_interp_free(&ip);

	/* a list entrypoint */
	char *a3[] = { "mytool", "--x", NULL };
	assert_int_equal(fp_resolve_interpreter(a3, envp, wd, NULL, &ip, &err), 0);
	assert_string_equal(ip.command, "mytool");
	assert_false(ip.is_python);
	assert_non_null(ip.realpath);
	fp_interp_free(&ip);

	/* not found: recorded as the word only */
	char *a4[] = { "/bin/sh", "-c", "nosuchprog_xyz arg", NULL };
	assert_int_equal(fp_resolve_interpreter(a4, envp, wd, NULL, &ip, &err), 0);
	assert_string_equal(ip.command, "nosuchprog_xyz");
	assert_null(ip.path);
	fp_interp_free(&ip);
	free(expect);
	free(wd);
	free(path);
	fpt_rm(d);
}

static void test_env_component(void **state)
{
	(void)state;
	char *envp[] = { "PATH=/usr/bin", "PWD=/x", "OLDPWD=/y", "SHLVL=3", "TERM=xterm", "SSH_TTY=/dev/pts/1",
			 "_=/usr/bin/runpilot", "RUNPILOT_RUN_ID=rp_0001", "RUNPILOT_PARAM_LR=0.1", "LC_ALL=C",
			 "MY_FLAG=1", "HF_TOKEN=hunter2", "DB=postgres://u:pw@db/x", "EXTRA_ONE=a", "RANDOM_THING=z",
			 NULL };
	char *declared[] = { "MY_FLAG", "HF_TOKEN", NULL }, *extra[] = { "EXTRA_*", NULL };
	struct fp_input in = { .envp = envp, .declared_env = declared, .extra_env = extra };
	cJSON *c = NULL, *other = NULL;
	assert_int_equal(fp_env_component(&in, &c, &other), 0);
	const cJSON *vars = cJSON_GetObjectItemCaseSensitive(c, "vars");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vars, "PATH")), "/usr/bin");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vars, "LC_ALL")), "C");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vars, "MY_FLAG")), "1");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vars, "EXTRA_ONE")), "a");
	const char *tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(vars, "HF_TOKEN"));
	assert_non_null(strstr(tok, "sha256:"));
	assert_true(fpt_has(cJSON_GetObjectItemCaseSensitive(c, "hashed"), "HF_TOKEN"));
	const char *never[] = { "PWD", "OLDPWD", "SHLVL", "TERM", "SSH_TTY", "_", "RUNPILOT_RUN_ID", "RUNPILOT_PARAM_LR" };
	for (size_t i = 0; i < sizeof never / sizeof *never; i++) {
		assert_null(cJSON_GetObjectItemCaseSensitive(vars, never[i]));
		assert_null(cJSON_GetObjectItemCaseSensitive(other, never[i]));
	}
	/* the rest goes to the context; credentials in URLs are hashed there too */
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(other, "RANDOM_THING")), "z");
	assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(other, "DB")), "sha256:"));
	char *text = cJSON_PrintUnformatted(c);
	assert_null(strstr(text, "hunter2"));
	free(text);

	/* different shells, same environment: same hash */
	char *envp2[] = { "SHLVL=1", "PWD=/elsewhere", "PATH=/usr/bin", "LC_ALL=C", "MY_FLAG=1", "HF_TOKEN=hunter2",
			  "EXTRA_ONE=a", "RUNPILOT_RUN_ID=rp_0002", "RANDOM_THING=other", NULL };
	in.envp = envp2;
	cJSON *c2 = NULL, *other2 = NULL;
	assert_int_equal(fp_env_component(&in, &c2, &other2), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "hash")),
			    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c2, "hash")));
	cJSON_Delete(c);
	cJSON_Delete(other);
	cJSON_Delete(c2);
	cJSON_Delete(other2);
}

static void test_scan_distributions(void **state)
{
	(void)state;
	char *d = fpt_tmpdir();
	fpt_write(d, "site/numpy-1.24.2.dist-info/METADATA",
		  "Metadata-Version: 2.1\nName: numpy\nVersion: 1.24.2\nSummary: x\n\nName: not-this\n");
	fpt_write(d, "site/Pygments-2.14.0.egg-info", "Metadata-Version: 1.1\nName: Pygments\nVersion: 2.14.0\n");
	fpt_write(d, "site/scikit_learn-1.2.1.egg-info/PKG-INFO", "Name: scikit-learn\nVersion: 1.2.1\n");
	fpt_write(d, "site/broken-0.1.dist-info/RECORD", "");
	fpt_write(d, "site/numpy/__init__.py", "");
	char *site = path_join(d, "site");
	char *dirs[] = { site, site, NULL };
	cJSON *arr = fp_scan_distributions(dirs);
	char *text = cJSON_PrintUnformatted(arr);
	assert_string_equal(text, "[\"broken==0.1\",\"numpy==1.24.2\",\"Pygments==2.14.0\",\"scikit-learn==1.2.1\"]");
	free(text);
	cJSON_Delete(arr);
	free(site);
	fpt_rm(d);
}

/* A fake interpreter (a copy of python3) with a fake dist-info on PYTHONPATH: version upgrades
 * are named, a different interpreter is a runtime change. */
static void test_packages_and_interpreter(void **state)
{
	(void)state;
	if (fpt_sh("command -v python3 >/dev/null") != 0)
		skip_because("no python3 on PATH");
	char *home = fpt_tmpdir(), *wd = fpt_tmpdir(), *site = fpt_tmpdir();
	fpt_write(wd, "train.py", "print(1)\n");
	fpt_write(wd, "requirements.txt", "numpy==1.24.2\n");
	fpt_write(site, "fakepkg-1.0.0.dist-info/METADATA", "Name: fakepkg\nVersion: 1.0.0\n");
	char *pp = xasprintf("PYTHONPATH=%s", site), *path = xasprintf("PATH=%s", getenv("PATH"));
	char *envp[] = { path, pp, NULL };
	char *argv[] = { "/bin/sh", "-c", "python3 train.py", NULL };
	cJSON *cfg = cJSON_CreateObject();
	struct fp_input in = fpt_input(home, wd, cfg, argv, envp);
	cJSON *e1 = NULL, *e2 = NULL, *e3 = NULL;
	struct rp_err err = { 0 };
	assert_int_equal(fp_compute(&in, &e1, &err), 0);
	const cJSON *pk = fpt_path(e1, "components", "packages", NULL);
	assert_true(fpt_has(cJSON_GetObjectItemCaseSensitive(pk, "distributions"), "fakepkg==1.0.0"));
	assert_non_null(fpt_path(pk, "lock_files", "requirements.txt", NULL));
	assert_non_null(cJSON_GetStringValue(fpt_path(e1, "components", "runtime", "interpreter") ?
		cJSON_GetObjectItemCaseSensitive(fpt_path(e1, "components", "runtime", "interpreter"), "version") : NULL));
	/* the probe is cached: a second computation does not need python (same answer) */

	fpt_write(site, "fakepkg-1.0.0.dist-info/METADATA", "Name: fakepkg\nVersion: 1.1.0\n");
	assert_int_equal(fp_compute(&in, &e2, &err), 0);
	cJSON *cmp = fp_compare(e1, e2);
	char *text = fp_compare_text(cmp, false);
	assert_non_null(strstr(text, "fakepkg 1.0.0 \u2192 1.1.0"));
	assert_null(strstr(text, "  runtime"));
	free(text);
	cJSON_Delete(cmp);

	/* another interpreter: a copy of python3 under a new name earlier on PATH */
	char *bin = path_join(home, "bin");
	assert_int_equal(fpt_sh("mkdir -p %s && printf '#!/bin/sh\\nexec %%s \"$@\"\\n' \"$(command -v python3)\" > %s/python3 && "
				"chmod +x %s/python3", bin, bin, bin), 0);
	char *path2 = xasprintf("PATH=%s:%s", bin, getenv("PATH"));
	char *envp2[] = { path2, pp, NULL };
	in.envp = envp2;
	assert_int_equal(fp_compute(&in, &e3, &err), 0);
	/* the wrapper was asked (through python itself): no probe error, the real binary hashed */
	const cJSON *ip3 = fpt_path(e3, "components", "runtime", "interpreter");
	assert_null(cJSON_GetObjectItemCaseSensitive(ip3, "probe_error"));
	assert_non_null(cJSON_GetObjectItemCaseSensitive(ip3, "version"));
	cmp = fp_compare(e2, e3);
	assert_string_equal(fpt_comp_str(cmp, "runtime", "status"), "changed");
	text = fp_compare_text(cmp, false);
	assert_non_null(strstr(text, "interpreter."));
	free(text);
	cJSON_Delete(cmp);
	cJSON_Delete(e1);
	cJSON_Delete(e2);
	cJSON_Delete(e3);
	cJSON_Delete(cfg);
	free(bin);
	free(path2);
	free(pp);
	free(path);
	fpt_rm(home);
	fpt_rm(wd);
	fpt_rm(site);
}

static cJSON *git_fp(const char *home, const char *wd)
{
	cJSON *cfg = cJSON_CreateObject();
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };
	struct fp_input in = fpt_input(home, wd, cfg, argv, envp);
	cJSON *e = NULL;
	struct rp_err err = { 0 };
	int rc = fp_compute(&in, &e, &err);
	if (rc < 0)
		fprintf(stderr, "fp_compute: %s\n", err.msg);
	assert_int_equal(rc, 0);
	cJSON_Delete(cfg);
	return e;
}

static void test_git_workdir(void **state)
{
	(void)state;
	if (fpt_sh("command -v git >/dev/null") != 0)
		skip_because("no git on PATH");
	char *home = fpt_tmpdir(), *wd = fpt_tmpdir();
	fpt_write(wd, "train.py", "lr = 0.1\n");
	fpt_write(wd, ".gitignore", "*.log\n");
	assert_int_equal(fpt_sh("cd %s && git init -q -b main . && git add -A && "
				"git -c user.email=t@t -c user.name=t commit -qm init", wd), 0);
	cJSON *clean = git_fp(home, wd);
	const cJSON *code = fpt_path(clean, "components", "code", NULL);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(code, "kind")), "git");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(code, "branch")), "main");
	assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(code, "dirty")));
	assert_int_equal(strlen(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(code, "commit"))), 40);

	/* an ignored file changes nothing */
	fpt_write(wd, "out.log", "noise");
	cJSON *ign = git_fp(home, wd);
	assert_string_equal(fpt_comp_str(clean, "code", "hash"), fpt_comp_str(ign, "code", "hash"));

	/* an edited line: dirty, never equal to the commit */
	fpt_write(wd, "train.py", "lr = 0.2\n");
	cJSON *dirty = git_fp(home, wd);
	assert_string_not_equal(fpt_comp_str(clean, "code", "hash"), fpt_comp_str(dirty, "code", "hash"));
	assert_true(cJSON_IsTrue(fpt_path(dirty, "components", "code", "dirty")));
	assert_true(fpt_has(fpt_path(dirty, "components", "code", "dirty_files"), "train.py"));

	/* staging the same content: what runs is the same */
	assert_int_equal(fpt_sh("cd %s && git add train.py", wd), 0);
	cJSON *staged = git_fp(home, wd);
	assert_string_equal(fpt_comp_str(dirty, "code", "hash"), fpt_comp_str(staged, "code", "hash"));

	/* an untracked file */
	fpt_write(wd, "notes.md", "x");
	cJSON *untracked = git_fp(home, wd);
	assert_string_not_equal(fpt_comp_str(staged, "code", "hash"), fpt_comp_str(untracked, "code", "hash"));
	assert_true(fpt_has(fpt_path(untracked, "components", "code", "dirty_files"), "notes.md"));

	/* git mode in a subdirectory of the repo with the run store inside it */
	fpt_write(wd, "sub/a.py", "1");
	fpt_write(wd, "sub/store/runs/x", "1");
	char *sub = path_join(wd, "sub"), *store = path_join(wd, "sub/store");
	cJSON *cfg = cJSON_CreateObject();
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };
	struct fp_input in = fpt_input(home, sub, cfg, argv, envp);
	in.exclude_dir = store;
	cJSON *es = NULL, *files = NULL;
	struct rp_err err = { 0 };
	assert_int_equal(fp_compute_files(&in, &es, &files, &err), 0);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(files, "code");
	assert_int_equal(cJSON_GetArraySize(list), 1);
	assert_string_equal(fp_files_row_path(cJSON_GetArrayItem(list, 0)), "a.py");
	cJSON_Delete(es);
	cJSON_Delete(files);
	cJSON_Delete(cfg);
	free(sub);
	free(store);

	cJSON_Delete(clean);
	cJSON_Delete(ign);
	cJSON_Delete(dirty);
	cJSON_Delete(staged);
	cJSON_Delete(untracked);
	fpt_rm(home);
	fpt_rm(wd);
}

/* A sandbox rootfs is hashed as a tree; a changed file in it is named. */
static void test_rootfs_tree(void **state)
{
	(void)state;
	char *home = fpt_tmpdir(), *wd = fpt_tmpdir(), *root = fpt_tmpdir();
	fpt_write(wd, "train.py", "x");
	fpt_write(root, "etc/os-release", "ID=fake\nVERSION_ID=\"1\"\n");
	make_exec(root, "usr/bin/python3", "#!fake\n");
	fpt_write(root, "usr/lib/python3.11/site-packages/torch-2.1.0.dist-info/METADATA", "Name: torch\nVersion: 2.1.0\n");
	cJSON *cfg = cJSON_CreateObject();
	char *argv[] = { "/bin/sh", "-c", "python3 train.py", NULL }, *envp[] = { "PATH=/usr/bin", NULL };
	struct fp_input in = fpt_input(home, wd, cfg, argv, envp);
	in.rootfs = root;
	cJSON *e1 = NULL, *f1 = NULL, *e2 = NULL, *f2 = NULL;
	struct rp_err err = { 0 };
	assert_int_equal(fp_compute_files(&in, &e1, &f1, &err), 0);
	const cJSON *rt = fpt_path(e1, "components", "runtime", NULL);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rt, "kind")), "rootfs");
	assert_string_equal(cJSON_GetStringValue(fpt_path(rt, "interpreter", "path", NULL)), "/usr/bin/python3");
	assert_true(fpt_has(fpt_path(e1, "components", "packages", "distributions"), "torch==2.1.0"));

	fpt_write(root, "etc/extra.conf", "new");
	assert_int_equal(fp_compute_files(&in, &e2, &f2, &err), 0);
	cJSON *cmp = fp_compare(e1, e2);
	fp_compare_files(cmp, f1, f2);
	assert_string_equal(fpt_comp_str(cmp, "runtime", "status"), "changed");
	char *text = fp_compare_text(cmp, false);
	assert_non_null(strstr(text, "rootfs added: etc/extra.conf"));
	free(text);
	cJSON_Delete(cmp);
	cJSON_Delete(e1);
	cJSON_Delete(e2);
	cJSON_Delete(f1);
	cJSON_Delete(f2);
	cJSON_Delete(cfg);
	fpt_rm(home);
	fpt_rm(wd);
	fpt_rm(root);
}

static void test_run_capture_timeout_and_status(void **state)
{
	(void)state;
	char *out = NULL;
	struct rp_err err = { 0 };
	char *a1[] = { "/bin/sh", "-c", "echo hi; exit 3", NULL };
	assert_int_equal(fp_run_capture(a1, NULL, "/", 10, &out, &err), 3);
	assert_string_equal(out, "hi\n");
	free(out);
	char *a2[] = { "/bin/sh", "-c", "sleep 5", NULL };
	double t0 = now_monotonic();
	assert_int_equal(fp_run_capture(a2, NULL, "/", 0.3, &out, &err), -1);
	assert_true(now_monotonic() - t0 < 3);
	assert_null(out);
	char *a3[] = { "/nonexistent/prog", NULL };
	assert_int_equal(fp_run_capture(a3, NULL, "/", 1, &out, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_interpreter),
		cmocka_unit_test(test_env_component),
		cmocka_unit_test(test_scan_distributions),
		cmocka_unit_test(test_packages_and_interpreter),
		cmocka_unit_test(test_git_workdir),
		cmocka_unit_test(test_rootfs_tree),
		cmocka_unit_test(test_run_capture_timeout_and_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
