/* The runtime component: what the job runs on.
 *   image:  the Docker image id.
 *   rootfs: a tree hash of the sandbox rootfs (+ the interpreter's path inside it).
 *   host:   /etc/os-release, the libc version, and the resolved interpreter of the entrypoint
 *           (real path, content hash, and for Python its version). */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "components.h"
#include "proc.h"
#include "util.h"


/* ---- resolving the interpreter ---- */

void fp_interp_free(struct fp_interp *ip)
{
	free(ip->command);
	free(ip->path);
	free(ip->realpath);
	free(ip->version);
	free(ip->probe_error);
	free(ip->executable);
	if (ip->sys_path) {
		for (char **p = ip->sys_path; *p; p++)
			free(*p);
		free(ip->sys_path);
	}
	memset(ip, 0, sizeof *ip);
}

/* Next shell word of *s (quotes and backslashes handled, no expansion); NULL at the end of
 * the first simple command. */
static char *next_word(const char **s)
{
	const char *p = *s;
	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (!*p || strchr(";&|<>()#", *p))
		return NULL;
	size_t cap = strlen(p) + 1, n = 0;
	char *w = xmalloc(cap);
	while (*p && !strchr(" \t\n;&|<>()", *p)) {
		if (*p == '\'') {
			for (p++; *p && *p != '\''; p++)
				w[n++] = *p;
			if (*p)
				p++;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				w[n++] = *p;
			}
			if (*p)
				p++;
		} else if (*p == '\\' && p[1]) {
			w[n++] = p[1];
			p += 2;
		} else {
			w[n++] = *p++;
		}
	}
	w[n] = '\0';
	*s = p;
	return w;
}

static bool is_assignment(const char *w)
{
	const char *eq = strchr(w, '=');
	if (!eq || eq == w)
		return false;
	for (const char *p = w; p < eq; p++)
		if (!(*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (p > w && *p >= '0' && *p <= '9')))
			return false;
	return true;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static char *command_string_program(const char *cmd);

/* Skip what runs the next word: VAR=x assignments, exec, nohup, command, time, and env with its
 * options ("env -u NAME", "env -S 'python3 -u'"). */
static char *program_word_from_words(char **words, size_t n)
{
	size_t i = 0;
	while (i < n) {
		const char *w = words[i], *b = base_name(w);
		if (is_assignment(w)) {
			i++;
		} else if (!strcmp(b, "env")) {
			for (i++; i < n && words[i][0] == '-'; i++) {
				const char *o = words[i];
				if (!strcmp(o, "-u") || !strcmp(o, "-C") || !strcmp(o, "--unset") || !strcmp(o, "--chdir"))
					i++;
				else if (!strcmp(o, "-S") || !strcmp(o, "--split-string"))
					return i + 1 < n ? command_string_program(words[i + 1]) : NULL;
			}
		} else if (!strcmp(b, "exec") || !strcmp(b, "nohup") || !strcmp(b, "command") || !strcmp(b, "time")) {
			for (i++; i < n && words[i][0] == '-'; i++)
				;
		} else {
			return xstrdup(w);
		}
	}
	return NULL;
}

/* Builtins that set the stage for the real command: `cd src && python3 train.py`. */
static bool is_setup_builtin(const char *w)
{
	static const char *const names[] = { "cd", "export", "set", "unset", "umask", "ulimit", "shopt", "trap",
					     "alias", NULL };
	for (size_t i = 0; names[i]; i++)
		if (!strcmp(w, names[i]))
			return true;
	return false;
}

/* The program of the first simple command of a shell command string that is not a setup
 * builtin; NULL when there is none. */
static char *command_string_program(const char *cmd)
{
	const char *s = cmd;
	char *prog = NULL;
	while (!prog && *s) {
		char *words[64];
		size_t n = 0;
		char *w;
		while (n < 64 && (w = next_word(&s)))
			words[n++] = w;
		prog = program_word_from_words(words, n);
		for (size_t i = 0; i < n; i++)
			free(words[i]);
		if (prog && is_setup_builtin(prog)) {
			free(prog);
			prog = NULL;
		}
		if (*s == '#')
			break; /* a comment ends the line */
		s += strspn(s, ";&|()<> \t\n");
	}
	return prog;
}

static bool is_shell(const char *p)
{
	const char *b = base_name(p);
	return !strcmp(b, "sh") || !strcmp(b, "bash") || !strcmp(b, "dash") || !strcmp(b, "zsh") ||
	       !strcmp(b, "ksh");
}

/* The program word the job's argv runs. */
static char *program_word(char *const *argv)
{
	if (!argv || !argv[0])
		return NULL;
	if (is_shell(argv[0]) && argv[1] && !strcmp(argv[1], "-c") && argv[2])
		return command_string_program(argv[2]);
	size_t n = 0;
	while (argv[n])
		n++;
	return program_word_from_words((char **)argv, n);
}

static bool is_exec_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* Where word would be found: on PATH (from envp) or relative to workdir; under rootfs when
 * set. Returns the host path or NULL. */
static char *find_program(const char *word, char *const *envp, const char *workdir, const char *rootfs)
{
	const char *root = rootfs ? rootfs : "";
	if (strchr(word, '/')) {
		char *p = word[0] == '/' ? xasprintf("%s%s", root, word) : path_join(workdir, word);
		if (is_exec_file(p) || (!rootfs && path_exists(p)))
			return p;
		free(p);
		return NULL;
	}
	const char *path = fp_getenv(envp, "PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char *copy = xstrdup(path), *save = NULL, *found = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
		char *p = dir[0] == '/' ? xasprintf("%s%s/%s", root, dir, word) : xasprintf("%s/%s/%s", workdir, dir, word);
		if (is_exec_file(p))
			found = p;
		else
			free(p);
	}
	free(copy);
	return found;
}

/* The program a "#!" line names, or NULL when p is not a script. */
static char *shebang_program(const char *p)
{
	char line[256];
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, line, sizeof line - 1);
	close(fd);
	if (n < 3 || line[0] != '#' || line[1] != '!')
		return NULL;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	char *words[16];
	size_t nw = 0;
	for (char *save = NULL, *t = strtok_r(line + 2, " \t", &save); t && nw < 16; t = strtok_r(NULL, " \t", &save))
		words[nw++] = t;
	if (!nw)
		return NULL;
	if (!strcmp(base_name(words[0]), "env")) /* #!/usr/bin/env [-S] python3 */
		return program_word_from_words(words, nw);
	return xstrdup(words[0]);
}

int fp_resolve_interpreter(char *const *argv, char *const *envp, const char *workdir, const char *rootfs,
			   struct fp_interp *ip, struct rp_err *err)
{
	memset(ip, 0, sizeof *ip);
	char *word = program_word(argv);
	if (!word)
		return 0;
	ip->command = xstrdup(word);
	char *found = find_program(word, envp, workdir, rootfs);
	bool by_path = strchr(word, '/') != NULL;
	free(word);
	/* Follow at most two #! lines: ./train.py -> /usr/bin/env python3 -> /usr/bin/python3. */
	for (int depth = 0; found && depth < 2; depth++) {
		char *interp = shebang_program(found);
		if (!interp)
			break;
		/* A wrapper found on PATH that a shell runs (pyenv and conda shims) stands for the
		 * interpreter it names; python's own sys.executable finds the real binary later. */
		if (!by_path && is_shell(interp)) {
			free(interp);
			break;
		}
		char *next = find_program(interp, envp, workdir, rootfs);
		by_path = strchr(interp, '/') != NULL;
		free(interp);
		if (!next)
			break;
		free(found);
		found = next;
	}
	if (!found)
		return 0;
	if (rootfs) {
		ip->path = xstrdup(found + strlen(rootfs)); /* as seen inside the sandbox */
		free(found);
	} else {
		ip->path = found;
		ip->realpath = realpath(found, NULL);
		if (!ip->realpath)
			return rp_err_sys(err, "interpreter %s", found);
	}
	const char *b = base_name(ip->realpath ? ip->realpath : ip->path);
	ip->is_python = !strncmp(b, "python", 6) || !strncmp(b, "pypy", 4) || !strncmp(base_name(ip->path), "python", 6);
	return 0;
}

/* Content hash of a host file through the "system" cache (interpreters are large). */
static int hash_system_file(const char *home, const char *path, unsigned char out[FP_HASH_LEN], struct rp_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return rp_err_sys(err, "stat %s", path);
	struct fp_cache *c = fp_cache_open(home, "system");
	int rc = 0;
	if (!fp_cache_lookup(c, &st, out)) {
		rc = fp_hash_path(path, out, err);
		if (rc == 0)
			fp_cache_put(c, &st, out);
	}
	(void)fp_cache_save(c, NULL);
	fp_cache_free(c);
	return rc;
}

/* ---- python: version and sys.path, asked once ---- */

static const char *const python_path_vars[] = { "PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE",
						"PYTHONSAFEPATH", "PYTHONPLATLIBDIR", "HOME", "VIRTUAL_ENV",
						"PYENV_VERSION", "CONDA_PREFIX" };

/* The probe's answer depends on the interpreter, its path (venvs), the variables that move
 * sys.path, and for pyenv-style shims the workdir's .python-version. */
static char *python_cache_path(const char *home, char *const *envp, const char *workdir, const struct fp_interp *ip)
{
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_str(&h, "python-probe-v1");
	fp_hasher_field(&h, ip->hash, FP_HASH_LEN);
	fp_hasher_str(&h, ip->path);
	for (size_t i = 0; i < sizeof python_path_vars / sizeof *python_path_vars; i++) {
		const char *v = fp_getenv(envp, python_path_vars[i]);
		fp_hasher_str(&h, v ? "set" : "unset");
		fp_hasher_str(&h, v);
	}
	/* A venv's python finds its site dir through pyvenv.cfg one level above bin/. */
	char *dir = xstrdup(ip->path), *cfg_text = NULL;
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		char *cfg = xasprintf("%s/../pyvenv.cfg", dir);
		if (read_file(cfg, &cfg_text, NULL, NULL) < 0)
			cfg_text = NULL;
		free(cfg);
	}
	fp_hasher_str(&h, cfg_text);
	free(cfg_text);
	free(dir);
	char *pv = path_join(workdir, ".python-version"), *pv_text = NULL;
	if (read_file(pv, &pv_text, NULL, NULL) < 0)
		pv_text = NULL;
	fp_hasher_str(&h, workdir);
	fp_hasher_str(&h, pv_text);
	free(pv_text);
	free(pv);
	unsigned char out[FP_HASH_LEN];
	char hex[FP_HEX_LEN + 1];
	fp_hasher_final(&h, out);
	fp_hex(out, hex);
	hex[24] = '\0';
	return xasprintf("%s/cache/python-%s.json", home, hex);
}

/* The probe prints its answer on one line after this marker: in a sandbox its stderr comes along
 * in the same pipe. */
#define PROBE_MARKER "runpilot-probe: "

/* The probe's JSON in text (after the last marker, or the whole text: a cached answer). */
static const char *probe_json(const char *text)
{
	const char *last = NULL;
	for (const char *m = text; m && (m = strstr(m, PROBE_MARKER)); m += strlen(PROBE_MARKER))
		last = m;
	return last ? last + strlen(PROBE_MARKER) : text;
}

static bool parse_probe(const char *text, struct fp_interp *ip)
{
	cJSON *j = cJSON_ParseWithOpts(probe_json(text), NULL, false);
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "version"));
	const cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "path");
	if (!v || !cJSON_IsArray(path)) {
		cJSON_Delete(j);
		return false;
	}
	ip->version = xstrdup(v);
	const char *exe = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "executable"));
	ip->executable = exe && *exe ? xstrdup(exe) : NULL;
	size_t n = (size_t)cJSON_GetArraySize(path), k = 0;
	ip->sys_path = xcalloc(n + 1, sizeof *ip->sys_path);
	for (const cJSON *e = path->child; e; e = e->next)
		if (cJSON_IsString(e) && e->valuestring[0] == '/')
			ip->sys_path[k++] = xstrdup(e->valuestring);
	cJSON_Delete(j);
	return true;
}

void fp_python_probe(const struct fp_input *in, struct fp_interp *ip)
{
	const char *home = in->home, *workdir = in->workdir;
	char *const *envp = in->envp;
	/* Run in the workdir like the job (pyenv reads .python-version there); drop the '' entry
	 * first so a json.py of the user's is never imported. */
	static const char code[] = "import sys; sys.path = [p for p in sys.path if p]\n"
				   "import json; print(\"\\n" PROBE_MARKER "\" + json.dumps({\"version\": \"%d.%d.%d\" % "
				   "tuple(sys.version_info[:3]), \"path\": sys.path, \"executable\": sys.executable}))";
	char *cache = home ? python_cache_path(home, envp, workdir, ip) : NULL, *text = NULL;
	if (cache && read_file(cache, &text, NULL, NULL) == 0 && parse_probe(text, ip)) {
		free(text);
		free(cache);
		return;
	}
	free(text);
	text = NULL;
	if (in->no_capture) {
		ip->probe_error = xstrdup(in->no_capture);
		free(cache);
		return;
	}
	char *argv[] = { ip->path, "-c", (char *)code, NULL };
	struct rp_err e = { 0 };
	int st = in->capture ? in->capture(in->capture_ctx, argv, envp, workdir, 10, &text, &e)
			     : fp_run_capture(argv, envp, workdir, 10, &text, &e);
	if (st != 0 || !parse_probe(text, ip)) {
		ip->probe_error = st < 0 ? xstrdup(e.msg) : xasprintf("%s -c 'import sys' exited %d", ip->path, st);
	} else if (cache) {
		char *dir = xasprintf("%s/cache", home);
		const char *json = probe_json(text);
		if (mkdir_p(dir, 0755, NULL) == 0)
			(void)write_file_atomic_flags(cache, json, strlen(json), 0644, RP_WRITE_NO_FSYNC, NULL);
		free(dir);
	}
	free(text);
	free(cache);
}

/* A shim on PATH ran python elsewhere: record and hash the binary python says it is. */
static int use_real_executable(const char *home, struct fp_interp *ip, struct rp_err *err)
{
	if (!ip->executable)
		return 0;
	char *rp = realpath(ip->executable, NULL);
	if (!rp || !strcmp(rp, ip->realpath)) {
		free(rp);
		return 0;
	}
	free(ip->realpath);
	ip->realpath = rp;
	return hash_system_file(home, rp, ip->hash, err);
}

/* ---- the component ---- */

static void add_os_release(cJSON *c, const char *root, struct fp_hasher *h)
{
	char *path = xasprintf("%s/etc/os-release", root), *text = NULL;
	if (read_file(path, &text, NULL, NULL) < 0) {
		free(path);
		path = xasprintf("%s/usr/lib/os-release", root);
		if (read_file(path, &text, NULL, NULL) < 0)
			text = NULL;
	}
	free(path);
	fp_hasher_str(h, text);
	if (!text) {
		cJSON_AddNullToObject(c, "os");
		return;
	}
	cJSON *os = cJSON_AddObjectToObject(c, "os");
	const char *keys[] = { "ID", "VERSION_ID", "PRETTY_NAME" };
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		for (size_t i = 0; i < 3; i++) {
			size_t n = strlen(keys[i]);
			if (strncmp(line, keys[i], n) || line[n] != '=')
				continue;
			char *v = line + n + 1;
			size_t vl = strlen(v);
			if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
				v[vl - 1] = '\0';
				v++;
			}
			char *lower = xstrdup(keys[i]);
			for (char *p = lower; *p; p++)
				*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
			cJSON_AddStringToObject(os, lower, v);
			free(lower);
		}
	}
	free(text);
}

static cJSON *interp_json(const struct fp_interp *ip)
{
	if (!ip->command)
		return cJSON_CreateNull();
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "command", ip->command);
	if (ip->path)
		cJSON_AddStringToObject(j, "path", ip->path);
	else
		cJSON_AddNullToObject(j, "path");
	if (ip->realpath)
		cJSON_AddStringToObject(j, "realpath", ip->realpath);
	if (ip->hashed) {
		char *hs = fp_hash_str(ip->hash);
		cJSON_AddStringToObject(j, "hash", hs);
		free(hs);
	}
	if (ip->version)
		cJSON_AddStringToObject(j, "version", ip->version);
	if (ip->probe_error)
		cJSON_AddStringToObject(j, "probe_error", ip->probe_error);
	return j;
}

static int rootfs_tree(const struct fp_input *in, cJSON *c, struct fp_filelist *files, unsigned char out[FP_HASH_LEN],
		       struct rp_err *err)
{
	if (fp_walk(in->rootfs, NULL, NULL, FP_WALK_XDEV, files, err) < 0)
		return rp_err_wrap(err, "rootfs");
	fp_filelist_sort(files);
	long long max = in->max_bytes > 0 ? in->max_bytes : FP_DEFAULT_MAX_BYTES;
	bool metadata_only = files->bytes > (unsigned long long)max;
	char *scope = xasprintf("rootfs:%s", in->rootfs);
	struct fp_cache *cache = fp_cache_open(in->home, scope);
	free(scope);
	int rc = fp_hash_files(files, in->rootfs, cache, metadata_only, err);
	if (rc == 0)
		(void)fp_cache_save(cache, NULL);
	fp_cache_free(cache);
	if (rc < 0)
		return -1;
	fp_tree_hash(files, out);
	char *hs = fp_hash_str(out);
	cJSON_AddStringToObject(c, "rootfs", in->rootfs);
	cJSON_AddStringToObject(c, "rootfs_hash", hs);
	cJSON_AddNumberToObject(c, "rootfs_files", (double)files->n);
	cJSON_AddNumberToObject(c, "rootfs_bytes", (double)files->bytes);
	cJSON_AddStringToObject(c, "rootfs_hashed_by", metadata_only ? "metadata" : "content");
	free(hs);
	return 0;
}

int fp_runtime_component(const struct fp_input *in, struct fp_interp *ip, cJSON **comp,
			 struct fp_filelist *rootfs_files, struct rp_err *err)
{
	const char *kind = in->image_id ? "image" : in->rootfs ? "rootfs" : "host";
	if (fp_resolve_interpreter(in->argv, in->envp, in->workdir, in->image_id ? NULL : in->rootfs, ip, err) < 0)
		return -1;
	if (in->image_id) { /* the interpreter on the host says nothing about the image */
		free(ip->path);
		free(ip->realpath);
		ip->path = ip->realpath = NULL;
		ip->is_python = false;
	}
	cJSON *c = cJSON_CreateObject();
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_str(&h, "runtime-v1");
	fp_hasher_str(&h, kind);
	cJSON_AddStringToObject(c, "kind", kind);

	if (in->image_id) {
		cJSON_AddStringToObject(c, "image_id", in->image_id);
		fp_hasher_str(&h, in->image_id);
		cJSON *digests = cJSON_AddArrayToObject(c, "image_digests");
		for (char *const *d = in->image_digests; d && *d; d++)
			cJSON_AddItemToArray(digests, cJSON_CreateString(*d));
	} else if (in->rootfs) {
		unsigned char t[FP_HASH_LEN];
		if (rootfs_tree(in, c, rootfs_files, t, err) < 0) {
			fp_hasher_final(&h, t);
			cJSON_Delete(c);
			return -1;
		}
		fp_hasher_field(&h, t, FP_HASH_LEN);
		add_os_release(c, in->rootfs, &h);
	} else {
		add_os_release(c, "", &h);
		char *libc = xasprintf("glibc %s", gnu_get_libc_version());
		cJSON_AddStringToObject(c, "libc", libc);
		fp_hasher_str(&h, libc);
		free(libc);
		if (ip->realpath) {
			if (hash_system_file(in->home, ip->realpath, ip->hash, err) < 0) {
				unsigned char t[FP_HASH_LEN];
				fp_hasher_final(&h, t);
				cJSON_Delete(c);
				return rp_err_wrap(err, "interpreter");
			}
			ip->hashed = true;
			if (ip->is_python)
				fp_python_probe(in, ip);
			if (use_real_executable(in->home, ip, err) < 0) {
				unsigned char t[FP_HASH_LEN];
				fp_hasher_final(&h, t);
				cJSON_Delete(c);
				return rp_err_wrap(err, "interpreter");
			}
		}
	}
	/* What the entrypoint runs: its name, where it resolves, its content and version. */
	fp_hasher_str(&h, ip->command);
	fp_hasher_str(&h, ip->path);
	fp_hasher_str(&h, ip->realpath);
	if (ip->hashed)
		fp_hasher_field(&h, ip->hash, FP_HASH_LEN);
	fp_hasher_str(&h, ip->version);
	cJSON_AddItemToObject(c, "interpreter", interp_json(ip));

	unsigned char out[FP_HASH_LEN];
	fp_hasher_final(&h, out);
	char *hs = fp_hash_str(out);
	cJSON *res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "hash", hs);
	free(hs);
	for (cJSON *e = c->child; e;) {
		cJSON *next = e->next;
		cJSON_AddItemToObject(res, e->string, cJSON_DetachItemViaPointer(c, e));
		e = next;
	}
	cJSON_Delete(c);
	*comp = res;
	return 0;
}
