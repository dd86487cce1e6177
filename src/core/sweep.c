/* Local parameter sweeps (sweep.h): the plan, then the runs, each in a child running run_execute. */
#include "sweep.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "run.h"

#define SWEEP_MAX_RUNS 100000
#define SEED_MAX UINT64_C(0xffffffff)   /* short to retype; JSON writes it as an integer */

/* ---- the PRNG: splitmix64 seeds xoshiro256** (Blackman & Vigna), fixed for a given seed ---- */

struct prng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void prng_seed(struct prng *p, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		p->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t prng_next(struct prng *p)
{
	uint64_t *s = p->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* [0, 1) with 53 random bits */
static double prng_unit(struct prng *p)
{
	return (double)(prng_next(p) >> 11) * 0x1.0p-53;
}

/* ---- the plan ---- */

enum pkind { P_FIXED, P_LIST, P_UNIFORM, P_LOGUNIFORM, P_INT, P_CHOICE };

struct pspec {
	char *key;
	enum pkind kind;
	struct strvec values;     /* P_FIXED (one), P_LIST, P_CHOICE */
	double lo, hi;            /* P_UNIFORM, P_LOGUNIFORM */
	long long ilo, ihi;       /* P_INT */
};

static const struct { const char *prefix; enum pkind kind; } range_kinds[] = {
	{"loguniform:", P_LOGUNIFORM}, {"uniform:", P_UNIFORM}, {"int:", P_INT}, {"choice:", P_CHOICE},
};

static int split_list(const char *arg, const char *list, struct strvec *out, struct rp_err *err)
{
	const char *p = list;
	for (;;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		if (!n)
			return rp_err_set(err, RP_ERR_USAGE, "--param '%s': an empty value in the list", arg);
		char *v = xstrndup(p, n);
		strvec_push(out, v);
		free(v);
		if (!c)
			return 0;
		p = c + 1;
	}
}

static bool parse_double(const char *s, size_t n, double *out)
{
	char *t = xstrndup(s, n), *end;
	errno = 0;
	*out = strtod(t, &end);
	bool ok = *t && !*end && !errno && isfinite(*out);
	free(t);
	return ok;
}

static bool parse_ll(const char *s, size_t n, long long *out)
{
	char *t = xstrndup(s, n), *end;
	errno = 0;
	*out = strtoll(t, &end, 10);
	bool ok = *t && !*end && !errno;
	free(t);
	return ok;
}

/* "A:B" of a range into its bounds */
static int parse_bounds(const char *arg, enum pkind kind, const char *r, struct pspec *p, struct rp_err *err)
{
	const char *colon = strchr(r, ':');
	bool ok = colon != NULL;
	if (ok && kind == P_INT)
		ok = parse_ll(r, (size_t)(colon - r), &p->ilo) && parse_ll(colon + 1, strlen(colon + 1), &p->ihi) &&
		     p->ilo <= p->ihi;
	else if (ok)
		ok = parse_double(r, (size_t)(colon - r), &p->lo) && parse_double(colon + 1, strlen(colon + 1), &p->hi) &&
		     p->lo < p->hi && (kind != P_LOGUNIFORM || p->lo > 0);
	if (ok)
		return 0;
	switch (kind) {
	case P_INT: return rp_err_set(err, RP_ERR_USAGE, "--param '%s': expected int:LOW:HIGH, integers with LOW <= HIGH", arg);
	case P_LOGUNIFORM:
		return rp_err_set(err, RP_ERR_USAGE, "--param '%s': expected loguniform:LOW:HIGH with 0 < LOW < HIGH", arg);
	default: return rp_err_set(err, RP_ERR_USAGE, "--param '%s': expected uniform:LOW:HIGH, numbers with LOW < HIGH", arg);
	}
}

static int parse_pspec(const char *arg, long nrandom, struct pspec *p, struct rp_err *err)
{
	memset(p, 0, sizeof *p);
	const char *eq = strchr(arg, '=');
	if (!eq) {   /* config_load says what is wrong with it */
		p->key = xstrdup(arg);
		strvec_push(&p->values, arg);
		return 0;
	}
	p->key = xstrndup(arg, (size_t)(eq - arg));
	const char *v = eq + 1;
	size_t n = strlen(v);
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"' && memchr(v + 1, ',', n - 2)) {
		strvec_pushf(&p->values, "%s=%.*s", p->key, (int)(n - 2), v + 1);
		return 0;
	}
	for (size_t i = 0; i < sizeof range_kinds / sizeof *range_kinds; i++) {
		size_t pl = strlen(range_kinds[i].prefix);
		if (strncmp(v, range_kinds[i].prefix, pl) != 0)
			continue;
		if (nrandom <= 0)
			return rp_err_set(err, RP_ERR_USAGE, "--param '%s': a range is drawn from by --random N", arg);
		p->kind = range_kinds[i].kind;
		if (p->kind == P_CHOICE)
			return split_list(arg, v + pl, &p->values, err);
		return parse_bounds(arg, p->kind, v + pl, p, err);
	}
	if (strchr(v, ',')) {
		if (nrandom > 0)
			return rp_err_set(err, RP_ERR_USAGE,
					  "--param '%s': a list does not mix with --random (use choice:%s to draw from it)", arg, v);
		p->kind = P_LIST;
		return split_list(arg, v, &p->values, err);
	}
	strvec_push(&p->values, arg);
	return 0;
}

/* A drawn float as text that reads back as a float within [lo, hi]. */
static void push_float(struct strvec *run, const char *key, double x, double lo, double hi)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%.6g", x);
	double back = strtod(buf, NULL);
	if (back > hi || back < lo)
		snprintf(buf, sizeof buf, "%.17g", x);
	if (!strpbrk(buf, ".eEn"))
		strcat(buf, ".0");
	strvec_pushf(run, "%s=%s", key, buf);
}

static void draw(struct strvec *run, const struct pspec *p, struct prng *g)
{
	uint64_t r;
	switch (p->kind) {
	case P_UNIFORM: push_float(run, p->key, p->lo + prng_unit(g) * (p->hi - p->lo), p->lo, p->hi); break;
	case P_LOGUNIFORM:
		push_float(run, p->key, exp(log(p->lo) + prng_unit(g) * (log(p->hi) - log(p->lo))), p->lo, p->hi);
		break;
	case P_INT:
		r = prng_next(g) % ((uint64_t)(p->ihi - p->ilo) + 1);
		strvec_pushf(run, "%s=%lld", p->key, (long long)((uint64_t)p->ilo + r));
		break;
	case P_CHOICE: strvec_pushf(run, "%s=%s", p->key, p->values.v[prng_next(g) % p->values.n]); break;
	default: break;
	}
}

static void fill_grid(struct sweep_plan *plan, const struct pspec *ps, size_t n)
{
	for (size_t i = 0; i < plan->size; i++) {
		size_t rest = i, div = plan->size;
		for (size_t k = 0; k < n; k++) {
			if (ps[k].kind != P_LIST) {
				strvec_push(&plan->runs[i], ps[k].values.v[0]);
				continue;
			}
			div /= ps[k].values.n;
			strvec_pushf(&plan->runs[i], "%s=%s", ps[k].key, ps[k].values.v[rest / div]);
			rest %= div;
		}
	}
}

static void fill_random(struct sweep_plan *plan, const struct pspec *ps, size_t n)
{
	struct prng g;
	prng_seed(&g, plan->seed);
	for (size_t i = 0; i < plan->size; i++)
		for (size_t k = 0; k < n; k++) {
			if (ps[k].kind == P_FIXED)
				strvec_push(&plan->runs[i], ps[k].values.v[0]);
			else
				draw(&plan->runs[i], &ps[k], &g);
		}
}

static uint64_t random_u64(void)
{
	uint64_t x = 0;
	if (getrandom(&x, sizeof x, 0) != (ssize_t)sizeof x)
		x = (uint64_t)(now_realtime() * 1e6) ^ (uint64_t)getpid();
	return x;
}

int sweep_plan_make(const char *const *params, size_t nparams, long nrandom, bool has_seed, uint64_t seed,
		    struct sweep_plan *plan, struct rp_err *err)
{
	memset(plan, 0, sizeof *plan);
	struct pspec *ps = xcalloc(nparams ? nparams : 1, sizeof *ps);
	int rc = -1;
	size_t size = nrandom > 0 ? (size_t)nrandom : 1, nranges = 0;
	for (size_t i = 0; i < nparams; i++) {
		if (parse_pspec(params[i], nrandom, &ps[i], err) < 0)
			goto out;
		if (ps[i].kind == P_FIXED)
			continue;
		nranges++;
		strvec_push(&plan->varying, ps[i].key);
		if (ps[i].kind == P_LIST) {
			if (size > SWEEP_MAX_RUNS / ps[i].values.n) {
				rp_err_set(err, RP_ERR_USAGE, "the grid has more than %d runs", SWEEP_MAX_RUNS);
				goto out;
			}
			size *= ps[i].values.n;
		}
	}
	if (nrandom > 0 && !nranges) {
		rp_err_set(err, RP_ERR_USAGE, "--random %ld: no --param to draw from (e.g. --param lr=loguniform:1e-4:1e-1)",
			   nrandom);
		goto out;
	}
	if (has_seed && seed > SEED_MAX) {
		rp_err_set(err, RP_ERR_USAGE, "--seed: at most %llu", (unsigned long long)SEED_MAX);
		goto out;
	}
	plan->is_sweep = nranges > 0;
	plan->seed = has_seed ? seed : random_u64() & SEED_MAX;
	snprintf(plan->id, sizeof plan->id, "sw_%08x", (unsigned)(random_u64() & 0xffffffffu));
	plan->size = size;
	plan->runs = xcalloc(size, sizeof *plan->runs);
	if (nrandom > 0)
		fill_random(plan, ps, nparams);
	else
		fill_grid(plan, ps, nparams);
	rc = 0;
out:
	for (size_t i = 0; i < nparams; i++) {
		free(ps[i].key);
		strvec_free(&ps[i].values);
	}
	free(ps);
	if (rc < 0)
		sweep_plan_free(plan);
	return rc;
}

void sweep_plan_free(struct sweep_plan *plan)
{
	for (size_t i = 0; plan->runs && i < plan->size; i++)
		strvec_free(&plan->runs[i]);
	free(plan->runs);
	strvec_free(&plan->varying);
	memset(plan, 0, sizeof *plan);
}

const char *sweep_plan_value(const struct sweep_plan *plan, size_t i, const char *key)
{
	size_t kl = strlen(key);
	for (size_t k = 0; k < plan->runs[i].n; k++) {
		const char *kv = plan->runs[i].v[k];
		if (!strncmp(kv, key, kl) && kv[kl] == '=')
			return kv + kl + 1;
	}
	return NULL;
}

/* ---- capacity ---- */

static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

static int host_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int sweep_capacity(int parallel, double cpus, uint64_t memory_bytes)
{
	int cap = parallel > 0 ? parallel : 1;
	double per = cpus > 0 ? cpus : 1;
	int by_cpu = (int)floor(host_cpus() / per + 1e-9);
	if (by_cpu < cap)
		cap = by_cpu;
	if (memory_bytes) {
		uint64_t avail = mem_available();
		if (avail) {
			uint64_t by_mem = avail / memory_bytes;
			if (by_mem < (uint64_t)cap)
				cap = (int)by_mem;
		}
	}
	return cap > 0 ? cap : 1;
}

/* ---- one run, in a child ---- */

struct child_ctx {
	int fd;
};

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...)
{
	char buf[1200];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof buf - 2)
		n = (int)sizeof buf - 2;
	for (int i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[n++] = '\n';
	/* the sweep reads every line; a short write only loses the line (the run is recorded anyway) */
	if (write(fd, buf, (size_t)n) < 0)
		return;
}

static void child_started(void *ctx, const char *id, const char *runner, const char *fallback)
{
	(void)runner;
	(void)fallback;
	report(((struct child_ctx *)ctx)->fd, "S %s", id);
}

static void child_warning(void *ctx, const char *msg)
{
	(void)ctx;
	rp_log(RP_LOG_WARNING, "%s", msg);
}

static void child_ended(void *ctx, const struct rp_run *r, int exit_code)
{
	(void)exit_code;
	report(((struct child_ctx *)ctx)->fd, "E %s %s %.3f", r->id, status_name(r->status),
	       r->duration_s >= 0 ? r->duration_s : 0.0);
}

static cJSON *sweep_section(const struct sweep_plan *plan, size_t i)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", plan->id);
	cJSON_AddNumberToObject(o, "seed", (double)plan->seed);
	cJSON_AddNumberToObject(o, "index", (double)(i + 1));
	cJSON_AddNumberToObject(o, "size", (double)plan->size);
	return o;
}

static void run_child(const struct sweep_plan *plan, size_t i, const struct sweep_request *req, int fd)
{
	struct rp_overrides ov = *req->base;
	struct strvec *params = &plan->runs[i];
	ov.params = (const char **)strvec_items(params);
	ov.nparams = params->n;
	struct rp_spec spec;
	struct rp_err err = {0};
	struct child_ctx cc = {fd};
	if (config_load(req->config_path, &ov, &spec, &err) < 0) {
		report(fd, "X %s", err.msg);
		_exit(2);
	}
	cJSON *sw = sweep_section(plan, i);
	struct run_request rr = {.spec = &spec, .overrides = &ov, .runner = req->runner,
				 .output_fd = req->stream ? STDOUT_FILENO : -1, .kill_grace_s = req->kill_grace_s,
				 .sweep = sw};
	static const struct run_events events = {.started = child_started, .warning = child_warning,
						 .ended = child_ended};
	struct run_events ev = events;
	ev.ctx = &cc;
	struct run_outcome out;
	if (run_execute(&rr, &ev, &out, &err) < 0) {
		report(fd, "X %s", err.msg);
		_exit(1);
	}
	_exit(out.exit_code & 0xff);
}

/* ---- the scheduler ---- */

struct slot {
	pid_t pid;                /* 0: free */
	int fd;                   /* -1 after EOF */
	size_t idx;
	bool reaped;
	int wstatus;
	char id[RP_ID_MAX], status[32], msg[1024];
	double duration;
	char buf[1200];
	size_t blen;
};

struct sched {
	const struct sweep_plan *plan;
	const struct sweep_request *req;
	const struct sweep_events *ev;
	struct sweep_outcome *out;
	struct slot *slots;
	int nslots, running, sfd;
	sigset_t old_mask;
};

static void child_setup(struct sched *s, int wfd)
{
	close(s->sfd);
	for (int k = 0; k < s->nslots; k++)
		if (s->slots[k].pid && s->slots[k].fd >= 0)
			close(s->slots[k].fd);
	/* only the sweep takes the terminal's Ctrl-C; it forwards it to each run once */
	setpgid(0, 0);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		close(null);
	}
	sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
	(void)wfd;
}

static int start_one(struct sched *s, size_t idx, struct rp_err *err)
{
	struct slot *sl = NULL;
	for (int k = 0; k < s->nslots && !sl; k++)
		if (!s->slots[k].pid)
			sl = &s->slots[k];
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return rp_err_sys(err, "cannot create a pipe for a sweep run");
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return rp_err_sys(err, "cannot start a sweep run");
	}
	if (pid == 0) {
		close(p[0]);
		child_setup(s, p[1]);
		run_child(s->plan, idx, s->req, p[1]);
	}
	close(p[1]);
	memset(sl, 0, sizeof *sl);
	sl->pid = pid;
	sl->fd = p[0];
	sl->idx = idx;
	s->running++;
	s->out->started++;
	return 0;
}

static void take_line(struct sched *s, struct slot *sl, char *line)
{
	char id[RP_ID_MAX], status[32];
	double dur;
	if (line[0] == 'S' && line[1] == ' ') {
		snprintf(sl->id, sizeof sl->id, "%s", line + 2);
		if (s->ev->started)
			s->ev->started(s->ev->ctx, sl->idx, sl->id);
	} else if (line[0] == 'E' && sscanf(line, "E %15s %31s %lf", id, status, &dur) == 3) {
		snprintf(sl->id, sizeof sl->id, "%s", id);
		snprintf(sl->status, sizeof sl->status, "%s", status);
		sl->duration = dur;
	} else if (line[0] == 'X' && line[1] == ' ') {
		snprintf(sl->msg, sizeof sl->msg, "%s", line + 2);
	}
}

static void read_slot(struct sched *s, struct slot *sl)
{
	ssize_t n = read(sl->fd, sl->buf + sl->blen, sizeof sl->buf - 1 - sl->blen);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(sl->fd);
		sl->fd = -1;
		return;
	}
	sl->blen += (size_t)n;
	sl->buf[sl->blen] = 0;
	char *nl;
	while ((nl = strchr(sl->buf, '\n'))) {
		*nl = 0;
		take_line(s, sl, sl->buf);
		size_t used = (size_t)(nl + 1 - sl->buf);
		memmove(sl->buf, nl + 1, sl->blen - used + 1);
		sl->blen -= used;
	}
	if (sl->blen == sizeof sl->buf - 1)
		sl->blen = 0;   /* a line too long to be ours */
}

static void finish_slot(struct sched *s, struct slot *sl)
{
	if (!sl->status[0]) {
		snprintf(sl->status, sizeof sl->status, "error");
		if (!sl->msg[0]) {
			if (WIFSIGNALED(sl->wstatus))
				snprintf(sl->msg, sizeof sl->msg, "its supervisor was killed by %s", strsignal(WTERMSIG(sl->wstatus)));
			else
				snprintf(sl->msg, sizeof sl->msg, "its supervisor exited with status %d", WEXITSTATUS(sl->wstatus));
		}
	}
	if (!strcmp(sl->status, "success"))
		s->out->succeeded++;
	else if (!strcmp(sl->status, "cancelled"))
		s->out->cancelled++;
	else
		s->out->failed++;
	if (s->ev->ended)
		s->ev->ended(s->ev->ctx, sl->idx, sl->id, sl->status, sl->duration, sl->msg[0] ? sl->msg : NULL);
	sl->pid = 0;
	s->running--;
}

static void reap(struct sched *s)
{
	for (int k = 0; k < s->nslots; k++) {
		struct slot *sl = &s->slots[k];
		if (sl->pid && !sl->reaped && waitpid(sl->pid, &sl->wstatus, WNOHANG) == sl->pid)
			sl->reaped = true;
	}
}

static void forward(struct sched *s, int sig)
{
	for (int k = 0; k < s->nslots; k++)
		if (s->slots[k].pid && !s->slots[k].reaped)
			kill(s->slots[k].pid, sig);
}

static void take_signals(struct sched *s)
{
	struct signalfd_siginfo si;
	while (read(s->sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		int sig = (int)si.ssi_signo;
		if (sig == SIGINT || sig == SIGTERM) {
			if (!s->out->signal)
				s->out->signal = sig;
			forward(s, sig);
		}
	}
	reap(s);
}

/* Wait for something: a signal, a child's report or its end. */
static void wait_once(struct sched *s)
{
	struct pollfd pf[s->nslots + 1];
	struct slot *owner[s->nslots + 1];
	int n = 0;
	pf[n++] = (struct pollfd){.fd = s->sfd, .events = POLLIN};
	owner[0] = NULL;
	for (int k = 0; k < s->nslots; k++)
		if (s->slots[k].pid && s->slots[k].fd >= 0) {
			owner[n] = &s->slots[k];
			pf[n++] = (struct pollfd){.fd = s->slots[k].fd, .events = POLLIN};
		}
	if (poll(pf, (nfds_t)n, 1000) > 0) {
		if (pf[0].revents)
			take_signals(s);
		for (int k = 1; k < n; k++)
			if (pf[k].revents)
				read_slot(s, owner[k]);
	}
	reap(s);
	for (int k = 0; k < s->nslots; k++)
		if (s->slots[k].pid && s->slots[k].reaped && s->slots[k].fd < 0)
			finish_slot(s, &s->slots[k]);
}

int sweep_execute(const struct sweep_plan *plan, const struct sweep_request *req, const struct sweep_events *ev,
		  struct sweep_outcome *out, struct rp_err *err)
{
	memset(out, 0, sizeof *out);
	struct sched s = {.plan = plan, .req = req, .ev = ev, .out = out, .nslots = req->capacity > 0 ? req->capacity : 1};
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &mask, &s.old_mask) < 0)
		return rp_err_sys(err, "cannot block signals for the sweep");
	s.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sfd < 0) {
		rp_err_sys(err, "cannot watch signals for the sweep");
		sigprocmask(SIG_SETMASK, &s.old_mask, NULL);
		return -1;
	}
	s.slots = xcalloc((size_t)s.nslots, sizeof *s.slots);
	size_t next = 0;
	int rc = 0;
	for (;;) {
		while (!out->signal && rc == 0 && next < plan->size && s.running < s.nslots) {
			if (start_one(&s, next, err) < 0) {
				rc = -1;
				forward(&s, SIGTERM);
				break;
			}
			next++;
		}
		if (!s.running)
			break;
		wait_once(&s);
	}
	out->never_started = plan->size - out->started;
	free(s.slots);
	close(s.sfd);
	/* signals that came after the last run ended stay pending: they only cancelled the sweep */
	struct timespec zero = {0, 0};
	int sig;
	while ((sig = sigtimedwait(&mask, NULL, &zero)) > 0)
		if (sig != SIGCHLD && !out->signal)
			out->signal = sig;
	sigprocmask(SIG_SETMASK, &s.old_mask, NULL);
	return rc;
}

int sweep_submit(const struct sweep_plan *plan, const struct sweep_request *req, long parallel,
		 char (*ids)[RP_ID_MAX], char **job_id, struct rp_err *err)
{
	size_t n = plan->size, loaded = 0;
	struct rp_overrides *ovs = xcalloc(n, sizeof *ovs);
	struct rp_spec *specs = xcalloc(n, sizeof *specs);
	struct run_request *reqs = xcalloc(n, sizeof *reqs);
	int rc = 0;
	for (; loaded < n; loaded++) {
		size_t i = loaded;
		ovs[i] = *req->base;
		ovs[i].params = (const char **)strvec_items(&plan->runs[i]);
		ovs[i].nparams = plan->runs[i].n;
		if ((rc = config_load(req->config_path, &ovs[i], &specs[i], err)) < 0)
			break;
		reqs[i] = (struct run_request){.spec = &specs[i], .overrides = &ovs[i], .runner = "slurm",
					       .sweep = sweep_section(plan, i), .array_parallel = parallel};
	}
	if (rc == 0)
		rc = run_submit(reqs, n, NULL, ids, job_id, err);
	for (size_t i = 0; i < loaded; i++) {
		cJSON_Delete((cJSON *)reqs[i].sweep);
		config_free(&specs[i]);
	}
	free(reqs);
	free(specs);
	free(ovs);
	return rc;
}
