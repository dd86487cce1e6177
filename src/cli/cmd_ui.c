/* runpilot ui: the web UI over the run store (docs/ui.md). Prints its URL, serves until Ctrl-C or
 * SIGTERM, then stops cleanly. The server is the web layer's (include/web.h); the data comes
 * through a ui_source (include/ui_source.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cmds.h"
#include "ui_source.h"
#include "util.h"
#include "web.h"

extern char **environ;

const char usage_ui[] =
	"usage: runpilot ui [--port N] [--listen ADDR] [--open]\n"
	"\n"
	"Serve a web UI over the run store: the runs table with --where queries, a run's charts, log\n"
	"and outputs, and runs compared side by side. Prints one line with the URL, which carries a\n"
	"random token (other users of the machine can reach the port, not the runs); Ctrl-C stops it.\n"
	"The UI reads runs as list and show do; the one change it makes is tags and notes.\n"
	"\n"
	"  --port N       the port (default 7007, else the next free one up to 7027); a port given\n"
	"                 that is taken is an error; 0: any free port\n"
	"  --listen ADDR  the address to serve on (default 127.0.0.1); another than the loopback lets\n"
	"                 anyone on that network with the URL read the runs (a warning says so)\n"
	"  --open         open the URL in a browser (xdg-open)\n";

#define USAGE_LINE "runpilot ui [--port N] [--listen ADDR] [--open]"

struct ui_opts {
	struct web_options web;
	bool open;
};

static int parse_args(int argc, char **argv, struct ui_opts *o, struct rp_err *err)
{
	static const struct option longopts[] = {{"port", required_argument, NULL, 'p'},
						 {"listen", required_argument, NULL, 'l'},
						 {"open", no_argument, NULL, 'o'},
						 {NULL, 0, NULL, 0}};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': {
			char *end;
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 0 || v > 65535)
				return rp_err_set(err, RP_ERR_USAGE, "--port '%s': give a port from 0 to 65535", optarg);
			o->web.port = (int)v;
			o->web.port_explicit = true;
			break;
		}
		case 'l': o->web.listen = optarg; break;
		case 'o': o->open = true; break;
		case ':':
			return rp_err_set(err, RP_ERR_USAGE, "option '%s' needs a value (usage: " USAGE_LINE ")",
					  argv[optind - 1]);
		default:
			return rp_err_set(err, RP_ERR_USAGE, "unknown option '%s' (see `runpilot ui --help`)",
					  argv[optind - 1]);
		}
	}
	if (optind < argc)
		return rp_err_set(err, RP_ERR_USAGE, "unexpected argument '%s' (usage: " USAGE_LINE ")", argv[optind]);
	return 0;
}

/* An address other than the loopback (one that is no address at all the web layer refuses). */
static bool is_open_address(const char *addr)
{
	struct in_addr v4;
	struct in6_addr v6;
	if (inet_pton(AF_INET, addr, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) != 127;
	return inet_pton(AF_INET6, addr, &v6) == 1 && !IN6_IS_ADDR_LOOPBACK(&v6);
}

/* xdg-open URL in a child, reaped when SIGCHLD comes; 0 when there is none to start. */
static pid_t open_browser(const char *url)
{
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	spawnattr_clean_signals(&attr);
	pid_t pid;
	char *argv[] = {"xdg-open", (char *)url, NULL};
	int rc = posix_spawnp(&pid, "xdg-open", NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	if (rc) {
		fprintf(stderr, "runpilot: warning: cannot open a browser (xdg-open: %s): open the URL yourself\n",
			strerror(rc));
		return 0;
	}
	return pid;
}

static void reap_browser(pid_t *pid, int flags)
{
	int status;
	if (*pid <= 0 || waitpid(*pid, &status, flags) != *pid)
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fprintf(stderr, "runpilot: warning: xdg-open could not open the URL: open it yourself\n");
	*pid = 0;
}

/* Serve until SIGINT or SIGTERM (blocked, so that the server's threads never take them). */
static void serve(const sigset_t *sigs, pid_t *browser)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(sigs, &si);
		if (sig < 0)
			continue;
		if (sig == SIGCHLD) {
			reap_browser(browser, WNOHANG);
			continue;
		}
		return;
	}
}

int cmd_ui(int argc, char **argv, struct rp_err *err)
{
	struct ui_opts o = {0};
	if (parse_args(argc, argv, &o, err) < 0)
		return -1;
	if (o.web.listen && is_open_address(o.web.listen))
		fprintf(stderr, "runpilot: warning: serving on %s: anyone on that network with the URL can read the runs\n",
			o.web.listen);
	sigset_t sigs, old;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGCHLD);
	signal(SIGPIPE, SIG_IGN); /* a client gone while its file is sent */
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	struct ui_source *src = NULL;
	struct web_server *srv = NULL;
	if (ui_source_local_open(&src, err) < 0 || web_start(src, &o.web, &srv, err) < 0) {
		if (src)
			src->ops->close(src);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	printf("runpilot ui: %s   (Ctrl-C stops it)\n", web_url(srv));
	fflush(stdout);
	pid_t browser = o.open ? open_browser(web_url(srv)) : 0;
	serve(&sigs, &browser);
	web_stop(srv);
	src->ops->close(src);
	reap_browser(&browser, WNOHANG);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}
