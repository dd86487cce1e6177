/* libFuzzer target for the config loader (mk/fuzz.mk: make fuzz). Each input is a run config,
 * written to cfg.yaml in a directory made once per process (its own repository, so no
 * runpilot.yaml above it is read, and its own RUNPILOT_HOME, so no user config):
 * - rejected: a usage error of one line, nothing left allocated;
 * - accepted: its config.yaml (config_to_yaml) loads back as a resolved config, and writes the
 *   same YAML again (the round trip `rerun` relies on).
 * Anything else aborts, and so do the sanitizers on any memory error or undefined behaviour. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "runner.h"
#include "util.h"

/* The runner table (src/runners/runner.c) would link every runner, the sandbox and Docker's
 * client into the target: the loader only asks whether a name is one of theirs. */
bool runner_name_known(const char *name)
{
	static const char *const names[] = {"local", "sandbox", "docker", "slurm"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

static char dir[64];
static char *path;

static void cleanup(void)
{
	if (dir[0])
		rm_rf(dir, NULL);
	free(path);
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_config: %s\n  %s\n", what, detail ? detail : "");
	abort();
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/fuzz_config.XXXXXX");
	if (!mkdtemp(dir))
		die("cannot make the scratch directory", dir);
	atexit(cleanup);
	char *git = path_join(dir, ".git"), *home = path_join(dir, "home");
	if (mkdir(git, 0755) < 0 || mkdir(home, 0755) < 0 || setenv("RUNPILOT_HOME", home, 1) < 0)
		die("cannot set up the scratch directory", dir);
	free(git);
	free(home);
	path = path_join(dir, "cfg.yaml");
}

/* Plain writes: no fsync per input. */
static void put(const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		die("cannot write the config", path);
}

static void check_rejected(const struct rp_spec *s, const struct rp_err *e, const char *input)
{
	if (e->kind != RP_ERR_USAGE || !e->msg[0] || strchr(e->msg, '\n'))
		die("a rejection that is not a one-line usage error", e->msg);
	if (s->name || s->argv || s->config_path || s->env || s->params || s->origins || s->sources)
		die("a rejection that left the spec allocated", input);
}

/* config.yaml of an accepted config loads back and writes the same text again. */
static void round_trip(const struct rp_spec *s)
{
	struct rp_err e = {0};
	char *yaml = config_to_yaml(s, &e);
	if (!yaml)
		die("an accepted config that config_to_yaml refuses", e.msg);
	put(yaml, strlen(yaml));
	struct rp_overrides resolved = {.resolved = true};
	struct rp_spec back;
	if (config_load(path, &resolved, &back, &e) < 0) {
		fprintf(stderr, "config.yaml:\n%s\n", yaml);
		die("config.yaml of an accepted config does not load back", e.msg);
	}
	char *again = config_to_yaml(&back, &e);
	if (!again)
		die("a reloaded config that config_to_yaml refuses", e.msg);
	if (strcmp(yaml, again)) {
		fprintf(stderr, "first:\n%s\nagain:\n%s\n", yaml, again);
		die("config.yaml changes on a round trip", "");
	}
	free(again);
	free(yaml);
	config_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!path)
		setup();
	if (size > 16384)
		return 0;
	put(data, size);
	struct rp_spec s;
	struct rp_err e = {0};
	if (config_load(path, NULL, &s, &e) < 0) {
		char *input = xstrndup((const char *)data, size);
		check_rejected(&s, &e, input);
		free(input);
		return 0;
	}
	round_trip(&s);
	config_free(&s);
	return 0;
}
