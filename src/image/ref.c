/* ref.c: image references in Docker's grammar, kept in their familiar form: "busybox" is
 * "busybox:latest", and "docker.io/library/busybox:latest" names the same image. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "img_int.h"

bool img_is_hex(const char *s, size_t min, size_t max)
{
	size_t n = strspn(s, "0123456789abcdef");
	return s[n] == '\0' && n >= min && n <= max;
}

bool img_is_digest(const char *s)
{
	return !strncmp(s, "sha256:", 7) && img_is_hex(s + 7, 64, 64);
}

void img_ref_free(struct img_ref *r)
{
	free(r->repo);
	free(r->tag);
	free(r->digest);
	r->repo = r->tag = r->digest = NULL;
}

/* A registry host: has a dot or a port, or is localhost (Docker's rule). */
static bool is_domain(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !strncmp(s, "localhost", 9));
}

/* One path component: lowercase alphanumerics separated by '.', '_', "__" or '-'. */
static bool valid_component(const char *s, size_t n)
{
	if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || strchr("._-", s[i])))
			return false;
	return true;
}

static bool valid_path(const char *p)
{
	while (*p) {
		const char *end = strchrnul(p, '/');
		if (!valid_component(p, (size_t)(end - p)))
			return false;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			return false;
	}
	return true;
}

static bool valid_tag(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)t[i]) || strchr("._-", t[i])))
			return false;
	return true;
}

/* Split "name[:tag]" (the name without its digest); the tag's colon is after the last '/'. */
static void split_tag(char *name, char **tag)
{
	char *slash = strrchr(name, '/');
	char *colon = strrchr(slash ? slash : name, ':');
	*tag = NULL;
	if (colon) {
		*colon = '\0';
		*tag = colon + 1;
	}
}

/* The familiar repository: docker.io (or index.docker.io) and library/ dropped. */
static char *familiar_repo(const char *name, struct rp_err *err, const char *orig)
{
	const char *slash = strchr(name, '/');
	const char *domain_end = slash;
	const char *rest = name;
	char *domain = NULL;
	if (slash && is_domain(name, (size_t)(slash - name))) {
		domain = xstrndup(name, (size_t)(domain_end - name));
		rest = slash + 1;
		if (!strcmp(domain, "docker.io") || !strcmp(domain, "index.docker.io")) {
			free(domain);
			domain = NULL;
			if (!strncmp(rest, "library/", 8) && !strchr(rest + 8, '/'))
				rest += 8;
		}
	}
	if (!valid_path(rest)) {
		free(domain);
		rp_err_set(err, RP_ERR_USAGE, "'%s' is not a valid image reference (repository names are lowercase "
			   "letters, digits and . _ - separated by /)", orig);
		return NULL;
	}
	char *repo = domain ? xasprintf("%s/%s", domain, rest) : xstrdup(rest);
	free(domain);
	return repo;
}

int img_ref_parse(const char *s, struct img_ref *out, struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	/* Docker's limit is on the repository (255), with a tag (128) and a digest after it */
	if (!*s || strlen(s) > 512)
		return rp_err_set(err, RP_ERR_USAGE, "'%s' is not a valid image reference", s);
	char *name = xstrdup(s);
	char *at = strchr(name, '@');
	if (at) {
		*at = '\0';
		if (!img_is_digest(at + 1)) {
			rp_err_set(err, RP_ERR_USAGE, "'%s': the digest is not sha256:<64 hex digits>", s);
			free(name);
			return -1;
		}
		out->digest = xstrdup(at + 1);
	}
	char *tag;
	split_tag(name, &tag);
	if (strlen(name) > 255) {
		rp_err_set(err, RP_ERR_USAGE, "'%s': the repository name is longer than 255 characters", s);
		free(name);
		img_ref_free(out);
		return -1;
	}
	if (tag && !valid_tag(tag)) {
		rp_err_set(err, RP_ERR_USAGE, "'%s': the tag '%s' is not valid", s, tag);
		free(name);
		img_ref_free(out);
		return -1;
	}
	out->repo = familiar_repo(name, err, s);
	if (!out->repo) {
		free(name);
		img_ref_free(out);
		return -1;
	}
	if (tag)
		out->tag = xstrdup(tag);
	else if (!out->digest)
		out->tag = xstrdup("latest");
	free(name);
	return 0;
}

char *img_ref_name(const struct img_ref *r)
{
	return r->tag ? xasprintf("%s:%s", r->repo, r->tag) : NULL;
}

char *img_normalise_name(const char *s, struct rp_err *err)
{
	struct img_ref r;
	if (img_ref_parse(s, &r, err) < 0)
		return NULL;
	char *n = img_ref_name(&r);
	if (!n)
		rp_err_set(err, RP_ERR_USAGE, "'%s': a name is repository[:tag], without a digest", s);
	img_ref_free(&r);
	return n;
}
