/* pull.c: images from a registry through Debian's skopeo (`skopeo copy docker://REF
 * oci:DIR:TAG`) into a temporary OCI layout, then imported like any other, with the digest of
 * the manifest the registry served recorded as "repo@sha256:...". */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "img_int.h"
#include "log.h"

extern char **environ;

/* skopeo on PATH (its absolute path), or NULL. */
static char *find_skopeo(void)
{
	const char *path = getenv("PATH");
	char *copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	char *found = NULL;
	for (char *d = copy, *save = NULL; !found && (d = strtok_r(d, ":", &save)); d = NULL) {
		char *p = path_join(d, "skopeo");
		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(copy);
	return found;
}

/* The first non-empty line of skopeo's stderr, for the error message. */
static char *first_line(const char *file)
{
	char *text = NULL;
	if (read_file(file, &text, NULL, NULL) < 0)
		return xstrdup("(no message)");
	char *p = text + strspn(text, "\n ");
	char *line = xstrndup(p, strcspn(p, "\n"));
	free(text);
	return *line ? line : (free(line), xstrdup("(no message)"));
}

/* Run skopeo copy; 0 when it succeeded, else an error with its first line. */
static int run_skopeo(const char *skopeo, const char *ref, const char *layout, const char *errfile,
		      struct rp_err *err)
{
	char *src = xasprintf("docker://%s", ref);
	char *dst = xasprintf("oci:%s:pulled", layout);
	char *const argv[] = {(char *)skopeo, "--override-os", "linux", "copy", "--quiet", src, dst, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	pid_t pid;
	int rc = posix_spawn(&pid, skopeo, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	free(src);
	free(dst);
	if (rc != 0) {
		errno = rc;
		return rp_err_sys(err, "cannot run %s", skopeo);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return rp_err_sys(err, "cannot wait for skopeo");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char *line = first_line(errfile);
	rp_err_set(err, RP_ERR_RUNTIME, "cannot pull %s: skopeo: %s", ref, line);
	free(line);
	return -1;
}

int img_pull(const char *home, const char *ref, struct img_info *out, struct rp_err *err)
{
	struct img_ref r;
	if (img_ref_parse(ref, &r, err) < 0)
		return -1;
	char *skopeo = find_skopeo();
	if (!skopeo) {
		img_ref_free(&r);
		return rp_err_set(err, RP_ERR_RUNTIME, "cannot pull %s: skopeo is not installed (apt-get install skopeo)", ref);
	}
	char *tmp = img_store_init(home, err) == 0 ? img_tmpdir(home, "pull", err) : NULL;
	int rc = tmp ? 0 : -1;
	char *layout = tmp ? xasprintf("%s/layout", tmp) : NULL;
	char *errfile = tmp ? xasprintf("%s/skopeo.err", tmp) : NULL;
	if (rc == 0)
		rc = run_skopeo(skopeo, ref, layout, errfile, err);
	char *name = img_ref_name(&r);
	if (rc == 0)
		rc = img_import_from(home, layout, name, r.repo, out, err);
	if (tmp && rm_rf(tmp, NULL) < 0)
		rp_log(RP_LOG_WARNING, "cannot remove %s", tmp);
	free(name);
	free(layout);
	free(errfile);
	free(tmp);
	free(skopeo);
	img_ref_free(&r);
	return rc;
}
