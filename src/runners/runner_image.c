/* runner_image.c: a config's image as the runners run it. The sandbox takes it from the image
 * store (include/image.h): its unpacked tree becomes the job's root filesystem. Both runners
 * give the job the image's environment under the config's, with the defaults Docker gives an
 * image that sets none (PATH, HOME), so a job sees the same environment under either. */
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "image.h"
#include "util.h"

#define IMAGE_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static bool env_has(const struct strvec *env, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], name, n) && env->v[i][n] == '=')
			return true;
	return false;
}

void runner_image_env_defaults(struct runner_image *img, char *const *image_env, uid_t uid)
{
	for (char *const *e = image_env; e && *e; e++)
		if (strchr(*e, '='))
			strvec_push(&img->env, *e);
	if (!env_has(&img->env, "PATH"))
		strvec_push(&img->env, "PATH=" IMAGE_DEFAULT_PATH);
	/* Only root has a home in an image that we can count on. */
	if (!env_has(&img->env, "HOME"))
		strvec_push(&img->env, uid == 0 ? "HOME=/root" : "HOME=/");
}

/* A file of the image's tree, read as the job would see it: its symlinks resolve inside the
 * tree, never to this host's files. */
static char *read_in_tree(const char *root, const char *path)
{
	int dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return NULL;
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof how);
	close(dir);
	if (fd < 0)
		return NULL;
	char *text = NULL;
	size_t len;
	if (read_fd_all(fd, &text, &len) < 0) {
		free(text);
		text = NULL;
	}
	close(fd);
	return text;
}

/* A name's id in the image's /etc/passwd or /etc/group (field 3 of "name:x:id:..."). */
static int id_in_table(const char *root, const char *table, const char *name, unsigned *id)
{
	char *text = read_in_tree(root, table);
	int rc = -1;
	size_t n = strlen(name);
	for (char *line = text, *next; line && *line && rc < 0; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *f2 = !strncmp(line, name, n) && line[n] == ':' ? strchr(line + n + 1, ':') : NULL;
		char *end = NULL;
		unsigned long v = f2 ? strtoul(f2 + 1, &end, 10) : 0;
		if (f2 && end != f2 + 1 && *end == ':' && v < 4294967295UL) {
			*id = (unsigned)v;
			rc = 0;
		}
		if (!next)
			break;
	}
	free(text);
	return rc;
}

/* One of User's halves: a number, or a name in the image's table. */
static int user_part(const char *root, const char *table, const char *part, unsigned *id)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(part, &end, 10);
	if (*part && *end == '\0' && errno == 0 && v < 4294967295UL) {
		*id = (unsigned)v;
		return 0;
	}
	return id_in_table(root, table, part, id);
}

int runner_image_user_ids(const struct runner_image *img, uid_t *uid, gid_t *gid, struct rp_err *err)
{
	char *user = xstrdup(img->user);
	char *group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	unsigned u = 0, g = 0;
	int rc = 0;
	if (user_part(img->rootfs, "/etc/passwd", user, &u) < 0)
		rc = rp_err_set(err, RP_ERR_RUNTIME, "the image's user '%s' is not in its /etc/passwd", img->user);
	else if (group && user_part(img->rootfs, "/etc/group", group, &g) < 0)
		rc = rp_err_set(err, RP_ERR_RUNTIME, "the image's group '%s' is not in its /etc/group", group);
	else if (!group) {
		/* No group given: the user's own, from passwd's fourth field, else the uid. */
		char *text = read_in_tree(img->rootfs, "/etc/passwd");
		g = u;
		for (char *line = text; line && *line;) {
			char *next = strchr(line, '\n');
			unsigned long fu, fg;
			if (sscanf(line, "%*[^:]:%*[^:]:%lu:%lu:", &fu, &fg) == 2 && fu == u) {
				g = (unsigned)fg;
				break;
			}
			line = next ? next + 1 : NULL;
		}
		free(text);
	}
	free(user);
	*uid = u;
	*gid = g;
	return rc;
}

/* The sandbox's: from the image store, pulled when missing (if asked), unpacked once. */
static int store_image(const struct rp_spec *spec, const char *home, bool pull, struct runner_image *out,
		       struct rp_err *err)
{
	struct img_info info = {0};
	if (img_find(home, spec->image, &info, err) < 0) {
		if (!pull)
			return -1;
		struct rp_err why = {0};
		img_info_free(&info);
		memset(&info, 0, sizeof info);
		if (img_pull(home, spec->image, &info, &why) < 0) {
			img_info_free(&info);
			return rp_err_set(err, RP_ERR_RUNTIME,
					  "image %s is not in the image store, and pulling it failed (%s): "
					  "`runpilot image import FILE` a `docker save` of it, or `runpilot "
					  "image pull %s` where a registry answers",
					  spec->image, why.msg, spec->image);
		}
	}
	if (img_unpack(home, &info, err) < 0) {
		img_info_free(&info);
		return rp_err_wrap(err, "image %s", spec->image);
	}
	out->id = xstrdup(info.id);
	for (char **d = info.repo_digests; d && *d; d++)
		strvec_push(&out->digests, *d);
	out->rootfs = xstrdup(info.rootfs);
	out->user = info.config.user && *info.config.user ? xstrdup(info.config.user) : NULL;
	uid_t uid = getuid();
	gid_t gid;
	if (out->user && runner_image_user_ids(out, &uid, &gid, err) < 0) {
		img_info_free(&info);
		return -1;
	}
	runner_image_env_defaults(out, info.config.env, uid);
	img_info_free(&info);
	return 0;
}

int runner_image_resolve(const char *type, const struct rp_spec *spec, const char *home, bool pull,
			 struct runner_image *out, struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	if (!spec->image || !strcmp(type, "local"))
		return 0;
	if (!strcmp(type, "docker"))
		return runner_docker_image(spec->image, out, err);
	return store_image(spec, home, pull, out, err);
}

void runner_image_free(struct runner_image *img)
{
	free(img->id);
	free(img->rootfs);
	free(img->user);
	strvec_free(&img->digests);
	strvec_free(&img->env);
	memset(img, 0, sizeof *img);
}
