/* Base helpers used by every layer: memory, strings, files, time. */
#ifndef RP_UTIL_H
#define RP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* Allocation failure is not an error we can report usefully: abort like git's xmalloc. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable NULL-terminated vector of owned strings (argv, envp, lists). */
struct strvec {
	char **v;
	size_t n, cap;
};
void strvec_push(struct strvec *sv, const char *s);
void strvec_pushf(struct strvec *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strvec_free(struct strvec *sv);
/* Levenshtein distance of a[0..na) and b[0..nb), ignoring case ("did you mean"): large (99)
 * for strings over 64 bytes. */
size_t edit_distance(const char *a, size_t na, const char *b, size_t nb);
/* The items joined with sep, as a new string ("" when empty). */
char *strvec_join(const struct strvec *sv, const char *sep);
/* Never NULL: an empty vector gives a pointer to a NULL entry. */
char **strvec_items(struct strvec *sv);

/* Files. */
/* Write data to path atomically: temp file in the same dir, fsync, rename, fsync dir. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct rp_err *err);
/* The same with some syncs left out, for files whose durability another write provides:
 * RP_WRITE_NO_DIRSYNC skips the directory fsync (a later fsync of the same directory makes the
 * rename durable); RP_WRITE_NO_FSYNC also skips the file's (caches, which may be lost). */
enum { RP_WRITE_NO_DIRSYNC = 1, RP_WRITE_NO_FSYNC = 2 };
/* write_file_atomic_flags in two steps, so the device works while the caller does: begin
 * writes the temp file and starts its writeback; commit fsyncs it (short by then), renames it
 * into place and fsyncs the directory, as flags say. A failed step cleans up after itself;
 * abort drops a begun file. */
struct atomic_file {
	char *path, *tmp;
	int fd;
};
int atomic_file_begin(struct atomic_file *f, const char *path, const void *data, size_t len, mode_t mode,
		      struct rp_err *err);
int atomic_file_commit(struct atomic_file *f, int flags, struct rp_err *err);
void atomic_file_abort(struct atomic_file *f);
/* Close *fd if open and set it to -1. */
void close_fd(int *fd);
/* fsync(2) a file (or directory) by path; -1 with errno. */
int fsync_path(const char *path);
int write_file_atomic_flags(const char *path, const void *data, size_t len, mode_t mode, int flags,
			    struct rp_err *err);
/* Read a whole file; *out is NUL-terminated, *len (optional) excludes the NUL. */
int read_file(const char *path, char **out, size_t *len, struct rp_err *err);
/* Read fd to EOF into a NUL-terminated buffer (caller frees); -1 with errno. */
int read_fd_all(int fd, char **out, size_t *len);
/* Read a small file's first line without the newline; NULL on any failure. */
char *read_first_line(const char *path);
int mkdir_p(const char *path, mode_t mode, struct rp_err *err);
/* Remove a directory tree (no symlink following). */
int rm_rf(const char *path, struct rp_err *err);
/* A new directory dir/prefix-XXXXXX (mkdtemp), held with flock for as long as *lock_fd stays open
 * so a cleaner removes only unheld ones (a dead process's). lock_name NULL: the directory itself
 * is locked; else a file of that name made inside it. The path, or NULL with err. */
char *tmpdir_locked(const char *dir, const char *prefix, const char *lock_name, int *lock_fd, struct rp_err *err);
char *path_join(const char *a, const char *b);
/* Absolute, normalised (no symlink resolution needed) path of p relative to base. */
char *path_absolute(const char *base, const char *p);
bool path_exists(const char *p);
bool path_is_dir(const char *p);
/* write(2) all of buf, retrying on EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);

/* Time. */
double now_realtime(void);   /* seconds since the epoch */
double now_monotonic(void);
/* RFC 3339 UTC with milliseconds: 2026-11-28T18:30:01.123Z */
void format_rfc3339(double epoch, char out[40]);
int parse_rfc3339(const char *s, double *epoch);

/* Machine facts. */
char *current_boot_id(void);            /* /proc/sys/kernel/random/boot_id, or NULL */
/* Start time of pid in clock ticks since boot (field 22 of /proc/pid/stat); 0 if unknown. */
unsigned long long process_start_ticks(pid_t pid);
/* True when pid exists and is not a zombie. */
bool process_alive(pid_t pid);
/* n bytes from the kernel's random source (getrandom, EINTR retried): 0, or -1 with errno. */
int random_bytes(void *buf, size_t n);
/* Version 4 UUID from getrandom(2), formatted 8-4-4-4-12. */
void uuid_v4(char out[37]);

/* Libraries loaded only where they are needed (libgit2, libarchive, libcurl): their start-up and
 * dependencies would cost every run. One function to look up by name. */
struct dl_sym {
	void **fn;
	const char *name;
};
/* A child spawned by a process that blocks or ignores signals (the supervisor does) starts clean:
 * no signal blocked, every one at its default. */
#include <spawn.h>
void spawnattr_clean_signals(posix_spawnattr_t *attr);

/* dlopen soname and fill every syms[i].fn: 0, or -1 with why (size n) saying which part is
 * missing ("not installed", "lacks NAME"). */
int dl_load(const char *soname, const struct dl_sym *syms, size_t nsyms, char *why, size_t n);

/* Secret-looking environment/config names: *TOKEN*, *SECRET*, *PASSWORD*, *KEY* (case-insensitive). */
bool name_looks_secret(const char *name);
/* Values that carry a credential whatever their name: URLs with user:password@. */
bool value_has_credentials(const char *value);
/* Either of the two: what run.json and config.yaml never store in clear. */
bool env_looks_secret(const char *name, const char *value);

#endif
