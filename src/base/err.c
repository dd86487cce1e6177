#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int rp_err_set(struct rp_err *e, int kind, const char *fmt, ...)
{
	if (!e)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	e->kind = kind;
	e->sys_errno = 0;
	return -1;
}

int rp_err_sys(struct rp_err *e, const char *fmt, ...)
{
	int saved = errno;
	if (!e)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof e->msg)
		snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(saved));
	e->kind = RP_ERR_RUNTIME;
	e->sys_errno = saved;
	errno = saved;
	return -1;
}

int rp_err_wrap(struct rp_err *e, const char *fmt, ...)
{
	if (!e)
		return -1;
	char prefix[512], old[sizeof e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	/* prefix + ": " + old, truncated to fit */
	size_t n = strlen(prefix);
	if (n > sizeof e->msg - 3)
		n = sizeof e->msg - 3;
	memcpy(e->msg, prefix, n);
	memcpy(e->msg + n, ": ", 2);
	n += 2;
	size_t rest = strnlen(old, sizeof old);
	if (rest > sizeof e->msg - 1 - n)
		rest = sizeof e->msg - 1 - n;
	memcpy(e->msg + n, old, rest);
	e->msg[n + rest] = '\0';
	if (!e->kind)
		e->kind = RP_ERR_RUNTIME;
	return -1;
}

int rp_err_exit_code(const struct rp_err *e)
{
	return e->kind == RP_ERR_USAGE ? 2 : 1;
}
