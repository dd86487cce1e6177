/* The one way code below the face reaches the terminal. The face installs a sink at start
 * (main.c); without one, messages are dropped. Lifecycle progress goes through run.h's events
 * instead; this is for what has no caller to return to (warnings deep in a walk, traces). */
#ifndef RP_LOG_H
#define RP_LOG_H

enum rp_log_level {
	RP_LOG_WARNING,  /* something the user should know; the work goes on */
	RP_LOG_TRACE,    /* RUNPILOT_TRACE_TIMES=1: one line per phase, with the time since start */
};

typedef void rp_log_sink(enum rp_log_level level, const char *msg);
void rp_log_set_sink(rp_log_sink *sink);
void rp_log(enum rp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* RUNPILOT_TRACE_TIMES=1: trace_phase() sends one trace line per phase of a command, with the
 * milliseconds since trace_start() (called first thing in main) and runpilot's own CPU time so
 * far. For benchmarks and bug reports. */
void trace_start(void);
void trace_phase(const char *what);

/* In a job's own process, once its stdout and stderr are the job's output: one line on its
 * stderr (so it lands in logs.txt), "runpilot: " and the message. */
void job_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Allocation failed: a fixed line on stderr, then abort (no allocation, no sink). */
__attribute__((__noreturn__)) void rp_log_out_of_memory(void);

#endif
