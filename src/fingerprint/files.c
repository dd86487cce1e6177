/* File lists: the walk over a tree (parallel readdir), .runpilotignore rules, hashing every
 * file (parallel, through the per-file cache), the tree hash, and the per-file list's rows
 * (files.json) that verify and diff read back. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "util.h"

/* ---- file lists ---- */

void fp_filelist_free(struct fp_filelist *fl)
{
	for (size_t i = 0; i < fl->n; i++)
		free(fl->v[i].path);
	free(fl->v);
	memset(fl, 0, sizeof *fl);
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct fp_file *)a)->path, ((const struct fp_file *)b)->path);
}

void fp_filelist_sort(struct fp_filelist *fl)
{
	if (fl->n > 1)
		qsort(fl->v, fl->n, sizeof *fl->v, cmp_file);
}

static unsigned normal_mode(mode_t m)
{
	if (S_ISLNK(m))
		return 0120000;
	return (m & 0111) ? 0100755 : 0100644;
}

static void filelist_push(struct fp_filelist *fl, char *path, const struct stat *st)
{
	if (fl->n == fl->cap) {
		fl->cap = fl->cap ? fl->cap * 2 : 256;
		fl->v = xrealloc(fl->v, fl->cap * sizeof *fl->v);
	}
	struct fp_file *f = &fl->v[fl->n++];
	memset(f, 0, sizeof *f);
	f->path = path;
	f->st = *st;
	f->mode = normal_mode(st->st_mode);
	if (S_ISREG(st->st_mode))
		fl->bytes += (unsigned long long)st->st_size;
}

int fp_filelist_add(struct fp_filelist *fl, int root_fd, const char *rel, struct rp_err *err)
{
	struct stat st;
	if (fstatat(root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0; /* deleted since git listed it */
		return rp_err_sys(err, "stat %s", rel);
	}
	if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
		filelist_push(fl, xstrdup(rel), &st);
	return 0;
}

const struct fp_file *fp_filelist_find(const struct fp_filelist *fl, const char *path)
{
	struct fp_file key = { .path = (char *)path };
	return fl->n ? bsearch(&key, fl->v, fl->n, sizeof *fl->v, cmp_file) : NULL;
}

void fp_mode_str(unsigned mode, char out[8])
{
	snprintf(out, 8, "%o", mode);
}

void fp_tree_hash(const struct fp_filelist *fl, unsigned char out[FP_HASH_LEN])
{
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_str(&h, "tree-v1");
	for (size_t i = 0; i < fl->n; i++) {
		char m[8];
		fp_mode_str(fl->v[i].mode, m);
		fp_hasher_str(&h, fl->v[i].path);
		fp_hasher_str(&h, m);
		fp_hasher_field(&h, fl->v[i].hash, FP_HASH_LEN);
	}
	fp_hasher_final(&h, out);
}

/* One string per file, "<sha256 hex> <mode> <size> <path>" (the path last: it may hold spaces);
 * 10k files stay a small, fast-to-parse JSON array. */
cJSON *fp_filelist_json(const struct fp_filelist *fl)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < fl->n; i++) {
		char hex[FP_HEX_LEN + 1];
		fp_hex(fl->v[i].hash, hex);
		char *row = xasprintf("%s %o %lld %s", hex, fl->v[i].mode, (long long)fl->v[i].st.st_size, fl->v[i].path);
		cJSON_AddItemToArray(arr, cJSON_CreateString(row));
		free(row);
	}
	return arr;
}

/* ---- ignore rules ---- */

struct ignore_rule {
	char **segs;     /* pattern split at '/' */
	size_t nsegs;
	bool negate, dir_only, anchored;
};

struct fp_ignore {
	struct ignore_rule *rules;
	size_t n, cap;
	bool used_file;
};

/* Always ignored unless a later rule says "!...": bytecode and notebook autosaves change when
 * the job runs, so they would make every run look changed afterwards. */
static const char *const builtin_rules[] = { "__pycache__/", "*.pyc", ".ipynb_checkpoints/" };

struct fp_ignore *fp_ignore_new(void)
{
	struct fp_ignore *ig = xcalloc(1, sizeof *ig);
	for (size_t i = 0; i < sizeof builtin_rules / sizeof *builtin_rules; i++)
		fp_ignore_add(ig, builtin_rules[i]);
	return ig;
}

void fp_ignore_add(struct fp_ignore *ig, const char *line)
{
	char *p = xstrdup(line);
	size_t len = strlen(p);
	/* Trailing blanks are not part of the pattern unless escaped with a backslash. */
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r') &&
	       !(len >= 2 && p[len - 2] == '\\'))
		p[--len] = '\0';
	struct ignore_rule r = { 0 };
	char *s = p;
	if (*s == '\0' || *s == '#') {
		free(p);
		return;
	}
	if (*s == '!') {
		r.negate = true;
		s++;
	} else if (*s == '\\' && (s[1] == '#' || s[1] == '!')) {
		s++;
	}
	len = strlen(s);
	if (len && s[len - 1] == '/') {
		r.dir_only = true;
		s[--len] = '\0';
	}
	if (*s == '\0') {
		free(p);
		return;
	}
	/* A slash at the start or in the middle anchors the pattern to the root. */
	r.anchored = strchr(s, '/') != NULL;
	while (*s == '/')
		s++;
	char *save = NULL;
	for (char *tok = strtok_r(s, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		r.segs = xrealloc(r.segs, (r.nsegs + 1) * sizeof *r.segs);
		r.segs[r.nsegs++] = xstrdup(tok);
	}
	free(p);
	if (!r.nsegs)
		return;
	if (ig->n == ig->cap) {
		ig->cap = ig->cap ? ig->cap * 2 : 16;
		ig->rules = xrealloc(ig->rules, ig->cap * sizeof *ig->rules);
	}
	ig->rules[ig->n++] = r;
}

int fp_ignore_load(struct fp_ignore *ig, const char *root, struct rp_err *err)
{
	char *path = path_join(root, ".runpilotignore");
	char *text = NULL;
	if (!path_exists(path)) {
		free(path);
		return 0;
	}
	int rc = read_file(path, &text, NULL, err);
	free(path);
	if (rc < 0)
		return -1;
	ig->used_file = true;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		fp_ignore_add(ig, line);
	free(text);
	return 0;
}

bool fp_ignore_used_file(const struct fp_ignore *ig)
{
	return ig && ig->used_file;
}

/* Match pattern segments [i..] against path segments [j..]; "**" spans zero or more segments
 * (a trailing "**" needs at least one: "x/" + "**" matches what is inside x, not x). */
static bool match_segs(char *const *pat, size_t np, size_t i, char *const *path, size_t npath, size_t j)
{
	if (i == np)
		return j == npath;
	if (strcmp(pat[i], "**") == 0) {
		if (i == np - 1)
			return j < npath;
		for (size_t k = j; k <= npath; k++)
			if (match_segs(pat, np, i + 1, path, npath, k))
				return true;
		return false;
	}
	if (j == npath || fnmatch(pat[i], path[j], 0) != 0)
		return false;
	return match_segs(pat, np, i + 1, path, npath, j + 1);
}

static bool rule_matches(const struct ignore_rule *r, char *const *segs, size_t nsegs, bool is_dir)
{
	if (r->dir_only && !is_dir)
		return false;
	if (!r->anchored) /* a bare name matches the last component at any depth */
		return nsegs && fnmatch(r->segs[0], segs[nsegs - 1], 0) == 0;
	return match_segs(r->segs, r->nsegs, 0, segs, nsegs, 0);
}

bool fp_ignore_match(const struct fp_ignore *ig, const char *rel, bool is_dir)
{
	if (!ig || !ig->n)
		return false;
	char *copy = xstrdup(rel), *segs[256], *save = NULL;
	size_t n = 0;
	for (char *tok = strtok_r(copy, "/", &save); tok && n < 256; tok = strtok_r(NULL, "/", &save))
		segs[n++] = tok; /* strtok_r: the walk matches from several threads */
	bool ignored = false;
	for (size_t i = 0; i < ig->n; i++)
		if (rule_matches(&ig->rules[i], segs, n, is_dir))
			ignored = !ig->rules[i].negate;
	free(copy);
	return ignored;
}

bool fp_ignore_match_path(const struct fp_ignore *ig, const char *rel)
{
	char *copy = xstrdup(rel);
	bool ignored = false;
	for (char *s = strchr(copy, '/'); s && !ignored; s = strchr(s + 1, '/')) {
		*s = '\0';
		ignored = fp_ignore_match(ig, copy, true);
		*s = '/';
	}
	if (!ignored)
		ignored = fp_ignore_match(ig, copy, false);
	free(copy);
	return ignored;
}

void fp_ignore_free(struct fp_ignore *ig)
{
	if (!ig)
		return;
	for (size_t i = 0; i < ig->n; i++) {
		for (size_t j = 0; j < ig->rules[i].nsegs; j++)
			free(ig->rules[i].segs[j]);
		free(ig->rules[i].segs);
	}
	free(ig->rules);
	free(ig);
}

/* ---- the walk ----
 * Directories are a shared work queue read by up to 4 threads (stat(2) dominates a warm run, and
 * the kernel does it in parallel); each thread keeps its own list, merged at the end. */

struct walk {
	int root_fd;
	unsigned flags;
	dev_t root_dev;
	const struct fp_ignore *ig;
	bool have_exclude;
	dev_t ex_dev;
	ino_t ex_ino;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char **queue;          /* directories to read (owned), a stack */
	size_t nqueue, capqueue;
	size_t busy;           /* threads reading a directory now */
	bool failed;
	struct rp_err err;     /* the first failure */
};

struct walker {
	struct walk *w;
	struct fp_filelist out;
};

/* Read one directory: files into out, subdirectories to descend into onto subdirs. */
static int read_dir(struct walk *w, const char *rel, struct fp_filelist *out, struct strvec *subdirs,
		    struct rp_err *err)
{
	int fd = openat(w->root_fd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "open %s", *rel ? rel : ".");
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return rp_err_sys(err, "opendir %s", rel);
	}
	int rc = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if ((w->flags & FP_WALK_SKIP_GIT) && !strcmp(name, ".git"))
			continue;
		struct stat st;
		if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			rc = rp_err_sys(err, "stat %s/%s", rel, name);
			break;
		}
		char *path = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
		bool is_dir = S_ISDIR(st.st_mode);
		if (fp_ignore_match(w->ig, path, is_dir)) {
			free(path);
		} else if (is_dir) {
			bool excluded = w->have_exclude && st.st_dev == w->ex_dev && st.st_ino == w->ex_ino;
			bool is_venv = false, other_fs = (w->flags & FP_WALK_XDEV) && st.st_dev != w->root_dev;
			if (w->flags & FP_WALK_SKIP_VENVS) {
				char *venv = xasprintf("%s/pyvenv.cfg", name);
				is_venv = faccessat(fd, venv, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
				free(venv);
			}
			if (!excluded && !is_venv && !other_fs)
				strvec_push(subdirs, path);
			free(path);
		} else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
			filelist_push(out, path, &st);
		} else {
			free(path); /* sockets, fifos, devices: no content to hash */
		}
		errno = 0;
	}
	if (!rc && errno)
		rc = rp_err_sys(err, "readdir %s", rel);
	closedir(d);
	return rc;
}

static void queue_push(struct walk *w, const char *dir)
{
	if (w->nqueue == w->capqueue) {
		w->capqueue = w->capqueue ? w->capqueue * 2 : 64;
		w->queue = xrealloc(w->queue, w->capqueue * sizeof *w->queue);
	}
	w->queue[w->nqueue++] = xstrdup(dir);
}

static void *walk_worker(void *arg)
{
	struct walker *me = arg;
	struct walk *w = me->w;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->nqueue && w->busy && !w->failed)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->failed || !w->nqueue)
			break; /* failed, or nothing queued and nobody can queue more */
		char *dir = w->queue[--w->nqueue];
		w->busy++;
		pthread_mutex_unlock(&w->mu);

		struct strvec subdirs = { 0 };
		struct rp_err err = { 0 };
		int rc = read_dir(w, dir, &me->out, &subdirs, &err);
		free(dir);

		pthread_mutex_lock(&w->mu);
		w->busy--;
		if (rc < 0 && !w->failed) {
			w->failed = true;
			w->err = err;
		}
		for (size_t i = 0; i < subdirs.n; i++)
			queue_push(w, subdirs.v[i]);
		strvec_free(&subdirs);
		pthread_cond_broadcast(&w->cv);
	}
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Read directories on the calling thread while fewer than WALK_ALONE_MAX wait in the queue. */
enum { WALK_ALONE_MAX = 4 };

static void walk_alone(struct walk *w, struct walker *me)
{
	while (w->nqueue > 0 && w->nqueue < WALK_ALONE_MAX && !w->failed) {
		char *dir = w->queue[--w->nqueue];
		struct strvec subdirs = { 0 };
		if (read_dir(w, dir, &me->out, &subdirs, &w->err) < 0)
			w->failed = true;
		free(dir);
		for (size_t i = 0; i < subdirs.n; i++)
			queue_push(w, subdirs.v[i]);
		strvec_free(&subdirs);
	}
}

static void filelist_take(struct fp_filelist *dst, struct fp_filelist *src)
{
	for (size_t i = 0; i < src->n; i++) {
		filelist_push(dst, src->v[i].path, &src->v[i].st);
		src->v[i].path = NULL;
	}
	free(src->v);
	memset(src, 0, sizeof *src);
}

int fp_walk(const char *root, const struct fp_ignore *ig, const char *exclude_dir, unsigned flags,
	    struct fp_filelist *out, struct rp_err *err)
{
	struct walk w = { .ig = ig, .flags = flags };
	struct stat st;
	if (exclude_dir && stat(exclude_dir, &st) == 0) {
		w.have_exclude = true;
		w.ex_dev = st.st_dev;
		w.ex_ino = st.st_ino;
	}
	w.root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.root_fd < 0)
		return rp_err_sys(err, "open %s", root);
	if (fstat(w.root_fd, &st) < 0) {
		close(w.root_fd);
		return rp_err_sys(err, "stat %s", root);
	}
	w.root_dev = st.st_dev;
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	queue_push(&w, "");

	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int n = cpus >= 4 ? 4 : cpus >= 2 ? (int)cpus : 1, started = 0;
	struct walker walkers[4] = { 0 };
	pthread_t tids[4];
	for (int i = 0; i < n; i++)
		walkers[i].w = &w;
	/* A small tree is walked by this thread alone: starting threads (and the cross-CPU work
	 * they bring to every later mmap and fork) costs more than they save until a few
	 * directories wait to be read. */
	walk_alone(&w, &walkers[0]);
	for (int i = 1; i < n && w.nqueue > 0 && !w.failed; i++, started++)
		if (pthread_create(&tids[i], NULL, walk_worker, &walkers[i]) != 0)
			break; /* fewer threads is only slower */
	walk_worker(&walkers[0]);
	for (int i = 1; i <= started; i++)
		pthread_join(tids[i], NULL);
	for (int i = 0; i < n; i++) {
		filelist_take(out, &walkers[i].out);
	}
	for (size_t i = 0; i < w.nqueue; i++)
		free(w.queue[i]);
	free(w.queue);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	close(w.root_fd);
	if (w.failed) {
		if (err)
			*err = w.err;
		return -1;
	}
	return 0;
}

/* ---- hashing the files ---- */

struct hash_job {
	int root_fd;
	struct fp_file **todo;
	size_t n;
	size_t next;               /* atomic */
};

enum { HASH_BUF = 256 * 1024 };

static void hash_errno(struct fp_file *f, int e)
{
	char msg[64];
	snprintf(msg, sizeof msg, "unreadable:%d", e);
	f->read_errno = e;
	fp_sha256(msg, strlen(msg), f->hash);
}

static void hash_one(int root_fd, struct fp_file *f, unsigned char *buf)
{
	int fd = openat(root_fd, f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
	if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership */
		fd = openat(root_fd, f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		hash_errno(f, errno);
		return;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	struct fp_hasher h;
	fp_hasher_init(&h);
	for (;;) {
		ssize_t n = read(fd, buf, HASH_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			fp_hasher_final(&h, f->hash);
			close(fd);
			hash_errno(f, e);
			return;
		}
		if (n == 0)
			break;
		fp_hasher_update(&h, buf, (size_t)n);
	}
	fp_hasher_final(&h, f->hash);
	/* Changed while we read it: keep the hash, but the stat no longer describes it, so it
	 * must not be cached (read_errno stays 0; the -1 ino marks "do not cache"). */
	struct stat after;
	if (fstat(fd, &after) == 0 &&
	    (after.st_size != f->st.st_size || fp_stat_mtime_ns(&after) != fp_stat_mtime_ns(&f->st) ||
	     fp_stat_ctime_ns(&after) != fp_stat_ctime_ns(&f->st)))
		f->st.st_ino = (ino_t)-1;
	close(fd);
}

static void *hash_worker(void *arg)
{
	struct hash_job *j = arg;
	unsigned char *buf = xmalloc(HASH_BUF);
	for (;;) {
		size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
		if (i >= j->n)
			break;
		hash_one(j->root_fd, j->todo[i], buf);
	}
	free(buf);
	return NULL;
}

static void hash_symlink(int root_fd, struct fp_file *f)
{
	char target[4096];
	ssize_t n = readlinkat(root_fd, f->path, target, sizeof target);
	if (n < 0) {
		hash_errno(f, errno);
		return;
	}
	fp_sha256(target, (size_t)n, f->hash);
}

static void hash_metadata(struct fp_file *f)
{
	struct fp_hasher h;
	fp_hasher_init(&h);
	fp_hasher_str(&h, "metadata");
	fp_hasher_u64(&h, (unsigned long long)f->st.st_size);
	fp_hasher_u64(&h, (unsigned long long)fp_stat_mtime_ns(&f->st));
	fp_hasher_final(&h, f->hash);
}

/* Two workers per core, at most 4: reading overlaps hashing, SHA-NI does the rest. */
static int worker_count(size_t nfiles, unsigned long long bytes)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (nfiles < 16 || bytes < (8ULL << 20) || cpus < 2)
		return 1;
	return cpus >= 4 ? 4 : (int)cpus;
}

int fp_hash_files(struct fp_filelist *fl, const char *root, struct fp_cache *cache, bool metadata_only,
		  struct rp_err *err)
{
	int root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return rp_err_sys(err, "open %s", root);
	struct hash_job job = { .root_fd = root_fd, .todo = xcalloc(fl->n + 1, sizeof *job.todo) };
	unsigned long long todo_bytes = 0;
	for (size_t i = 0; i < fl->n; i++) {
		struct fp_file *f = &fl->v[i];
		if (metadata_only)
			hash_metadata(f);
		else if (S_ISLNK(f->st.st_mode))
			hash_symlink(root_fd, f);
		else if (!fp_cache_lookup(cache, &f->st, f->hash)) {
			job.todo[job.n++] = f;
			todo_bytes += (unsigned long long)f->st.st_size;
		}
	}
	int nthreads = worker_count(job.n, todo_bytes);
	pthread_t tids[4];
	int started = 0;
	for (; started < nthreads - 1; started++)
		if (pthread_create(&tids[started], NULL, hash_worker, &job) != 0)
			break; /* fewer threads is only slower */
	hash_worker(&job);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	for (size_t i = 0; i < job.n; i++)
		if (!job.todo[i]->read_errno && job.todo[i]->st.st_ino != (ino_t)-1)
			fp_cache_put(cache, &job.todo[i]->st, job.todo[i]->hash);
	free(job.todo);
	close(root_fd);
	return 0;
}

/* ---- files.json ---- */

int fp_files_load(const char *path, cJSON **files, struct rp_err *err)
{
	char *text = NULL;
	if (read_file(path, &text, NULL, err) < 0)
		return -1;
	cJSON *j = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return rp_err_set(err, RP_ERR_RUNTIME, "%s: not a runpilot file list", path);
	}
	*files = j;
	return 0;
}

const char *fp_files_row_path(const cJSON *row)
{
	const char *s = cJSON_GetStringValue(row);
	for (int field = 0; s && field < 3; field++) {
		s = strchr(s, ' ');
		s = s ? s + 1 : NULL;
	}
	return s;
}

cJSON *fp_files_rows_json(const cJSON *rows)
{
	cJSON *arr = cJSON_CreateArray();
	for (const cJSON *r = rows ? rows->child : NULL; r; r = r->next) {
		const char *path = fp_files_row_path(r), *s = r->valuestring;
		char hex[FP_HEX_LEN + 1], mode[16];
		long long size;
		if (!path || sscanf(s, "%64s %15s %lld", hex, mode, &size) != 3)
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", path);
		cJSON_AddStringToObject(o, "mode", mode);
		cJSON_AddNumberToObject(o, "size", (double)size);
		cJSON_AddStringToObject(o, "sha256", hex);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}
