/* runner_image.c: a config's image as the runners run it. The sandbox takes it from the image
 * store (include/image.h): its unpacked tree becomes the job's root filesystem. Both runners
 * give the job the image's environment under the config's, with the defaults Docker gives an
 * image that sets none (PATH, HOME), so a job sees the same environment under either. */
#include "runner.h"

#include <stdlib.h>
#include <string.h>
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

void runner_image_env_defaults(struct runner_image *img, char *const *image_env)
{
	for (char *const *e = image_env; e && *e; e++)
		if (strchr(*e, '='))
			strvec_push(&img->env, *e);
	if (!env_has(&img->env, "PATH"))
		strvec_push(&img->env, "PATH=" IMAGE_DEFAULT_PATH);
	/* The job is the caller's uid inside (root's: 0); only root has a home in an image's
	 * passwd that we can count on. */
	if (!env_has(&img->env, "HOME"))
		strvec_push(&img->env, getuid() == 0 ? "HOME=/root" : "HOME=/");
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
	runner_image_env_defaults(out, info.config.env);
	img_info_free(&info);
	return 0;
}

int runner_image_resolve(const char *type, const struct rp_spec *spec, const char *home, bool pull,
			 struct runner_image *out, struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	if (!spec->image || !strcmp(type, "local"))
		return 0;
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
