/* config.c: YAML config → struct rp_spec, validated, with overrides applied.
 * Every error is one line "PATH:LINE:COL: message" (RP_ERR_USAGE), positions from libyaml. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <yaml.h>

#include "metrics.h"
#include "runner.h"
#include "store.h"
#include "util.h"

struct loader {
	const char *path;
	const char *config_dir; /* relative paths in the config are relative to it */
	yaml_document_t doc;
	struct rp_err *err;
	struct rp_spec *spec;   /* where the settings being read note their origin */
	enum rp_source source;  /* the role of this file (or of its defaults: while read) */
	const char *abs_path;   /* the file, for origins */
	struct rp_spec *defaults; /* a runpilot.yaml's defaults: go here; NULL: not allowed */
	bool had_defaults;      /* the file has a defaults: section */
};

static int fail_at(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_at(struct loader *L, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* a quoted key or value can hold line breaks: the error stays one line */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (n)
		return rp_err_set(L->err, RP_ERR_USAGE, "%s:%zu:%zu: %s", L->path, n->start_mark.line + 1,
				  n->start_mark.column + 1, msg);
	/* no node (an empty document): still "PATH:LINE:COL: message" like every other error */
	return rp_err_set(L->err, RP_ERR_USAGE, "%s:1:1: %s", L->path, msg);
}

/* ---- origins: where each setting came from ---- */

static struct rp_origin *find_origin(const struct rp_spec *s, const char *setting)
{
	for (size_t i = 0; i < s->norigins; i++)
		if (!strcmp(s->origins[i].setting, setting))
			return &s->origins[i];
	return NULL;
}

static void set_origin(struct rp_spec *s, const char *setting, enum rp_source src, const char *path, size_t line)
{
	struct rp_origin *o = find_origin(s, setting);
	if (!o) {
		s->origins = xrealloc(s->origins, (s->norigins + 1) * sizeof *s->origins);
		o = &s->origins[s->norigins++];
		o->setting = xstrdup(setting);
	} else {
		free(o->path);
	}
	o->source = src;
	o->path = path ? xstrdup(path) : NULL;
	o->line = line;
}

/* The setting named by fmt was given at key's place in the file being read. */
static void note(struct loader *L, const yaml_node_t *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(struct loader *L, const yaml_node_t *key, const char *fmt, ...)
{
	char setting[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(setting, sizeof setting, fmt, ap);
	va_end(ap);
	set_origin(L->spec, setting, L->source, L->abs_path, key->start_mark.line + 1);
}

/* ---- small parsers shared with the flag parser ---- */

static int parse_number_suffix(const char *s, double *num, const char **suffix)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno || !isfinite(v))
		return -1;
	while (*end == ' ')
		end++;
	*num = v;
	*suffix = end;
	return 0;
}

int parse_memory(const char *s, long long *bytes)
{
	double v;
	const char *u;
	if (parse_number_suffix(s, &v, &u) < 0 || v <= 0)
		return -1;
	double mult = 1;
	switch (tolower((unsigned char)*u)) {
	case '\0': break;
	case 'b': mult = 1; u++; break;
	case 'k': mult = 1024.0; u++; break;
	case 'm': mult = 1024.0 * 1024; u++; break;
	case 'g': mult = 1024.0 * 1024 * 1024; u++; break;
	case 't': mult = 1024.0 * 1024 * 1024 * 1024; u++; break;
	default: return -1;
	}
	if (mult > 1 && (*u == 'i' || *u == 'I'))
		u++;
	if (mult > 1 && (*u == 'b' || *u == 'B'))
		u++;
	if (*u)
		return -1;
	double b = v * mult;
	if (b < 1 || b > 9.0e18)
		return -1;
	*bytes = (long long)b;
	return 0;
}

int parse_duration(const char *s, double *seconds)
{
	double v;
	const char *u;
	if (parse_number_suffix(s, &v, &u) < 0 || v <= 0)
		return -1;
	double mult;
	if (!strcmp(u, "") || !strcmp(u, "s"))
		mult = 1;
	else if (!strcmp(u, "ms"))
		mult = 0.001;
	else if (!strcmp(u, "m"))
		mult = 60;
	else if (!strcmp(u, "h"))
		mult = 3600;
	else if (!strcmp(u, "d"))
		mult = 86400;
	else
		return -1;
	/* finite and within what the runners convert to whole minutes or milliseconds (317 years) */
	if (v * mult > 1e10)
		return -1;
	*seconds = v * mult;
	return 0;
}

int parse_cpus(const char *s, double *cpus)
{
	double v;
	const char *u;
	if (parse_number_suffix(s, &v, &u) < 0 || *u || v <= 0 || v > 4096)
		return -1;
	*cpus = v;
	return 0;
}

int parse_count(const char *s, long long *n)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno || v <= 0)
		return -1;
	*n = v;
	return 0;
}

/* ---- scalar typing (YAML 1.2 core schema for plain scalars) ---- */

static bool is_int_text(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	while (isdigit((unsigned char)*s))
		s++;
	return *s == '\0';
}

static bool is_float_text(const char *s)
{
	char *end;
	if (!*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	strtod(s, &end);
	if (*end || errno)
		return false;
	/* strtod accepts "inf", "nan", hex: YAML plain floats are decimal only. */
	for (const char *p = s; *p; p++)
		if (!strchr("0123456789+-.eE", *p))
			return false;
	return true;
}

static enum rp_scalar_type infer_type(const char *s)
{
	if (!*s || !strcmp(s, "~") || !strcasecmp(s, "null"))
		return RP_NULL;
	if (!strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "True") || !strcmp(s, "False") ||
	    !strcmp(s, "TRUE") || !strcmp(s, "FALSE"))
		return RP_BOOL;
	if (is_int_text(s))
		return RP_INT;
	if (is_float_text(s))
		return RP_FLOAT;
	return RP_STR;
}

static enum rp_scalar_type node_type(const yaml_node_t *n)
{
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return RP_STR;
	return infer_type((const char *)n->data.scalar.value);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static const char *kind_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE: return "a scalar";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_MAPPING_NODE: return "a mapping";
	default: return "empty";
	}
}

static int want_string(struct loader *L, const yaml_node_t *n, const char *key)
{
	if (n->type != YAML_SCALAR_NODE || node_type(n) == RP_NULL)
		return fail_at(L, n, "'%s' must be a string, not %s", key,
			       n->type == YAML_SCALAR_NODE ? "empty" : kind_name(n));
	return 0;
}

/* A key given twice in one mapping is an error: libyaml keeps both pairs, and the later one
 * would silently win (and leak what the first one allocated). */
static int check_unique_keys(struct loader *L, const yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++) {
		const yaml_node_t *ka = yaml_document_get_node(&L->doc, a->key);
		if (!ka || ka->type != YAML_SCALAR_NODE)
			continue;
		for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
			const yaml_node_t *kb = yaml_document_get_node(&L->doc, b->key);
			if (kb && kb->type == YAML_SCALAR_NODE && !strcmp(scalar(ka), scalar(kb)))
				return fail_at(L, ka, "duplicate key '%s' in '%s'", scalar(ka), key);
		}
	}
	return 0;
}

static int want_kind(struct loader *L, const yaml_node_t *n, yaml_node_type_t t, const char *key)
{
	if (n->type != t)
		return fail_at(L, n, "'%s' must be %s, not %s", key,
			       t == YAML_MAPPING_NODE ? "a mapping" : t == YAML_SEQUENCE_NODE ? "a list" : "a scalar",
			       kind_name(n));
	if (t == YAML_MAPPING_NODE)
		return check_unique_keys(L, n, key);
	return 0;
}

/* ---- "did you mean" ---- */


static const char *closest(const char *word, const char *const *known)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	for (size_t i = 0; known[i]; i++) {
		size_t d = edit_distance(word, strlen(word), known[i], strlen(known[i]));
		if (d < best_d) {
			best_d = d;
			best = known[i];
		}
	}
	size_t len = strlen(word);
	size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
	return best_d <= limit ? best : NULL;
}

static int unknown_key(struct loader *L, const yaml_node_t *key, const char *section,
		       const char *const *known)
{
	const char *sug = closest(scalar(key), known);
	char where[80] = "";
	if (section)
		snprintf(where, sizeof where, " in '%s'", section);
	if (sug)
		return fail_at(L, key, "unknown key '%s'%s (did you mean '%s'?)", scalar(key), where, sug);
	return fail_at(L, key, "unknown key '%s'%s", scalar(key), where);
}

/* Iterate a mapping: each pair's key must be a scalar. */
#define FOR_PAIRS(L, map, kn, vn)                                                                  \
	for (yaml_node_pair_t *pair_ = (map)->data.mapping.pairs.start;                              \
	     pair_ < (map)->data.mapping.pairs.top &&                                                  \
	     ((kn) = yaml_document_get_node(&(L)->doc, pair_->key)) &&                                 \
	     ((vn) = yaml_document_get_node(&(L)->doc, pair_->value));                                 \
	     pair_++)

#define FOR_ITEMS(L, seq, in)                                                                      \
	for (yaml_node_item_t *item_ = (seq)->data.sequence.items.start;                             \
	     item_ < (seq)->data.sequence.items.top &&                                                 \
	     ((in) = yaml_document_get_node(&(L)->doc, *item_));                                       \
	     item_++)

static int check_key_scalar(struct loader *L, const yaml_node_t *k)
{
	if (k->type != YAML_SCALAR_NODE)
		return fail_at(L, k, "keys must be plain names, not %s", kind_name(k));
	return 0;
}

/* ---- sections ---- */

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

static bool valid_env_name(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static char *shell_quote_join(char **argv)
{
	size_t cap = 64, n = 0;
	char *out = xmalloc(cap);
	out[0] = '\0';
	for (size_t i = 0; argv[i]; i++) {
		const char *a = argv[i];
		bool plain = *a != '\0';
		for (const char *p = a; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("-_./=:,+@%", *p))
				plain = false;
		char *piece;
		if (plain) {
			piece = xstrdup(a);
		} else {
			size_t plen = 2;
			for (const char *p = a; *p; p++)
				plen += *p == '\'' ? 4 : 1;
			piece = xmalloc(plen + 1);
			char *w = piece;
			*w++ = '\'';
			for (const char *p = a; *p; p++) {
				if (*p == '\'') {
					memcpy(w, "'\\''", 4);
					w += 4;
				} else {
					*w++ = *p;
				}
			}
			*w++ = '\'';
			*w = '\0';
		}
		size_t need = n + strlen(piece) + 2;
		if (need > cap) {
			cap = need * 2;
			out = xrealloc(out, cap);
		}
		if (i > 0)
			out[n++] = ' ';
		strcpy(out + n, piece);
		n += strlen(piece);
		free(piece);
	}
	return out;
}

static int load_entrypoint(struct loader *L, const yaml_node_t *v, struct rp_spec *s)
{
	struct strvec argv = {0};
	if (v->type == YAML_SCALAR_NODE) {
		if (node_type(v) == RP_NULL || !*scalar(v))
			return fail_at(L, v, "'entrypoint' must not be empty");
		strvec_push(&argv, "/bin/sh");
		strvec_push(&argv, "-c");
		strvec_push(&argv, scalar(v));
		s->entrypoint = xstrdup(scalar(v));
		s->entrypoint_is_list = false;
	} else if (v->type == YAML_SEQUENCE_NODE) {
		yaml_node_t *it;
		FOR_ITEMS(L, v, it) {
			if (it->type != YAML_SCALAR_NODE) {
				strvec_free(&argv);
				return fail_at(L, it, "'entrypoint' list items must be strings, not %s", kind_name(it));
			}
			strvec_push(&argv, scalar(it));
		}
		if (argv.n == 0 || !*argv.v[0]) {
			strvec_free(&argv);
			return fail_at(L, v, "'entrypoint' must not be empty");
		}
		s->entrypoint = shell_quote_join(argv.v);
		s->entrypoint_is_list = true;
	} else {
		return fail_at(L, v, "'entrypoint' must be a string or a list of strings, not %s", kind_name(v));
	}
	s->argv = argv.v;
	return 0;
}

static int load_scalar_map(struct loader *L, const yaml_node_t *v, const char *key, bool env_names,
			   struct rp_kv **out, size_t *nout)
{
	if (want_kind(L, v, YAML_MAPPING_NODE, key) < 0)
		return -1;
	yaml_node_t *k, *val;
	FOR_PAIRS(L, v, k, val) {
		if (check_key_scalar(L, k) < 0)
			return -1;
		if (env_names && !valid_env_name(scalar(k)))
			return fail_at(L, k, "'%s' is not a valid environment variable name", scalar(k));
		if (!env_names && !valid_env_name(scalar(k)) && !valid_name(scalar(k)))
			return fail_at(L, k, "param name '%s' may only use letters, digits, '.', '_' and '-'",
				       scalar(k));
		if (val->type != YAML_SCALAR_NODE)
			return fail_at(L, val, "%s.%s must be a scalar (string, number or bool), not %s", key,
				       scalar(k), kind_name(val));
		for (size_t i = 0; i < *nout; i++)
			if (!strcmp((*out)[i].key, scalar(k)))
				return fail_at(L, k, "duplicate key '%s' in '%s'", scalar(k), key);
		*out = xrealloc(*out, (*nout + 1) * sizeof **out);
		(*out)[*nout] = (struct rp_kv){xstrdup(scalar(k)), xstrdup(scalar(val)),
					       env_names ? RP_STR : node_type(val)};
		(*nout)++;
		note(L, k, "%s.%s", key, scalar(k));
	}
	return 0;
}

static int load_string_list(struct loader *L, const yaml_node_t *v, const char *key, char ***out,
			    size_t *nout)
{
	if (want_kind(L, v, YAML_SEQUENCE_NODE, key) < 0)
		return -1;
	struct strvec sv = {0};
	yaml_node_t *it;
	FOR_ITEMS(L, v, it) {
		if (it->type != YAML_SCALAR_NODE || !*scalar(it)) {
			strvec_free(&sv);
			return fail_at(L, it, "'%s' items must be non-empty strings", key);
		}
		strvec_push(&sv, scalar(it));
	}
	*out = strvec_items(&sv);
	*nout = sv.n;
	return 0;
}

static int load_resources(struct loader *L, const yaml_node_t *v, struct rp_resources *r)
{
	static const char *const known[] = {"cpus", "memory", "pids", "timeout", "log_bytes", NULL};
	if (want_kind(L, v, YAML_MAPPING_NODE, "resources") < 0)
		return -1;
	yaml_node_t *k, *val;
	FOR_PAIRS(L, v, k, val) {
		if (check_key_scalar(L, k) < 0)
			return -1;
		const char *name = scalar(k);
		if (val->type != YAML_SCALAR_NODE)
			return fail_at(L, val, "resources.%s must be a scalar, not %s", name, kind_name(val));
		const char *t = scalar(val);
		if (!strcmp(name, "cpus")) {
			if (parse_cpus(t, &r->cpus) < 0)
				return fail_at(L, val, "resources.cpus: '%s' is not a positive number of CPUs (e.g. 1.5)", t);
		} else if (!strcmp(name, "memory")) {
			if (parse_memory(t, &r->memory_bytes) < 0)
				return fail_at(L, val, "resources.memory: '%s' is not a size (e.g. 512m, 2g)", t);
		} else if (!strcmp(name, "pids")) {
			if (parse_count(t, &r->pids) < 0)
				return fail_at(L, val, "resources.pids: '%s' is not a positive integer", t);
		} else if (!strcmp(name, "timeout")) {
			if (parse_duration(t, &r->timeout_s) < 0)
				return fail_at(L, val, "resources.timeout: '%s' is not a duration (e.g. 90s, 30m, 2h)", t);
		} else if (!strcmp(name, "log_bytes")) {
			if (parse_memory(t, &r->log_bytes) < 0)
				return fail_at(L, val, "resources.log_bytes: '%s' is not a size (e.g. 64k, 100m)", t);
		} else {
			return unknown_key(L, k, "resources", known);
		}
		note(L, k, "resources.%s", name);
	}
	return 0;
}

/* Expand a leading ~ to $HOME of the invoking user. */
static char *expand_home(const char *p)
{
	if (p[0] != '~' || (p[1] && p[1] != '/'))
		return xstrdup(p);
	const char *home = getenv("HOME");
	return xasprintf("%s%s", home && *home ? home : "/", p + 1);
}

static int want_abs_path(struct loader *L, const yaml_node_t *n, const char *key, char **out)
{
	if (want_string(L, n, key) < 0)
		return -1;
	char *p = expand_home(scalar(n));
	if (p[0] != '/') {
		free(p);
		return fail_at(L, n, "%s: '%s' must be an absolute path (or start with ~/)", key, scalar(n));
	}
	*out = path_absolute(NULL, p);
	free(p);
	return 0;
}

static int load_mounts(struct loader *L, const yaml_node_t *v, struct rp_sandbox_cfg *sb)
{
	static const char *const known[] = {"src", "dst", "readonly", NULL};
	if (want_kind(L, v, YAML_SEQUENCE_NODE, "sandbox.mounts") < 0)
		return -1;
	yaml_node_t *it;
	FOR_ITEMS(L, v, it) {
		if (want_kind(L, it, YAML_MAPPING_NODE, "sandbox.mounts item") < 0)
			return -1;
		struct rp_bind_mount m = {.readonly = true};
		yaml_node_t *k, *val;
		FOR_PAIRS(L, it, k, val) {
			if (check_key_scalar(L, k) < 0)
				goto bad;
			if (!strcmp(scalar(k), "src")) {
				/* a host path: relative to the config's folder, like workdir */
				free(m.src);
				m.src = NULL;
				if (want_string(L, val, "sandbox.mounts.src") < 0)
					goto bad;
				char *e = expand_home(scalar(val));
				m.src = path_absolute(L->config_dir, e);
				free(e);
			} else if (!strcmp(scalar(k), "dst")) {
				free(m.dst);
				m.dst = NULL;
				if (want_abs_path(L, val, "sandbox.mounts.dst", &m.dst) < 0)
					goto bad;
			} else if (!strcmp(scalar(k), "readonly")) {
				if (val->type != YAML_SCALAR_NODE || node_type(val) != RP_BOOL) {
					fail_at(L, val, "sandbox.mounts.readonly must be true or false");
					goto bad;
				}
				m.readonly = tolower((unsigned char)scalar(val)[0]) == 't';
			} else {
				unknown_key(L, k, "sandbox.mounts", known);
				goto bad;
			}
		}
		if (!m.src || !m.dst) {
			fail_at(L, it, "sandbox.mounts items need both 'src' and 'dst'");
			goto bad;
		}
		sb->mounts = xrealloc(sb->mounts, (sb->nmounts + 1) * sizeof *sb->mounts);
		sb->mounts[sb->nmounts++] = m;
		continue;
bad:
		free(m.src);
		free(m.dst);
		return -1;
	}
	return 0;
}

static int parse_bool_node(struct loader *L, const yaml_node_t *v, const char *key, bool *out)
{
	if (v->type != YAML_SCALAR_NODE || node_type(v) != RP_BOOL)
		return fail_at(L, v, "%s must be true or false", key);
	*out = tolower((unsigned char)scalar(v)[0]) == 't';
	return 0;
}

static int load_seccomp(struct loader *L, const yaml_node_t *key, const yaml_node_t *v, struct rp_sandbox_cfg *sb)
{
	static const char *const known[] = {"profile", "deny", "log", NULL};
	static const char *const profiles[] = {"default", "strict", "unconfined", NULL};
	const yaml_node_t *profile = NULL;
	if (v->type == YAML_SCALAR_NODE) {
		profile = v;
		note(L, key, "sandbox.seccomp.profile");
	} else if (v->type == YAML_MAPPING_NODE) {
		yaml_node_t *k, *val;
		if (check_unique_keys(L, v, "sandbox.seccomp") < 0)
			return -1;
		FOR_PAIRS(L, v, k, val) {
			if (check_key_scalar(L, k) < 0)
				return -1;
			if (!strcmp(scalar(k), "profile")) {
				profile = val;
			} else if (!strcmp(scalar(k), "deny")) {
				if (load_string_list(L, val, "sandbox.seccomp.deny", &sb->seccomp_deny,
						     &sb->nseccomp_deny) < 0)
					return -1;
			} else if (!strcmp(scalar(k), "log")) {
				if (parse_bool_node(L, val, "sandbox.seccomp.log", &sb->seccomp_log) < 0)
					return -1;
			} else {
				return unknown_key(L, k, "sandbox.seccomp", known);
			}
			note(L, k, "sandbox.seccomp.%s", scalar(k));
		}
	} else {
		return fail_at(L, v, "sandbox.seccomp must be a profile name or a mapping");
	}
	if (profile) {
		if (want_string(L, profile, "sandbox.seccomp.profile") < 0)
			return -1;
		size_t i;
		for (i = 0; profiles[i] && strcmp(profiles[i], scalar(profile)); i++)
			;
		if (!profiles[i])
			return fail_at(L, profile, "unknown seccomp profile '%s' (use default, strict or unconfined)",
				       scalar(profile));
		free(sb->seccomp_profile);
		sb->seccomp_profile = xstrdup(scalar(profile));
	}
	return 0;
}

/* sandbox.env_pass: names (or globs of names) of runpilot's own variables the job also gets. */
static int load_env_pass(struct loader *L, const yaml_node_t *v, struct rp_sandbox_cfg *sb)
{
	if (load_string_list(L, v, "sandbox.env_pass", &sb->env_pass, &sb->nenv_pass) < 0)
		return -1;
	for (size_t i = 0; i < sb->nenv_pass; i++) {
		const char *n = sb->env_pass[i];
		bool ok = n[0] && !isdigit((unsigned char)n[0]);
		for (const char *c = n; ok && *c; c++)
			ok = isalnum((unsigned char)*c) || strchr("_*?[]", *c);
		if (!ok)
			return fail_at(L, v, "sandbox.env_pass: '%s' is not a variable name or a glob of names", n);
	}
	return 0;
}

static int load_sandbox(struct loader *L, const yaml_node_t *v, struct rp_sandbox_cfg *sb)
{
	static const char *const known[] = {"network", "rootfs", "mounts", "mask", "capabilities",
					    "seccomp", "gpus", "userns", "env_pass", NULL};
	if (want_kind(L, v, YAML_MAPPING_NODE, "sandbox") < 0)
		return -1;
	yaml_node_t *k, *val;
	FOR_PAIRS(L, v, k, val) {
		if (check_key_scalar(L, k) < 0)
			return -1;
		const char *name = scalar(k);
		if (!strcmp(name, "network")) {
			if (want_string(L, val, "sandbox.network") < 0)
				return -1;
			if (strcmp(scalar(val), "outbound") && strcmp(scalar(val), "host") && strcmp(scalar(val), "none"))
				return fail_at(L, val, "sandbox.network must be 'outbound', 'none' or 'host', not '%s'",
					       scalar(val));
			free(sb->network);
			sb->network = xstrdup(scalar(val));
		} else if (!strcmp(name, "rootfs")) {
			char *p;
			if (want_string(L, val, "sandbox.rootfs") < 0)
				return -1;
			char *e = expand_home(scalar(val));
			p = path_absolute(L->config_dir, e);
			free(e);
			free(sb->rootfs);
			sb->rootfs = p;
		} else if (!strcmp(name, "mounts")) {
			if (load_mounts(L, val, sb) < 0)
				return -1;
		} else if (!strcmp(name, "mask")) {
			char **list;
			size_t n;
			if (load_string_list(L, val, "sandbox.mask", &list, &n) < 0)
				return -1;
			for (size_t i = 0; i < n; i++) {
				char *e = expand_home(list[i]);
				free(list[i]);
				list[i] = e;
			}
			sb->mask = list;
			sb->nmask = n;
		} else if (!strcmp(name, "capabilities")) {
			if (load_string_list(L, val, "sandbox.capabilities", &sb->capabilities,
					     &sb->ncapabilities) < 0)
				return -1;
		} else if (!strcmp(name, "env_pass")) {
			if (load_env_pass(L, val, sb) < 0)
				return -1;
		} else if (!strcmp(name, "seccomp")) {
			if (load_seccomp(L, k, val, sb) < 0)
				return -1;
		} else if (!strcmp(name, "gpus")) {
			if (val->type == YAML_SCALAR_NODE && !strcmp(scalar(val), "all"))
				sb->gpus = true;
			else if (val->type == YAML_SCALAR_NODE && !strcmp(scalar(val), "none"))
				sb->gpus = false;
			else if (parse_bool_node(L, val, "sandbox.gpus (all, none, true or false)", &sb->gpus) < 0)
				return -1;
		} else if (!strcmp(name, "userns")) {
			/* The job always runs in a user namespace: true says so, false cannot be had. */
			bool b;
			if (parse_bool_node(L, val, "sandbox.userns", &b) < 0)
				return -1;
			if (!b)
				return fail_at(L, val, "sandbox.userns: false is not supported: the job always runs in a "
						       "user namespace (a root caller's as nobody); remove the setting");
		} else {
			return unknown_key(L, k, "sandbox", known);
		}
		if (strcmp(name, "seccomp") && strcmp(name, "userns"))
			note(L, k, "sandbox.%s", name);
	}
	return 0;
}

static int load_fingerprint(struct loader *L, const yaml_node_t *v, struct rp_fingerprint_cfg *fp)
{
	static const char *const known[] = {"env", "max_bytes", NULL};
	if (want_kind(L, v, YAML_MAPPING_NODE, "fingerprint") < 0)
		return -1;
	yaml_node_t *k, *val;
	FOR_PAIRS(L, v, k, val) {
		if (check_key_scalar(L, k) < 0)
			return -1;
		if (!strcmp(scalar(k), "env")) {
			if (load_string_list(L, val, "fingerprint.env", &fp->env, &fp->nenv) < 0)
				return -1;
		} else if (!strcmp(scalar(k), "max_bytes")) {
			if (val->type != YAML_SCALAR_NODE || parse_memory(scalar(val), &fp->max_bytes) < 0)
				return fail_at(L, val, "fingerprint.max_bytes must be a size (e.g. 2g)");
		} else {
			return unknown_key(L, k, "fingerprint", known);
		}
		note(L, k, "fingerprint.%s", scalar(k));
	}
	return 0;
}

/* A regex of metrics.patterns, checked now so a bad one is a config error at its place. */
static int check_pattern(struct loader *L, const yaml_node_t *n, size_t idx, bool named)
{
	char msg[256];
	size_t off = 0;
	if (mx_pattern_check(scalar(n), named, msg, sizeof msg, &off) == 0)
		return 0;
	bool quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
		      n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	return rp_err_set(L->err, RP_ERR_USAGE, "%s:%zu:%zu: metrics.patterns[%zu]: %s", L->path,
			  n->start_mark.line + 1, n->start_mark.column + 1 + (quoted ? 1 : 0) + off, idx, msg);
}

static int load_metric_pattern(struct loader *L, const yaml_node_t *it, size_t idx, struct rp_metric_pattern *p)
{
	if (it->type == YAML_SCALAR_NODE) {
		if (check_pattern(L, it, idx, false) < 0)
			return -1;
		p->regex = xstrdup(scalar(it));
		return 0;
	}
	if (it->type != YAML_MAPPING_NODE)
		return fail_at(L, it, "metrics.patterns[%zu] must be a regex with groups (?<key>..) and (?<value>..), "
				      "or {NAME: regex}", idx);
	yaml_node_t *k, *val;
	size_t pairs = 0;
	FOR_PAIRS(L, it, k, val) {
		if (check_key_scalar(L, k) < 0)
			return -1;
		if (++pairs > 1)
			return fail_at(L, k, "metrics.patterns[%zu]: one NAME: regex per entry", idx);
		if (!valid_name(scalar(k)))
			return fail_at(L, k, "metric name '%s' may only use letters, digits, '.', '_' and '-' (at most 64)",
				       scalar(k));
		if (val->type != YAML_SCALAR_NODE)
			return fail_at(L, val, "metrics.patterns[%zu].%s must be a regex", idx, scalar(k));
		if (check_pattern(L, val, idx, true) < 0)
			return -1;
		p->name = xstrdup(scalar(k));
		p->regex = xstrdup(scalar(val));
	}
	if (!pairs)
		return fail_at(L, it, "metrics.patterns[%zu] is empty", idx);
	return 0;
}

static int load_metrics(struct loader *L, const yaml_node_t *v, struct rp_metrics_cfg *m)
{
	static const char *const known[] = {"patterns", "defaults", NULL};
	if (want_kind(L, v, YAML_MAPPING_NODE, "metrics") < 0)
		return -1;
	yaml_node_t *k, *val;
	FOR_PAIRS(L, v, k, val) {
		if (check_key_scalar(L, k) < 0)
			return -1;
		if (!strcmp(scalar(k), "defaults")) {
			if (parse_bool_node(L, val, "metrics.defaults", &m->defaults) < 0)
				return -1;
		} else if (!strcmp(scalar(k), "patterns")) {
			if (want_kind(L, val, YAML_SEQUENCE_NODE, "metrics.patterns") < 0)
				return -1;
			yaml_node_t *it;
			FOR_ITEMS(L, val, it) {
				m->patterns = xrealloc(m->patterns, (m->npatterns + 1) * sizeof *m->patterns);
				struct rp_metric_pattern *p = &m->patterns[m->npatterns++];
				*p = (struct rp_metric_pattern){0};
				if (load_metric_pattern(L, it, m->npatterns - 1, p) < 0)
					return -1;
			}
		} else {
			return unknown_key(L, k, "metrics", known);
		}
		note(L, k, "metrics.%s", scalar(k));
	}
	return 0;
}

/* A Slurm name (partition, account, qos): what sbatch takes on one #SBATCH line. */
static bool slurm_name_ok(const char *s)
{
	return *s && strlen(s) <= 128 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,:-") == strlen(s);
}

/* sbatch options RunPilot sets itself (the run's script depends on them), and those that would
 * run or read something other than the run's own job (a container, a burst buffer's script, a
 * file of variables or stdin). sbatch takes any unambiguous prefix of an option's name. */
static const char *const slurm_own_args[] = {"--output", "--error", "--input", "--array", "--parsable", "--wrap",
					      "--chdir", "--job-name", "--export", "--export-file", "--open-mode",
					      "--container", "--bb", "--bbf", "--hold", NULL};

/* The option a = "--name[=value]" names, when it is one of slurm_own_args or a prefix of one. */
static const char *slurm_own_arg(const char *a)
{
	size_t n = strcspn(a, "=");
	for (size_t j = 0; slurm_own_args[j]; j++)
		if (!strncmp(slurm_own_args[j], a, n))
			return slurm_own_args[j];
	return NULL;
}

static int load_slurm_extra(struct loader *L, const yaml_node_t *v, struct rp_slurm_cfg *c)
{
	if (load_string_list(L, v, "slurm.extra_args", &c->extra_args, &c->nextra_args) < 0)
		return -1;
	for (size_t i = 0; i < c->nextra_args; i++) {
		const char *a = c->extra_args[i];
		if (strncmp(a, "--", 2) || strlen(a) < 3 || strpbrk(a, "\n\r"))
			return fail_at(L, v, "slurm.extra_args[%zu] '%s' must be one long sbatch option (--opt=value)", i, a);
		const char *own = slurm_own_arg(a);
		if (own)
			return fail_at(L, v, "slurm.extra_args[%zu] '%s': %s is runpilot's own or not allowed (docs/cluster.md)",
				       i, a, own);
	}
	return 0;
}

static int load_slurm_name(struct loader *L, const yaml_node_t *v, const char *key, char **out)
{
	if (want_string(L, v, key) < 0)
		return -1;
	if (!slurm_name_ok(scalar(v)))
		return fail_at(L, v, "%s '%s': expected a Slurm name (letters, digits, '_', '.', '-')", key, scalar(v));
	free(*out);
	*out = xstrdup(scalar(v));
	return 0;
}

static int load_slurm(struct loader *L, const yaml_node_t *v, struct rp_slurm_cfg *c)
{
	static const char *const known[] = {"partition", "account", "qos", "nodes", "gpus", "time", "extra_args", NULL};
	if (want_kind(L, v, YAML_MAPPING_NODE, "slurm") < 0)
		return -1;
	yaml_node_t *k, *val;
	FOR_PAIRS(L, v, k, val) {
		if (check_key_scalar(L, k) < 0)
			return -1;
		const char *key = scalar(k);
		int rc = 0;
		if (!strcmp(key, "partition"))
			rc = load_slurm_name(L, val, "slurm.partition", &c->partition);
		else if (!strcmp(key, "account"))
			rc = load_slurm_name(L, val, "slurm.account", &c->account);
		else if (!strcmp(key, "qos"))
			rc = load_slurm_name(L, val, "slurm.qos", &c->qos);
		else if (!strcmp(key, "gpus"))
			rc = load_slurm_name(L, val, "slurm.gpus", &c->gpus);
		else if (!strcmp(key, "nodes")) {
			if (val->type != YAML_SCALAR_NODE || parse_count(scalar(val), &c->nodes) < 0)
				return fail_at(L, val, "slurm.nodes must be a positive integer");
		} else if (!strcmp(key, "time")) {
			if (val->type != YAML_SCALAR_NODE || parse_duration(scalar(val), &c->time_s) < 0)
				return fail_at(L, val, "slurm.time must be a duration (e.g. 90m, 2h, 1d)");
		} else if (!strcmp(key, "extra_args")) {
			rc = load_slurm_extra(L, val, c);
		} else {
			return unknown_key(L, k, "slurm", known);
		}
		if (rc < 0)
			return -1;
		note(L, k, "slurm.%s", key);
	}
	return 0;
}

/* runner: one of the runners, or auto. */
static int load_runner(struct loader *L, const yaml_node_t *k, const yaml_node_t *v, const char *key, char **out)
{
	if (want_string(L, v, key) < 0)
		return -1;
	if (strcmp(scalar(v), "auto") && !runner_name_known(scalar(v)))
		return fail_at(L, v, "%s: unknown runner '%s' (use auto or a runner's name, see `runpilot run --help`)",
			       key, scalar(v));
	free(*out);
	*out = xstrdup(scalar(v));
	note(L, k, "runner");
	return 0;
}

static const char *const top_keys[] = {"name", "entrypoint", "image", "workdir", "env", "params",
				       "tags", "resources", "sandbox", "fingerprint", "metrics", "defaults", "runner", "slurm", "sync", NULL};

static int load_image(struct loader *L, const yaml_node_t *v, char **out)
{
	if (want_string(L, v, "image") < 0)
		return -1;
	if (!*scalar(v))
		return fail_at(L, v, "image must name an image (\"python:3.11-slim\"), not be empty");
	free(*out);
	*out = xstrdup(scalar(v));
	return 0;
}

/* defaults: (runpilot.yaml, the user config): the settings a run config may leave out, read
 * into their own spec d with the origins of this file's role. */
static int load_defaults(struct loader *L, const yaml_node_t *v, struct rp_spec *d)
{
	static const char *const known[] = {"runner", "image", "env", "resources", "sandbox", "metrics",
					    "fingerprint", "slurm", NULL};
	if (want_kind(L, v, YAML_MAPPING_NODE, "defaults") < 0)
		return -1;
	struct rp_spec *outer = L->spec;
	L->spec = d;
	int rc = 0;
	yaml_node_t *k, *val;
	FOR_PAIRS(L, v, k, val) {
		if ((rc = check_key_scalar(L, k)) < 0)
			break;
		const char *key = scalar(k);
		if (!strcmp(key, "runner")) {
			rc = load_runner(L, k, val, "defaults.runner", &d->runner);
		} else if (!strcmp(key, "slurm")) {
			d->has_slurm = true;
			rc = load_slurm(L, val, &d->slurm);
		} else if (!strcmp(key, "image")) {
			if ((rc = load_image(L, val, &d->image)) == 0)
				note(L, k, "image");
		} else if (!strcmp(key, "env")) {
			rc = load_scalar_map(L, val, "env", true, &d->env, &d->nenv);
		} else if (!strcmp(key, "resources")) {
			rc = load_resources(L, val, &d->resources);
		} else if (!strcmp(key, "sandbox")) {
			d->has_sandbox = true;
			rc = load_sandbox(L, val, &d->sandbox);
		} else if (!strcmp(key, "metrics")) {
			d->has_metrics = true;
			rc = load_metrics(L, val, &d->metrics);
		} else if (!strcmp(key, "fingerprint")) {
			rc = load_fingerprint(L, val, &d->fingerprint);
		} else {
			rc = unknown_key(L, k, "defaults", known);
		}
		if (rc < 0)
			break;
	}
	if (rc == 0 && d->image && d->sandbox.rootfs)
		rc = fail_at(L, v, "defaults: image and sandbox.rootfs both name the job's root filesystem: keep one");
	L->spec = outer;
	return rc;
}

/* A defaults: key at the top of a file: read when this file may hold one, else an error. */
static int top_defaults(struct loader *L, const yaml_node_t *k, const yaml_node_t *v)
{
	if (!L->defaults)
		return fail_at(L, k, "'defaults' is only allowed in a project's " RP_PROJECT_FILE
				     " and in the user config ($RUNPILOT_HOME/config.yaml), not in a run config "
				     "named otherwise");
	L->had_defaults = true;
	enum rp_source outer = L->source;
	L->source = RP_SRC_PROJECT;
	int rc = load_defaults(L, v, L->defaults);
	L->source = outer;
	return rc;
}

static bool is_project_file(const char *path);

/* sync: {server: URL, project: NAME, auto: BOOL} */
static int load_sync(struct loader *L, const yaml_node_t *k, const yaml_node_t *v, struct rp_sync_cfg *out)
{
	static const char *const known[] = {"server", "project", "auto", NULL};
	if (!is_project_file(L->path))
		return fail_at(L, k, "'sync' is only allowed in a project's " RP_PROJECT_FILE);
	if (want_kind(L, v, YAML_MAPPING_NODE, "sync") < 0 || check_unique_keys(L, v, "sync") < 0)
		return -1;
	yaml_node_t *sk, *sv;
	FOR_PAIRS(L, v, sk, sv) {
		if (check_key_scalar(L, sk) < 0)
			return -1;
		const char *key = scalar(sk);
		if (!strcmp(key, "server")) {
			if (want_string(L, sv, "sync.server") < 0)
				return -1;
			if (strncmp(scalar(sv), "http://", 7) && strncmp(scalar(sv), "https://", 8))
				return fail_at(L, sv, "sync.server '%s' is not a server URL: give http(s)://HOST:PORT",
					       scalar(sv));
			free(out->server);
			out->server = xstrdup(scalar(sv));
		} else if (!strcmp(key, "project")) {
			if (want_string(L, sv, "sync.project") < 0)
				return -1;
			if (!valid_name(scalar(sv)))
				return fail_at(L, sv, "sync.project '%s' may only use letters, digits, '.', '_' and '-' "
						      "(at most 64)", scalar(sv));
			free(out->project);
			out->project = xstrdup(scalar(sv));
		} else if (!strcmp(key, "auto")) {
			if (parse_bool_node(L, sv, "sync.auto", &out->auto_push) < 0)
				return -1;
		} else {
			return unknown_key(L, sk, "sync", known);
		}
	}
	if (!out->server || !out->project)
		return fail_at(L, v, "sync needs both server and project");
	return 0;
}

static int load_top(struct loader *L, const yaml_node_t *root, struct rp_spec *s)
{
	if (!root || (root->type == YAML_SCALAR_NODE && !*scalar(root)))
		return fail_at(L, NULL, "the config is empty: it needs at least 'name' and 'entrypoint'");
	if (root->type != YAML_MAPPING_NODE)
		return fail_at(L, root, "the config must be a mapping of keys (name, entrypoint, ...), not %s",
			       kind_name(root));
	const yaml_node_t *workdir_node = NULL;
	bool seen[sizeof top_keys / sizeof *top_keys] = {0};
	yaml_node_t *k, *v;
	FOR_PAIRS(L, root, k, v) {
		if (check_key_scalar(L, k) < 0)
			return -1;
		const char *key = scalar(k);
		size_t idx;
		for (idx = 0; top_keys[idx] && strcmp(top_keys[idx], key); idx++)
			;
		if (!top_keys[idx])
			return unknown_key(L, k, NULL, top_keys);
		if (seen[idx])
			return fail_at(L, k, "duplicate key '%s'", key);
		seen[idx] = true;
		int rc = 0;
		if (!strcmp(key, "name")) {
			if ((rc = want_string(L, v, "name")) == 0) {
				if (!valid_name(scalar(v)))
					return fail_at(L, v, "name '%s' may only use letters, digits, '.', '_' and '-' (at most 64)",
						       scalar(v));
				s->name = xstrdup(scalar(v));
			}
		} else if (!strcmp(key, "entrypoint")) {
			rc = load_entrypoint(L, v, s);
		} else if (!strcmp(key, "image")) {
			rc = load_image(L, v, &s->image);
		} else if (!strcmp(key, "workdir")) {
			if ((rc = want_string(L, v, "workdir")) == 0) {
				s->workdir_raw = xstrdup(scalar(v));
				workdir_node = v;
			}
		} else if (!strcmp(key, "env")) {
			rc = load_scalar_map(L, v, "env", true, &s->env, &s->nenv);
		} else if (!strcmp(key, "params")) {
			rc = load_scalar_map(L, v, "params", false, &s->params, &s->nparams);
		} else if (!strcmp(key, "tags")) {
			rc = load_string_list(L, v, "tags", &s->tags, &s->ntags);
		} else if (!strcmp(key, "defaults")) {
			rc = top_defaults(L, k, v);
		} else if (!strcmp(key, "resources")) {
			rc = load_resources(L, v, &s->resources);
		} else if (!strcmp(key, "sandbox")) {
			s->has_sandbox = true;
			rc = load_sandbox(L, v, &s->sandbox);
		} else if (!strcmp(key, "fingerprint")) {
			rc = load_fingerprint(L, v, &s->fingerprint);
		} else if (!strcmp(key, "metrics")) {
			s->has_metrics = true;
			rc = load_metrics(L, v, &s->metrics);
		} else if (!strcmp(key, "runner")) {
			rc = load_runner(L, k, v, "runner", &s->runner);
		} else if (!strcmp(key, "slurm")) {
			s->has_slurm = true;
			rc = load_slurm(L, v, &s->slurm);
		} else if (!strcmp(key, "sync")) {
			struct rp_sync_cfg sc = {0};
			rc = load_sync(L, k, v, &sc);
			config_sync_free(&sc);
		}
		if (rc < 0)
			return -1;
		/* env, params and the sections note their own settings, one by one */
		if (!strcmp(key, "name") || !strcmp(key, "entrypoint") || !strcmp(key, "image") ||
		    !strcmp(key, "workdir") || !strcmp(key, "tags"))
			note(L, k, "%s", key);
	}
	if (!s->name)
		return fail_at(L, root, "missing required key 'name'");
	if (!s->argv)
		return fail_at(L, root, "missing required key 'entrypoint'");
	char *wd_expanded = expand_home(s->workdir_raw ? s->workdir_raw : ".");
	s->workdir = path_absolute(s->config_dir, wd_expanded);
	free(wd_expanded);
	if (!path_is_dir(s->workdir))
		return fail_at(L, workdir_node ? workdir_node : root, "workdir '%s' is not a directory", s->workdir);
	return 0;
}

/* ---- overrides ---- */

static int apply_param(struct rp_spec *s, const char *kv, struct rp_err *err)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return rp_err_set(err, RP_ERR_USAGE, "--param '%s': expected KEY=VALUE", kv);
	char *key = xstrndup(kv, (size_t)(eq - kv));
	if (!valid_env_name(key) && !valid_name(key)) {
		rp_err_set(err, RP_ERR_USAGE, "--param '%s': name may only use letters, digits, '.', '_' and '-'", kv);
		free(key);
		return -1;
	}
	const char *val = eq + 1;
	char *setting = xasprintf("params.%s", key);
	set_origin(s, setting, RP_SRC_FLAG, NULL, 0);
	free(setting);
	for (size_t i = 0; i < s->nparams; i++) {
		if (!strcmp(s->params[i].key, key)) {
			free(key);
			free(s->params[i].value);
			s->params[i].value = xstrdup(val);
			s->params[i].type = infer_type(val);
			return 0;
		}
	}
	s->params = xrealloc(s->params, (s->nparams + 1) * sizeof *s->params);
	s->params[s->nparams++] = (struct rp_kv){key, xstrdup(val), infer_type(val)};
	return 0;
}

static int apply_overrides(struct rp_spec *s, const struct rp_overrides *ov, struct rp_err *err)
{
	if (ov->name) {
		if (!valid_name(ov->name))
			return rp_err_set(err, RP_ERR_USAGE,
					  "--name '%s': may only use letters, digits, '.', '_' and '-' (at most 64)", ov->name);
		free(s->name);
		s->name = xstrdup(ov->name);
		set_origin(s, "name", RP_SRC_FLAG, NULL, 0);
	}
	for (size_t i = 0; i < ov->ntags; i++) {
		bool dup = false;
		if (!*ov->tags[i])
			return rp_err_set(err, RP_ERR_USAGE, "--tag: a tag must not be empty");
		for (size_t j = 0; j < s->ntags; j++)
			dup |= !strcmp(s->tags[j], ov->tags[i]);
		if (dup)
			continue;
		s->tags = xrealloc(s->tags, (s->ntags + 2) * sizeof *s->tags);
		s->tags[s->ntags++] = xstrdup(ov->tags[i]);
		s->tags[s->ntags] = NULL;
		set_origin(s, "tags", RP_SRC_FLAG, NULL, 0);
	}
	for (size_t i = 0; i < ov->nparams; i++)
		if (apply_param(s, ov->params[i], err) < 0)
			return -1;
	if (ov->resources.cpus > 0) {
		s->resources.cpus = ov->resources.cpus;
		set_origin(s, "resources.cpus", RP_SRC_FLAG, NULL, 0);
	}
	if (ov->resources.memory_bytes > 0) {
		s->resources.memory_bytes = ov->resources.memory_bytes;
		set_origin(s, "resources.memory", RP_SRC_FLAG, NULL, 0);
	}
	if (ov->resources.pids > 0) {
		s->resources.pids = ov->resources.pids;
		set_origin(s, "resources.pids", RP_SRC_FLAG, NULL, 0);
	}
	if (ov->resources.timeout_s > 0) {
		s->resources.timeout_s = ov->resources.timeout_s;
		set_origin(s, "resources.timeout", RP_SRC_FLAG, NULL, 0);
	}
	return 0;
}

/* ---- entry points ---- */

static int parse_document(struct loader *L, FILE *f)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return rp_err_set(L->err, RP_ERR_RUNTIME, "cannot initialise the YAML parser");
	yaml_parser_set_input_file(&parser, f);
	int ok = yaml_parser_load(&parser, &L->doc);
	if (!ok) {
		const yaml_mark_t *m = parser.problem_mark.line || parser.problem_mark.column ? &parser.problem_mark
											      : &parser.context_mark;
		rp_err_set(L->err, RP_ERR_USAGE, "%s:%zu:%zu: YAML syntax error: %s%s%s", L->path, m->line + 1,
			   m->column + 1, parser.problem ? parser.problem : "invalid YAML",
			   parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return -1;
	}
	yaml_parser_delete(&parser);
	return 0;
}

/* ---- defaults: the project's and the user's, under the run config ---- */

static void move_str(char **dst, char **src)
{
	free(*dst);
	*dst = *src;
	*src = NULL;
}

static void move_list(char ***dst, size_t *ndst, char ***src, size_t *nsrc)
{
	for (size_t i = 0; i < *ndst; i++)
		free((*dst)[i]);
	free(*dst);
	*dst = *src;
	*ndst = *nsrc;
	*src = NULL;
	*nsrc = 0;
}

/* Move one setting a defaults layer gave from d into s. Lists are taken whole. */
static void take_setting(struct rp_spec *s, struct rp_spec *d, const char *setting)
{
	struct rp_sandbox_cfg *sb = &s->sandbox, *db = &d->sandbox;
	if (!strncmp(setting, "env.", 4)) {
		for (size_t i = 0; i < d->nenv; i++) {
			if (!d->env[i].key || strcmp(d->env[i].key, setting + 4))
				continue;
			s->env = xrealloc(s->env, (s->nenv + 1) * sizeof *s->env);
			s->env[s->nenv++] = d->env[i];
			d->env[i].key = d->env[i].value = NULL;
		}
		return;
	}
	if (!strncmp(setting, "sandbox.", 8))
		s->has_sandbox = true;
	if (!strncmp(setting, "metrics.", 8))
		s->has_metrics = true;
	if (!strncmp(setting, "slurm.", 6))
		s->has_slurm = true;
	if (!strcmp(setting, "runner"))
		move_str(&s->runner, &d->runner);
	else if (!strcmp(setting, "slurm.partition"))
		move_str(&s->slurm.partition, &d->slurm.partition);
	else if (!strcmp(setting, "slurm.account"))
		move_str(&s->slurm.account, &d->slurm.account);
	else if (!strcmp(setting, "slurm.qos"))
		move_str(&s->slurm.qos, &d->slurm.qos);
	else if (!strcmp(setting, "slurm.gpus"))
		move_str(&s->slurm.gpus, &d->slurm.gpus);
	else if (!strcmp(setting, "slurm.nodes"))
		s->slurm.nodes = d->slurm.nodes;
	else if (!strcmp(setting, "slurm.time"))
		s->slurm.time_s = d->slurm.time_s;
	else if (!strcmp(setting, "slurm.extra_args"))
		move_list(&s->slurm.extra_args, &s->slurm.nextra_args, &d->slurm.extra_args, &d->slurm.nextra_args);
	else if (!strcmp(setting, "image"))
		move_str(&s->image, &d->image);
	else if (!strcmp(setting, "resources.cpus"))
		s->resources.cpus = d->resources.cpus;
	else if (!strcmp(setting, "resources.memory"))
		s->resources.memory_bytes = d->resources.memory_bytes;
	else if (!strcmp(setting, "resources.pids"))
		s->resources.pids = d->resources.pids;
	else if (!strcmp(setting, "resources.timeout"))
		s->resources.timeout_s = d->resources.timeout_s;
	else if (!strcmp(setting, "resources.log_bytes"))
		s->resources.log_bytes = d->resources.log_bytes;
	else if (!strcmp(setting, "sandbox.network"))
		move_str(&sb->network, &db->network);
	else if (!strcmp(setting, "sandbox.rootfs"))
		move_str(&sb->rootfs, &db->rootfs);
	else if (!strcmp(setting, "sandbox.mounts")) {
		for (size_t i = 0; i < sb->nmounts; i++) {
			free(sb->mounts[i].src);
			free(sb->mounts[i].dst);
		}
		free(sb->mounts);
		sb->mounts = db->mounts;
		sb->nmounts = db->nmounts;
		db->mounts = NULL;
		db->nmounts = 0;
	} else if (!strcmp(setting, "sandbox.mask"))
		move_list(&sb->mask, &sb->nmask, &db->mask, &db->nmask);
	else if (!strcmp(setting, "sandbox.capabilities"))
		move_list(&sb->capabilities, &sb->ncapabilities, &db->capabilities, &db->ncapabilities);
	else if (!strcmp(setting, "sandbox.env_pass"))
		move_list(&sb->env_pass, &sb->nenv_pass, &db->env_pass, &db->nenv_pass);
	else if (!strcmp(setting, "sandbox.seccomp.profile"))
		move_str(&sb->seccomp_profile, &db->seccomp_profile);
	else if (!strcmp(setting, "sandbox.seccomp.deny"))
		move_list(&sb->seccomp_deny, &sb->nseccomp_deny, &db->seccomp_deny, &db->nseccomp_deny);
	else if (!strcmp(setting, "sandbox.seccomp.log"))
		sb->seccomp_log = db->seccomp_log;
	else if (!strcmp(setting, "sandbox.gpus"))
		sb->gpus = db->gpus;
	else if (!strcmp(setting, "metrics.patterns")) {
		for (size_t i = 0; i < s->metrics.npatterns; i++) {
			free(s->metrics.patterns[i].name);
			free(s->metrics.patterns[i].regex);
		}
		free(s->metrics.patterns);
		s->metrics.patterns = d->metrics.patterns;
		s->metrics.npatterns = d->metrics.npatterns;
		d->metrics.patterns = NULL;
		d->metrics.npatterns = 0;
	} else if (!strcmp(setting, "metrics.defaults"))
		s->metrics.defaults = d->metrics.defaults;
	else if (!strcmp(setting, "fingerprint.env"))
		move_list(&s->fingerprint.env, &s->fingerprint.nenv, &d->fingerprint.env, &d->fingerprint.nenv);
	else if (!strcmp(setting, "fingerprint.max_bytes"))
		s->fingerprint.max_bytes = d->fingerprint.max_bytes;
}

/* Fill what s leaves out from a defaults layer. image and sandbox.rootfs are one choice (the
 * job's root filesystem): a layer that makes it hides both of the lower layers'. */
static void merge_defaults(struct rp_spec *s, struct rp_spec *d)
{
	bool root_chosen = find_origin(s, "image") || find_origin(s, "sandbox.rootfs");
	for (size_t i = 0; i < d->norigins; i++) {
		const struct rp_origin *o = &d->origins[i];
		if (find_origin(s, o->setting))
			continue;
		if (root_chosen && (!strcmp(o->setting, "image") || !strcmp(o->setting, "sandbox.rootfs")))
			continue;
		take_setting(s, d, o->setting);
		set_origin(s, o->setting, o->source, o->path, o->line);
	}
}

static void add_source(struct rp_spec *s, const char *path, enum rp_source role)
{
	s->sources = xrealloc(s->sources, (s->nsources + 1) * sizeof *s->sources);
	s->sources[s->nsources++] = (struct rp_config_source){xstrdup(path), role};
}

enum file_kind { FILE_RUN, FILE_PROJECT, FILE_USER };

/* A project file read for its defaults: only; its job keys belong to its own runs. The user
 * config holds nothing but defaults:. */
static int load_defaults_file(struct loader *L, const yaml_node_t *root, enum file_kind kind, struct rp_spec *d)
{
	if (!root || (root->type == YAML_SCALAR_NODE && node_type(root) == RP_NULL))
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return fail_at(L, root, "the file must be a mapping of keys (defaults: ...), not %s", kind_name(root));
	if (check_unique_keys(L, root, "the file") < 0)
		return -1;
	yaml_node_t *k, *v;
	FOR_PAIRS(L, root, k, v) {
		if (check_key_scalar(L, k) < 0)
			return -1;
		if (!strcmp(scalar(k), "defaults")) {
			L->had_defaults = true;
			if (load_defaults(L, v, d) < 0)
				return -1;
		} else if (kind == FILE_USER) {
			static const char *const known[] = {"defaults", NULL};
			return unknown_key(L, k, "the user config", known);
		} else if (!strcmp(scalar(k), "sync")) {
			struct rp_sync_cfg sc = {0};
			int rc = load_sync(L, k, v, &sc);
			config_sync_free(&sc);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

/* Read one file: a run config into s (its defaults: into d when it is a runpilot.yaml), or a
 * project or user file's defaults: into d. *had_defaults tells whether it has that section. */
static int load_file(const char *path, enum file_kind kind, struct rp_spec *s, struct rp_spec *d,
		     bool *had_defaults, struct rp_err *err)
{
	char *abs = path_absolute(NULL, path);
	char *slash = strrchr(abs, '/');
	char *dir = xstrndup(abs, slash == abs ? 1 : (size_t)(slash - abs));
	FILE *f = fopen(path, "rb");
	if (!f) {
		rp_err_sys(err, "cannot read %s %s", kind == FILE_RUN ? "config" : kind == FILE_USER ?
			   "the user config" : "the project config", path);
		err->kind = RP_ERR_USAGE;
		free(abs);
		free(dir);
		return -1;
	}
	struct loader L = {.path = path, .config_dir = dir, .err = err, .abs_path = abs,
			   .spec = kind == FILE_RUN ? s : d,
			   .source = kind == FILE_USER ? RP_SRC_USER : kind == FILE_PROJECT ? RP_SRC_PROJECT : RP_SRC_RUN,
			   .defaults = kind == FILE_RUN ? d : NULL};
	int rc = parse_document(&L, f);
	fclose(f);
	if (rc == 0) {
		const yaml_node_t *root = yaml_document_get_root_node(&L.doc);
		rc = kind == FILE_RUN ? load_top(&L, root, s) : load_defaults_file(&L, root, kind, d);
		yaml_document_delete(&L.doc);
	}
	*had_defaults = L.had_defaults;
	free(abs);
	free(dir);
	return rc;
}

int config_find_project(const char *dir, char **found, char **stop)
{
	char *d = path_absolute(NULL, dir);
	*found = NULL;
	if (stop)
		*stop = NULL;
	for (;;) {
		char *p = path_join(d, RP_PROJECT_FILE);
		if (path_exists(p) && !path_is_dir(p)) {
			*found = p;
			free(d);
			return 1;
		}
		free(p);
		char *git = path_join(d, ".git");
		bool root = path_exists(git);
		free(git);
		char *slash = strrchr(d, '/');
		if (root || !slash || !strcmp(d, "/")) {
			if (stop)
				*stop = d;
			else
				free(d);
			return 0;
		}
		if (slash == d)
			d[1] = '\0';
		else
			*slash = '\0';
	}
}

void config_sync_free(struct rp_sync_cfg *c)
{
	free(c->server);
	free(c->project);
	*c = (struct rp_sync_cfg){0};
}

int config_sync_find(const char *dir, struct rp_sync_cfg *out, struct rp_err *err)
{
	*out = (struct rp_sync_cfg){0};
	char *path = NULL;
	if (config_find_project(dir, &path, NULL) != 1)
		return 0;
	FILE *f = fopen(path, "rb");
	if (!f) {
		rp_err_sys(err, "cannot read the project config %s", path);
		free(path);
		return -1;
	}
	struct loader L = {.path = path, .err = err, .abs_path = path, .source = RP_SRC_PROJECT};
	int rc = parse_document(&L, f);
	fclose(f);
	bool found = false;
	if (rc == 0) {
		yaml_node_t *root = yaml_document_get_root_node(&L.doc), *k, *v;
		if (root && root->type == YAML_MAPPING_NODE) {
			FOR_PAIRS(&L, root, k, v) {
				if (k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), "sync")) {
					rc = load_sync(&L, k, v, out);
					found = rc == 0;
					break;
				}
			}
		}
		yaml_document_delete(&L.doc);
	}
	free(path);
	if (rc < 0) {
		config_sync_free(out);
		return -1;
	}
	return found ? 1 : 0;
}

char *config_user_path(void)
{
	struct rp_store st;
	if (store_open(&st, false, NULL) < 0)
		return NULL;
	char *p = path_join(st.home, "config.yaml");
	store_close(&st);
	return p;
}

static bool is_project_file(const char *path)
{
	const char *slash = strrchr(path, '/');
	return !strcmp(slash ? slash + 1 : path, RP_PROJECT_FILE);
}

/* The project's and the user's defaults under what s gives; proj holds the run config's own
 * defaults: when it is a runpilot.yaml. */
static int apply_defaults(struct rp_spec *s, struct rp_spec *proj, bool run_had_defaults, struct rp_err *err)
{
	bool had = false;
	char *proj_path = NULL;
	if (is_project_file(s->config_path)) {
		proj_path = xstrdup(s->config_path);
		had = run_had_defaults;
	} else if (config_find_project(s->config_dir, &proj_path, NULL) == 1) {
		struct rp_spec unused = {0};
		int rc = load_file(proj_path, FILE_PROJECT, &unused, proj, &had, err);
		config_free(&unused);
		if (rc < 0) {
			free(proj_path);
			return -1;
		}
	}
	if (had)
		add_source(s, proj_path, RP_SRC_PROJECT);
	free(proj_path);
	merge_defaults(s, proj);

	char *user_path = config_user_path();
	int rc = 0;
	if (user_path && path_exists(user_path)) {
		struct rp_spec user = {0}, unused = {0};
		rc = load_file(user_path, FILE_USER, &unused, &user, &had, err);
		if (rc == 0 && had)
			add_source(s, user_path, RP_SRC_USER);
		if (rc == 0)
			merge_defaults(s, &user);
		config_free(&user);
		config_free(&unused);
	}
	free(user_path);
	return rc;
}

int config_load(const char *path, const struct rp_overrides *ov, struct rp_spec *s, struct rp_err *err)
{
	memset(s, 0, sizeof *s);
	s->metrics.defaults = true;
	s->config_path = path_absolute(NULL, path);
	char *slash = strrchr(s->config_path, '/');
	s->config_dir = xstrndup(s->config_path, slash == s->config_path ? 1 : (size_t)(slash - s->config_path));
	struct rp_spec proj = {0};
	bool had = false;
	int rc = load_file(path, FILE_RUN, s, is_project_file(s->config_path) ? &proj : NULL, &had, err);
	if (rc == 0)
		add_source(s, s->config_path, RP_SRC_RUN);
	if (rc == 0 && !(ov && ov->resolved))
		rc = apply_defaults(s, &proj, had, err);
	config_free(&proj);
	if (rc == 0 && ov)
		rc = apply_overrides(s, ov, err);
	if (rc == 0 && s->image && s->sandbox.rootfs)
		rc = rp_err_set(err, RP_ERR_USAGE,
				"%s: image and sandbox.rootfs both name the job's root filesystem: keep one", path);
	if (rc == 0 && !s->sandbox.network)
		s->sandbox.network = xstrdup("outbound");
	if (rc == 0 && !s->sandbox.seccomp_profile)
		s->sandbox.seccomp_profile = xstrdup("default");
	if (rc < 0)
		config_free(s);
	return rc;
}

static void free_list(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_kvs(struct rp_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void config_free(struct rp_spec *s)
{
	free(s->config_path);
	free(s->config_dir);
	free(s->name);
	free(s->entrypoint);
	if (s->argv) {
		for (size_t i = 0; s->argv[i]; i++)
			free(s->argv[i]);
		free(s->argv);
	}
	free(s->image);
	free(s->workdir_raw);
	free(s->workdir);
	free_kvs(s->env, s->nenv);
	free_kvs(s->params, s->nparams);
	free_list(s->tags, s->ntags);
	struct rp_sandbox_cfg *sb = &s->sandbox;
	free(sb->network);
	free(sb->rootfs);
	for (size_t i = 0; i < sb->nmounts; i++) {
		free(sb->mounts[i].src);
		free(sb->mounts[i].dst);
	}
	free(sb->mounts);
	free_list(sb->mask, sb->nmask);
	free_list(sb->capabilities, sb->ncapabilities);
	free_list(sb->env_pass, sb->nenv_pass);
	free(sb->seccomp_profile);
	free_list(sb->seccomp_deny, sb->nseccomp_deny);
	free_list(s->fingerprint.env, s->fingerprint.nenv);
	for (size_t i = 0; i < s->metrics.npatterns; i++) {
		free(s->metrics.patterns[i].name);
		free(s->metrics.patterns[i].regex);
	}
	free(s->metrics.patterns);
	free(s->runner);
	free(s->slurm.partition);
	free(s->slurm.account);
	free(s->slurm.qos);
	free(s->slurm.gpus);
	free_list(s->slurm.extra_args, s->slurm.nextra_args);
	for (size_t i = 0; i < s->norigins; i++) {
		free(s->origins[i].setting);
		free(s->origins[i].path);
	}
	free(s->origins);
	for (size_t i = 0; i < s->nsources; i++)
		free(s->sources[i].path);
	free(s->sources);
	memset(s, 0, sizeof *s);
}

/* ---- serialisation ---- */

static cJSON *typed_value(const struct rp_kv *kv)
{
	switch (kv->type) {
	case RP_NULL: return cJSON_CreateNull();
	case RP_BOOL: return cJSON_CreateBool(tolower((unsigned char)kv->value[0]) == 't');
	case RP_INT: {
		/* keep huge integers exact as text rather than lose digits through a double */
		long long v = strtoll(kv->value, NULL, 10);
		if (v > -(1LL << 53) && v < (1LL << 53))
			return cJSON_CreateNumber((double)v);
		return cJSON_CreateString(kv->value);
	}
	case RP_FLOAT: return cJSON_CreateNumber(strtod(kv->value, NULL));
	case RP_STR: default: return cJSON_CreateString(kv->value);
	}
}

cJSON *config_params_json(const struct rp_spec *s)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < s->nparams; i++)
		cJSON_AddItemToObject(o, s->params[i].key, typed_value(&s->params[i]));
	return o;
}

static cJSON *string_array(char **v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static cJSON *sandbox_json(const struct rp_sandbox_cfg *sb)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "network", sb->network ? sb->network : "outbound");
	if (sb->rootfs)
		cJSON_AddStringToObject(o, "rootfs", sb->rootfs);
	if (sb->nmounts) {
		cJSON *a = cJSON_AddArrayToObject(o, "mounts");
		for (size_t i = 0; i < sb->nmounts; i++) {
			cJSON *m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "src", sb->mounts[i].src);
			cJSON_AddStringToObject(m, "dst", sb->mounts[i].dst);
			cJSON_AddBoolToObject(m, "readonly", sb->mounts[i].readonly);
			cJSON_AddItemToArray(a, m);
		}
	}
	if (sb->nmask)
		cJSON_AddItemToObject(o, "mask", string_array(sb->mask, sb->nmask));
	if (sb->ncapabilities)
		cJSON_AddItemToObject(o, "capabilities", string_array(sb->capabilities, sb->ncapabilities));
	if (sb->nenv_pass)
		cJSON_AddItemToObject(o, "env_pass", string_array(sb->env_pass, sb->nenv_pass));
	cJSON *sc = cJSON_AddObjectToObject(o, "seccomp");
	cJSON_AddStringToObject(sc, "profile", sb->seccomp_profile ? sb->seccomp_profile : "default");
	if (sb->nseccomp_deny)
		cJSON_AddItemToObject(sc, "deny", string_array(sb->seccomp_deny, sb->nseccomp_deny));
	if (sb->seccomp_log)
		cJSON_AddBoolToObject(sc, "log", true);
	if (sb->gpus)
		cJSON_AddStringToObject(o, "gpus", "all");
	return o;
}

cJSON *config_resources_json(const struct rp_resources *r)
{
	cJSON *res = cJSON_CreateObject();
	if (r->cpus > 0)
		cJSON_AddNumberToObject(res, "cpus", r->cpus);
	if (r->memory_bytes > 0)
		cJSON_AddNumberToObject(res, "memory", (double)r->memory_bytes);
	if (r->pids > 0)
		cJSON_AddNumberToObject(res, "pids", (double)r->pids);
	if (r->timeout_s > 0)
		cJSON_AddNumberToObject(res, "timeout", r->timeout_s);
	if (r->log_bytes > 0)
		cJSON_AddNumberToObject(res, "log_bytes", (double)r->log_bytes);
	return res;
}

static cJSON *config_metrics_json(const struct rp_metrics_cfg *m)
{
	cJSON *o = cJSON_CreateObject();
	if (m->npatterns) {
		cJSON *a = cJSON_AddArrayToObject(o, "patterns");
		for (size_t i = 0; i < m->npatterns; i++) {
			if (!m->patterns[i].name) {
				cJSON_AddItemToArray(a, cJSON_CreateString(m->patterns[i].regex));
				continue;
			}
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, m->patterns[i].name, m->patterns[i].regex);
			cJSON_AddItemToArray(a, e);
		}
	}
	cJSON_AddBoolToObject(o, "defaults", m->defaults);
	return o;
}

static double positive_number(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 9e18 ? v->valuedouble : 0;
}

void config_resources_from_json(const cJSON *o, struct rp_resources *r)
{
	r->cpus = positive_number(o, "cpus");
	r->memory_bytes = (long long)positive_number(o, "memory");
	r->pids = (long long)positive_number(o, "pids");
	r->timeout_s = positive_number(o, "timeout");
	r->log_bytes = (long long)positive_number(o, "log_bytes");
}

static cJSON *slurm_json(const struct rp_slurm_cfg *c)
{
	cJSON *o = cJSON_CreateObject();
	if (c->partition)
		cJSON_AddStringToObject(o, "partition", c->partition);
	if (c->account)
		cJSON_AddStringToObject(o, "account", c->account);
	if (c->qos)
		cJSON_AddStringToObject(o, "qos", c->qos);
	if (c->nodes)
		cJSON_AddNumberToObject(o, "nodes", (double)c->nodes);
	if (c->gpus)
		cJSON_AddStringToObject(o, "gpus", c->gpus);
	if (c->time_s > 0)
		cJSON_AddNumberToObject(o, "time", c->time_s); /* seconds: read back as a duration */
	if (c->nextra_args)
		cJSON_AddItemToObject(o, "extra_args", string_array(c->extra_args, c->nextra_args));
	return o;
}

cJSON *config_to_json(const struct rp_spec *s)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", s->name);
	if (s->entrypoint_is_list) {
		cJSON *a = cJSON_AddArrayToObject(o, "entrypoint");
		for (size_t i = 0; s->argv[i]; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(s->argv[i]));
	} else {
		cJSON_AddStringToObject(o, "entrypoint", s->entrypoint);
	}
	if (s->image)
		cJSON_AddStringToObject(o, "image", s->image);
	cJSON_AddStringToObject(o, "workdir", s->workdir);
	if (s->nenv) {
		cJSON *e = cJSON_AddObjectToObject(o, "env");
		for (size_t i = 0; i < s->nenv; i++)
			cJSON_AddStringToObject(e, s->env[i].key, s->env[i].value);
	}
	if (s->nparams)
		cJSON_AddItemToObject(o, "params", config_params_json(s));
	if (s->ntags)
		cJSON_AddItemToObject(o, "tags", string_array(s->tags, s->ntags));
	cJSON *res = config_resources_json(&s->resources);
	if (res->child)
		cJSON_AddItemToObject(o, "resources", res);
	else
		cJSON_Delete(res);
	if (s->has_sandbox)
		cJSON_AddItemToObject(o, "sandbox", sandbox_json(&s->sandbox));
	if (s->fingerprint.nenv || s->fingerprint.max_bytes) {
		cJSON *f = cJSON_AddObjectToObject(o, "fingerprint");
		if (s->fingerprint.nenv)
			cJSON_AddItemToObject(f, "env", string_array(s->fingerprint.env, s->fingerprint.nenv));
		if (s->fingerprint.max_bytes)
			cJSON_AddNumberToObject(f, "max_bytes", (double)s->fingerprint.max_bytes);
	}
	if (s->has_metrics)
		cJSON_AddItemToObject(o, "metrics", config_metrics_json(&s->metrics));
	if (s->runner)
		cJSON_AddStringToObject(o, "runner", s->runner);
	if (s->has_slurm)
		cJSON_AddItemToObject(o, "slurm", slurm_json(&s->slurm));
	return o;
}

/* ---- JSON → YAML text (config.yaml) with libyaml's emitter ---- */

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
	return yaml_emitter_emit(em, ev) ? 0 : -1;
}

static int emit_scalar(yaml_emitter_t *em, const char *text, bool quoted)
{
	yaml_event_t ev;
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), !quoted, quoted,
				     quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE);
	return emit(em, &ev);
}

static int emit_json(yaml_emitter_t *em, const cJSON *j)
{
	yaml_event_t ev;
	if (cJSON_IsObject(j)) {
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (emit(em, &ev) < 0)
			return -1;
		for (const cJSON *c = j->child; c; c = c->next)
			if (emit_scalar(em, c->string, false) < 0 || emit_json(em, c) < 0)
				return -1;
		yaml_mapping_end_event_initialize(&ev);
		return emit(em, &ev);
	}
	if (cJSON_IsArray(j)) {
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		if (emit(em, &ev) < 0)
			return -1;
		for (const cJSON *c = j->child; c; c = c->next)
			if (emit_json(em, c) < 0)
				return -1;
		yaml_sequence_end_event_initialize(&ev);
		return emit(em, &ev);
	}
	if (cJSON_IsString(j))
		return emit_scalar(em, j->valuestring, true);
	if (cJSON_IsBool(j))
		return emit_scalar(em, cJSON_IsTrue(j) ? "true" : "false", false);
	if (cJSON_IsNull(j))
		return emit_scalar(em, "null", false);
	char num[64];
	double d = j->valuedouble;
	if (fabs(d) < 1e15 && d == (double)(long long)d) {
		snprintf(num, sizeof num, "%lld", (long long)d);
	} else {
		/* the shortest text that reads back as the same double: 0.1, not 0.10000000000000001 */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(num, sizeof num, "%.*g", prec, d);
			if (strtod(num, NULL) == d)
				break;
		}
	}
	return emit_scalar(em, num, false);
}

static int yaml_write_handler(void *data, unsigned char *buf, size_t size)
{
	struct strvec *out = data; /* used as a byte buffer: v[0] holds the text */
	size_t old = out->n;
	out->v[0] = xrealloc(out->v[0], old + size + 1);
	memcpy(out->v[0] + old, buf, size);
	out->n = old + size;
	out->v[0][out->n] = '\0';
	return 1;
}

/* config.yaml is a record others may read: secret-looking env values are not written. */
static void redact_env(cJSON *j)
{
	cJSON *env = cJSON_GetObjectItemCaseSensitive(j, "env");
	for (cJSON *e = env ? env->child : NULL; e; e = e->next)
		if (cJSON_IsString(e) && env_looks_secret(e->string, e->valuestring))
			cJSON_SetValuestring(e, "<redacted>");
}

char *config_to_yaml(const struct rp_spec *s, struct rp_err *err)
{
	cJSON *j = config_to_json(s);
	redact_env(j);
	yaml_emitter_t em;
	yaml_event_t ev;
	char *first = xstrdup("");
	char *slots[2] = {first, NULL};
	struct strvec buf = {.v = slots, .n = 0, .cap = 2};
	yaml_emitter_initialize(&em);
	yaml_emitter_set_output(&em, yaml_write_handler, &buf);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, 4096);
	int rc = 0;
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	rc |= emit(&em, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	rc |= emit(&em, &ev);
	rc |= emit_json(&em, j);
	yaml_document_end_event_initialize(&ev, 1);
	rc |= emit(&em, &ev);
	yaml_stream_end_event_initialize(&ev);
	rc |= emit(&em, &ev);
	cJSON_Delete(j);
	if (rc) {
		free(slots[0]);
		rp_err_set(err, RP_ERR_RUNTIME, "cannot serialise the resolved config as YAML: %s",
			   em.problem ? em.problem : "emitter error");
		yaml_emitter_delete(&em);
		return NULL;
	}
	yaml_emitter_delete(&em);
	return slots[0];
}

/* ---- config --explain: every effective setting and where it came from ---- */

const char *config_source_name(enum rp_source s)
{
	switch (s) {
	case RP_SRC_USER: return "user";
	case RP_SRC_PROJECT: return "project defaults";
	case RP_SRC_RUN: return "run";
	case RP_SRC_FLAG: return "flag";
	case RP_SRC_BUILTIN: default: return "built-in default";
	}
}

/* A size as a user would write it: the largest binary unit that divides it exactly. */
static char *size_text(long long b)
{
	static const char units[] = "kmgt";
	int u = -1;
	while (u < 3 && b >= 1024 && b % 1024 == 0) {
		b /= 1024;
		u++;
	}
	return u < 0 ? xasprintf("%lld", b) : xasprintf("%lld%c", b, units[u]);
}

static char *duration_text(double s)
{
	if (s >= 3600 && fmod(s, 3600) == 0)
		return xasprintf("%gh", s / 3600);
	if (s >= 60 && fmod(s, 60) == 0)
		return xasprintf("%gm", s / 60);
	return xasprintf("%gs", s);
}

static char *join_list(char *const *v, size_t n)
{
	if (!n)
		return NULL;
	struct strvec sv = {0};
	for (size_t i = 0; i < n; i++)
		strvec_push(&sv, v[i]);
	char *out = strvec_join(&sv, ", ");
	strvec_free(&sv);
	return out;
}

/* One row; value is owned (NULL: not set, shown "-"). */
static void explain_row(cJSON *a, const struct rp_spec *s, const char *setting, char *value)
{
	const struct rp_origin *o = find_origin(s, setting);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "setting", setting);
	cJSON_AddStringToObject(r, "value", value ? value : "-");
	cJSON_AddStringToObject(r, "source", config_source_name(o ? o->source : RP_SRC_BUILTIN));
	if (o && o->path) {
		cJSON_AddStringToObject(r, "path", o->path);
		cJSON_AddNumberToObject(r, "line", (double)o->line);
	}
	cJSON_AddItemToArray(a, r);
	free(value);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void explain_kvs(cJSON *a, const struct rp_spec *s, const char *prefix, const struct rp_kv *kv, size_t n,
			bool redact)
{
	for (size_t i = 0; i < n; i++) {
		char *setting = xasprintf("%s.%s", prefix, kv[i].key);
		bool secret = redact && env_looks_secret(kv[i].key, kv[i].value);
		explain_row(a, s, setting, xstrdup(secret ? "<redacted>" : kv[i].value));
		free(setting);
	}
}

static void explain_sandbox(cJSON *a, const struct rp_spec *s)
{
	const struct rp_sandbox_cfg *sb = &s->sandbox;
	explain_row(a, s, "sandbox.network", dup_or_null(sb->network));
	explain_row(a, s, "sandbox.rootfs", dup_or_null(sb->rootfs));
	struct strvec m = {0};
	for (size_t i = 0; i < sb->nmounts; i++)
		strvec_pushf(&m, "%s:%s%s", sb->mounts[i].src, sb->mounts[i].dst, sb->mounts[i].readonly ? ":ro" : "");
	explain_row(a, s, "sandbox.mounts", join_list(m.v, m.n));
	strvec_free(&m);
	explain_row(a, s, "sandbox.mask", join_list(sb->mask, sb->nmask));
	explain_row(a, s, "sandbox.capabilities", join_list(sb->capabilities, sb->ncapabilities));
	explain_row(a, s, "sandbox.seccomp.profile", dup_or_null(sb->seccomp_profile));
	explain_row(a, s, "sandbox.seccomp.deny", join_list(sb->seccomp_deny, sb->nseccomp_deny));
	explain_row(a, s, "sandbox.seccomp.log", xstrdup(sb->seccomp_log ? "true" : "false"));
	explain_row(a, s, "sandbox.gpus", xstrdup(sb->gpus ? "all" : "none"));
	explain_row(a, s, "sandbox.env_pass", join_list(sb->env_pass, sb->nenv_pass));
}

cJSON *config_explain(const struct rp_spec *s)
{
	cJSON *a = cJSON_CreateArray();
	explain_row(a, s, "name", dup_or_null(s->name));
	explain_row(a, s, "entrypoint", dup_or_null(s->entrypoint));
	explain_row(a, s, "workdir", dup_or_null(s->workdir));
	explain_row(a, s, "image", dup_or_null(s->image));
	explain_row(a, s, "runner", xstrdup(s->runner ? s->runner : "auto"));
	explain_kvs(a, s, "env", s->env, s->nenv, true);
	explain_kvs(a, s, "params", s->params, s->nparams, false);
	explain_row(a, s, "tags", join_list(s->tags, s->ntags));
	const struct rp_resources *r = &s->resources;
	explain_row(a, s, "resources.cpus", r->cpus > 0 ? xasprintf("%g", r->cpus) : NULL);
	explain_row(a, s, "resources.memory", r->memory_bytes > 0 ? size_text(r->memory_bytes) : NULL);
	explain_row(a, s, "resources.pids", r->pids > 0 ? xasprintf("%lld", r->pids) : NULL);
	explain_row(a, s, "resources.timeout", r->timeout_s > 0 ? duration_text(r->timeout_s) : NULL);
	explain_row(a, s, "resources.log_bytes", r->log_bytes > 0 ? size_text(r->log_bytes) : NULL);
	explain_sandbox(a, s);
	struct strvec p = {0};
	for (size_t i = 0; i < s->metrics.npatterns; i++) {
		if (s->metrics.patterns[i].name)
			strvec_pushf(&p, "%s: %s", s->metrics.patterns[i].name, s->metrics.patterns[i].regex);
		else
			strvec_push(&p, s->metrics.patterns[i].regex);
	}
	explain_row(a, s, "metrics.patterns", join_list(p.v, p.n));
	strvec_free(&p);
	explain_row(a, s, "metrics.defaults", xstrdup(s->metrics.defaults ? "true" : "false"));
	explain_row(a, s, "fingerprint.env", join_list(s->fingerprint.env, s->fingerprint.nenv));
	explain_row(a, s, "fingerprint.max_bytes",
		    s->fingerprint.max_bytes ? size_text(s->fingerprint.max_bytes) : NULL);
	const struct rp_slurm_cfg *sl = &s->slurm;
	explain_row(a, s, "slurm.partition", dup_or_null(sl->partition));
	explain_row(a, s, "slurm.account", dup_or_null(sl->account));
	explain_row(a, s, "slurm.qos", dup_or_null(sl->qos));
	explain_row(a, s, "slurm.nodes", sl->nodes ? xasprintf("%lld", sl->nodes) : NULL);
	explain_row(a, s, "slurm.gpus", dup_or_null(sl->gpus));
	explain_row(a, s, "slurm.time", sl->time_s > 0 ? duration_text(sl->time_s) : NULL);
	explain_row(a, s, "slurm.extra_args", join_list(sl->extra_args, sl->nextra_args));
	return a;
}
