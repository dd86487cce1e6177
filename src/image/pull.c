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

/* The first non-empty line of skopeo's stderr, for the error message: the msg="..." of its
 * logger's line when it has one. */
static char *first_line(const char *file)
{
	char *text = NULL;
	if (read_file(file, &text, NULL, NULL) < 0)
		return xstrdup("(no message)");
	char *p = text + strspn(text, "\n ");
	p[strcspn(p, "\n")] = '\0';
	char *msg = strstr(p, "msg=\""), *end = msg ? strrchr(msg + 5, '"') : NULL;
	if (end) {
		*end = '\0';
		p = msg + 5;
	}
	char *line = xmalloc(strlen(p) + 1), *o = line;
	for (; *p; p++) /* \" as " */
		if (!(end && p[0] == '\\' && p[1] == '"'))
			*o++ = *p;
	*o = '\0';
	free(text);
	if (!*line) {
		free(line);
		return xstrdup("(no message)");
	}
	return line;
}

/* Run skopeo with argv (argv[0] its path), its stdout to outfile (or /dev/null) and its stderr
 * to errfile; 0 when it succeeded, else an error with the first line it wrote. */
static int run_skopeo(char *const argv[], const char *ref, const char *outfile, const char *errfile,
		      struct rp_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, outfile ? outfile : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		return rp_err_sys(err, "cannot run %s", argv[0]);
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

/* The digest of the manifest (or index) the registry serves for ref: what Docker records as the
 * repo digest. skopeo's copy into an OCI layout may convert a Docker manifest, changing its
 * digest, so it is taken from the raw manifest. */
static int registry_digest(const char *skopeo, const char *ref, const char *tmp, char **digest, struct rp_err *err)
{
	char *src = xasprintf("docker://%s", ref);
	char *out = xasprintf("%s/manifest.raw", tmp), *errf = xasprintf("%s/inspect.err", tmp);
	char *const argv[] = {(char *)skopeo, "inspect", "--raw", src, NULL};
	int rc = run_skopeo(argv, ref, out, errf, err);
	char *raw = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = read_file(out, &raw, &len, err);
	if (rc == 0) {
		char hex[65];
		img_sha256_hex(raw, len, hex);
		*digest = xasprintf("sha256:%s", hex);
	}
	free(raw);
	free(src);
	free(out);
	free(errf);
	return rc;
}

static int copy_to_layout(const char *skopeo, const char *ref, const char *layout, const char *tmp,
			  struct rp_err *err)
{
	char *src = xasprintf("docker://%s", ref), *dst = xasprintf("oci:%s:pulled", layout);
	char *errf = xasprintf("%s/copy.err", tmp);
	char *const argv[] = {(char *)skopeo, "--override-os", "linux", "copy", "--quiet", src, dst, NULL};
	int rc = run_skopeo(argv, ref, NULL, errf, err);
	free(src);
	free(dst);
	free(errf);
	return rc;
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
	int tmp_lock = -1;
	char *tmp = img_store_init(home, err) == 0 ? img_tmpdir(home, "tmp", "pull", &tmp_lock, err) : NULL;
	int rc = tmp ? 0 : -1;
	char *layout = tmp ? xasprintf("%s/layout", tmp) : NULL;
	char *digest = NULL, *repo_digest = NULL;
	if (rc == 0)
		rc = registry_digest(skopeo, ref, tmp, &digest, err);
	if (rc == 0)
		rc = copy_to_layout(skopeo, ref, layout, tmp, err);
	char *name = img_ref_name(&r);
	if (rc == 0) {
		repo_digest = xasprintf("%s@%s", r.repo, digest);
		rc = img_import_from(home, layout, name, repo_digest, out, err);
	}
	if (tmp && rm_rf(tmp, NULL) < 0)
		rp_log(RP_LOG_WARNING, "cannot remove %s", tmp);
	close_fd(&tmp_lock);
	free(name);
	free(layout);
	free(digest);
	free(repo_digest);
	free(tmp);
	free(skopeo);
	img_ref_free(&r);
	return rc;
}
