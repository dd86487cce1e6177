#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		rp_log_out_of_memory();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		rp_log_out_of_memory();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		rp_log_out_of_memory();
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		rp_log_out_of_memory();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		rp_log_out_of_memory();
	return s;
}

void strvec_push(struct strvec *sv, const char *s)
{
	if (sv->n + 2 > sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 8;
		sv->v = xrealloc(sv->v, sv->cap * sizeof *sv->v);
	}
	sv->v[sv->n++] = xstrdup(s);
	sv->v[sv->n] = NULL;
}

void strvec_pushf(struct strvec *sv, const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		rp_log_out_of_memory();
	strvec_push(sv, s);
	free(s);
}

void strvec_free(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

size_t edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
	size_t row[65];
	if (na > 64 || nb > 64)
		return 99;
	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t up = row[j];
			size_t best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[nb];
}

char *strvec_join(const struct strvec *sv, const char *sep)
{
	size_t len = 1, sl = strlen(sep);
	for (size_t i = 0; i < sv->n; i++)
		len += strlen(sv->v[i]) + (i ? sl : 0);
	char *out = xmalloc(len), *p = out;
	for (size_t i = 0; i < sv->n; i++) {
		if (i) {
			memcpy(p, sep, sl);
			p += sl;
		}
		size_t n = strlen(sv->v[i]);
		memcpy(p, sv->v[i], n);
		p += n;
	}
	*p = '\0';
	return out;
}

char **strvec_items(struct strvec *sv)
{
	if (!sv->v) {
		sv->cap = 8;
		sv->v = xcalloc(sv->cap, sizeof *sv->v);
	}
	return sv->v;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_parent_dir(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct rp_err *err)
{
	return write_file_atomic_flags(path, data, len, mode, 0, err);
}

/* The temp file, written in full, not flushed. */
static int atomic_file_create(struct atomic_file *f, const char *path, const void *data, size_t len, mode_t mode,
			      struct rp_err *err)
{
	f->path = xstrdup(path);
	f->tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (f->fd < 0) {
		rp_err_sys(err, "cannot create %s", f->tmp);
		atomic_file_abort(f);
		return -1;
	}
	if (write_all(f->fd, data, len) < 0) {
		rp_err_sys(err, "cannot write %s", f->tmp);
		atomic_file_abort(f);
		return -1;
	}
	return 0;
}

int atomic_file_begin(struct atomic_file *f, const char *path, const void *data, size_t len, mode_t mode,
		      struct rp_err *err)
{
	if (atomic_file_create(f, path, data, len, mode, err) < 0)
		return -1;
	/* Start the writeback now; commit's fsync then mostly waits for what is done already. */
	(void)sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	return 0;
}

int atomic_file_commit(struct atomic_file *f, int flags, struct rp_err *err)
{
	if ((!(flags & RP_WRITE_NO_FSYNC) && fsync(f->fd) < 0) || close(f->fd) < 0) {
		f->fd = -1;
		rp_err_sys(err, "cannot write %s", f->tmp);
		atomic_file_abort(f);
		return -1;
	}
	f->fd = -1;
	if (rename(f->tmp, f->path) < 0) {
		rp_err_sys(err, "cannot rename %s to %s", f->tmp, f->path);
		atomic_file_abort(f);
		return -1;
	}
	if (!(flags & (RP_WRITE_NO_DIRSYNC | RP_WRITE_NO_FSYNC)))
		(void)fsync_parent_dir(f->path); /* best effort: the rename is already atomic */
	free(f->tmp);
	free(f->path);
	f->tmp = f->path = NULL;
	return 0;
}

void atomic_file_abort(struct atomic_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	free(f->path);
	f->tmp = f->path = NULL;
}

int write_file_atomic_flags(const char *path, const void *data, size_t len, mode_t mode, int flags,
			    struct rp_err *err)
{
	/* No writeback kick: the fsync follows at once, or (RP_WRITE_NO_FSYNC) never, and then an
	 * early write-out would only make the next journal commit (run.json's fsync) wait for it. */
	struct atomic_file f;
	if (atomic_file_create(&f, path, data, len, mode, err) < 0)
		return -1;
	return atomic_file_commit(&f, flags, err);
}

int read_fd_all(int fd, char **out, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int read_file(const char *path, char **out, size_t *len, struct rp_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "cannot open %s", path);
	int rc = read_fd_all(fd, out, len);
	if (rc < 0)
		rp_err_sys(err, "cannot read %s", path);
	close(fd);
	return rc;
}

char *read_first_line(const char *path)
{
	char *s;
	if (read_file(path, &s, NULL, NULL) < 0)
		return NULL;
	s[strcspn(s, "\n")] = '\0';
	return s;
}

int mkdir_p(const char *path, mode_t mode, struct rp_err *err)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rp_err_sys(err, "cannot create directory %s", p);
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = 0;
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		rc = rp_err_sys(err, "cannot create directory %s", p);
	free(p);
	return rc;
}

static int rm_rf_at(int parent_fd, const char *name, struct rp_err *err)
{
	if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return rp_err_sys(err, "cannot remove %s", name);
	int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return rp_err_sys(err, "cannot open %s", name);
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return rp_err_sys(err, "cannot list %s", name);
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (rm_rf_at(dirfd(d), de->d_name, err) < 0) {
			rc = -1;
			break;
		}
	}
	closedir(d);
	if (rc == 0 && unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = rp_err_sys(err, "cannot remove %s", name);
	return rc;
}

int rm_rf(const char *path, struct rp_err *err)
{
	return rm_rf_at(AT_FDCWD, path, err);
}

char *tmpdir_locked(const char *dir, const char *prefix, const char *lock_name, int *lock_fd, struct rp_err *err)
{
	char *p = xasprintf("%s/%s-XXXXXX", dir, prefix);
	*lock_fd = -1;
	if (!mkdtemp(p)) {
		rp_err_sys(err, "cannot create a temporary directory under %s", dir);
		free(p);
		return NULL;
	}
	char *lock = lock_name ? path_join(p, lock_name) : NULL;
	*lock_fd = lock ? open(lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)
			: open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*lock_fd < 0 || flock(*lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rp_err_sys(err, "cannot lock %s", lock ? lock : p);
		close_fd(lock_fd);
		if (lock)
			unlink(lock);
		rmdir(p);
		free(lock);
		free(p);
		return NULL;
	}
	free(lock);
	return p;
}

char *path_join(const char *a, const char *b)
{
	if (!a || !*a || b[0] == '/')
		return xstrdup(b);
	size_t la = strlen(a);
	return xasprintf("%s%s%s", a, a[la - 1] == '/' ? "" : "/", b);
}

/* Lexically normalise an absolute path: collapse //, ".", "..". */
static char *normalise_path(const char *abs)
{
	char *out = xmalloc(strlen(abs) + 2);
	size_t n = 0;
	const char *p = abs;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		if (len == 1 && p[0] == '.') {
			/* skip */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
		} else {
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p = end;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

char *path_absolute(const char *base, const char *p)
{
	char *joined;
	if (p[0] == '/') {
		joined = xstrdup(p);
	} else if (base) {
		joined = path_join(base, p);
	} else {
		char *cwd = getcwd(NULL, 0);
		joined = path_join(cwd ? cwd : "/", p);
		free(cwd);
	}
	char *norm = normalise_path(joined);
	free(joined);
	return norm;
}

bool path_exists(const char *p)
{
	return access(p, F_OK) == 0;
}

bool path_is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

double now_realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double now_monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void format_rfc3339(double epoch, char out[40])
{
	/* Four-digit years, as parse_rfc3339 reads them: the last millisecond of 9999 must not round
	 * into 10000, and nothing out of range (or not a number) reaches the conversions below. */
	if (!(epoch >= -62167219200.0))
		epoch = -62167219200.0;
	if (epoch > 253402300799.999)
		epoch = 253402300799.999;
	/* Round to the nearest millisecond: x.123 is stored as x.12299..., which truncation would
	 * print as x.122, so a parsed time would not come back as the same text. */
	long long total_ms = (long long)(epoch * 1000.0 + (epoch < 0 ? -0.5 : 0.5));
	time_t secs = (time_t)(total_ms / 1000);
	int ms = (int)(total_ms % 1000);
	if (ms < 0) {
		ms += 1000;
		secs -= 1;
	}
	struct tm tm;
	gmtime_r(&secs, &tm);
	char base[32];
	strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%03dZ", base, ms);
}

int parse_rfc3339(const char *s, double *epoch)
{
	struct tm tm = {0};
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -1;
	double frac = 0;
	if (*rest == '.') {
		/* digits only: strtod would take ".5e400" (an infinite time) */
		size_t digits = strspn(rest + 1, "0123456789");
		if (digits == 0)
			return -1;
		char buf[24];
		snprintf(buf, sizeof buf, "0.%.*s", (int)(digits < 20 ? digits : 20), rest + 1);
		frac = strtod(buf, NULL);
		rest += 1 + digits;
	}
	if (strcmp(rest, "Z") != 0)
		return -1;
	*epoch = (double)timegm(&tm) + frac;
	return 0;
}

char *current_boot_id(void)
{
	return read_first_line("/proc/sys/kernel/random/boot_id");
}

/* Fields of /proc/PID/stat after the ")" that ends the command name; NULL if unreadable. */
static char *proc_stat_fields(pid_t pid, char **buf)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_file(path, buf, NULL, NULL) < 0)
		return NULL;
	char *p = strrchr(*buf, ')');
	return p ? p + 2 : NULL;
}

unsigned long long process_start_ticks(pid_t pid)
{
	char *buf = NULL;
	char *f = proc_stat_fields(pid, &buf);
	unsigned long long ticks = 0;
	if (f) {
		/* f starts at field 3 (state); starttime is field 22. */
		for (int i = 3; i < 22 && f; i++) {
			f = strchr(f, ' ');
			if (f)
				f++;
		}
		if (f)
			ticks = strtoull(f, NULL, 10);
	}
	free(buf);
	return ticks;
}

bool process_alive(pid_t pid)
{
	char *buf = NULL;
	char *f = proc_stat_fields(pid, &buf);
	bool alive = f && *f != 'Z' && *f != 'X';
	free(buf);
	return alive;
}

int random_bytes(void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = getrandom((unsigned char *)buf + got, n - got, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)k;
	}
	return 0;
}

void uuid_v4(char out[37])
{
	unsigned char b[16];
	if (random_bytes(b, sizeof b) < 0) {
		/* getrandom cannot really fail here; fall back to time-seeded bytes */
		srandom((unsigned)(now_realtime() * 1e6) ^ (unsigned)getpid());
		for (size_t i = 0; i < sizeof b; i++)
			b[i] = (unsigned char)random();
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

bool name_looks_secret(const char *name)
{
	static const char *const words[] = {"TOKEN", "SECRET", "PASSWORD", "KEY"};
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strcasestr(name, words[i]))
			return true;
	return false;
}

bool value_has_credentials(const char *v)
{
	const char *s = strstr(v, "://");
	if (!s)
		return false;
	const char *at = strchr(s + 3, '@'), *colon = strchr(s + 3, ':'), *slash = strchr(s + 3, '/');
	return at && colon && colon < at && (!slash || at < slash);
}

bool env_looks_secret(const char *name, const char *value)
{
	return name_looks_secret(name) || (value && value_has_credentials(value));
}

int dl_load(const char *soname, const struct dl_sym *syms, size_t nsyms, char *why, size_t n)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, n, "%s is not installed", soname);
		return -1;
	}
	for (size_t i = 0; i < nsyms; i++) {
		*syms[i].fn = dlsym(h, syms[i].name);
		if (!*syms[i].fn) {
			snprintf(why, n, "%s lacks %s", soname, syms[i].name);
			return -1;
		}
	}
	return 0;
}

void spawnattr_clean_signals(posix_spawnattr_t *attr)
{
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(attr, &none);
	posix_spawnattr_setsigdefault(attr, &all);
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}
