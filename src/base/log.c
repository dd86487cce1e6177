/* log.h: the sink the face installs, traces, and the two messages that cannot go through it. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util.h"

static rp_log_sink *log_sink;

void rp_log_set_sink(rp_log_sink *sink)
{
	log_sink = sink;
}

void rp_log(enum rp_log_level level, const char *fmt, ...)
{
	if (!log_sink)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_sink(level, msg);
}

static double trace_t0 = -1;

void trace_start(void)
{
	const char *v = getenv("RUNPILOT_TRACE_TIMES");
	if (v && *v && strcmp(v, "0") != 0)
		trace_t0 = now_monotonic();
}

void trace_phase(const char *what)
{
	if (trace_t0 < 0)
		return;
	/* runpilot's own CPU so far (its children's not counted): what capturing costs, apart
	 * from the job */
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		memset(&ru, 0, sizeof ru);
	rp_log(RP_LOG_TRACE, "%8.3f ms  %s  (own cpu: user %.3f s, system %.3f s)", (now_monotonic() - trace_t0) * 1000,
	       what, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
}

void job_say(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "runpilot: %s\n", msg);
}

void rp_log_out_of_memory(void)
{
	static const char msg[] = "runpilot: fatal: out of memory\n";
	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	abort();
}
