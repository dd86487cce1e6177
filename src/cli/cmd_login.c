/* runpilot login URL | logout URL: an API token of the team server, asked for with a name and
 * password and kept in $RUNPILOT_HOME/credentials (src/server/client.c). The token is never
 * printed. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmds.h"
#include "server.h"
#include "store.h"
#include "util.h"

const char usage_login[] =
	"usage: runpilot login URL [--name NAME] [--password-stdin]\n"
	"\n"
	"Log in to the team server at URL (http(s)://HOST:PORT, as `runpilot server` printed it) and\n"
	"keep an API token for it in $RUNPILOT_HOME/credentials (mode 0600; never printed).\n"
	"RUNPILOT_TOKEN, when set, is used instead of the kept token.\n"
	"  --name NAME       the account (else asked on the terminal)\n"
	"  --password-stdin  read the password from stdin's first line (else asked without echo)\n";

const char usage_logout[] =
	"usage: runpilot logout URL\n"
	"\n"
	"Revoke the API token kept for URL on the server, and forget it.\n";

/* URL and the options; the URL must be http(s)://. */
static int parse(int argc, char **argv, bool login, const char **url, const char **name, bool *pw_stdin,
		 struct rp_err *err)
{
	static const struct option longopts[] = {{"name", required_argument, NULL, 'n'},
						 {"password-stdin", no_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
	const char *form = login ? "runpilot login URL [--name NAME] [--password-stdin]" : "runpilot logout URL";
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		if (!login || c == '?' || c == ':')
			return rp_err_set(err, RP_ERR_USAGE, "bad option '%s' (usage: %s)", argv[optind - 1], form);
		if (c == 'n')
			*name = optarg;
		else
			*pw_stdin = true;
	}
	if (argc - optind != 1)
		return rp_err_set(err, RP_ERR_USAGE, "usage: %s", form);
	*url = argv[optind];
	if (strncmp(*url, "http://", 7) && strncmp(*url, "https://", 8))
		return rp_err_set(err, RP_ERR_USAGE, "'%s' is not a server URL: give http(s)://HOST:PORT", *url);
	return 0;
}

static char *ask_name(struct rp_err *err)
{
	FILE *tty = fopen("/dev/tty", "r+e");
	if (!tty) {
		rp_err_set(err, RP_ERR_USAGE, "no terminal to ask the account on: give --name NAME");
		return NULL;
	}
	fputs("Name: ", tty);
	fflush(tty);
	char *line = NULL;
	size_t n = 0;
	ssize_t len = getline(&line, &n, tty);
	fclose(tty);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (len <= 0) {
		free(line);
		rp_err_set(err, RP_ERR_USAGE, "no account name given");
		return NULL;
	}
	return line;
}

/* The server's {"error": ...}, or the status. */
static int answer_error(const char *url, long status, const char *answer, struct rp_err *err)
{
	cJSON *j = cJSON_Parse(answer);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
	rp_err_set(err, RP_ERR_RUNTIME, "%s answered %ld: %s", url, status,
		   cJSON_IsString(e) ? e->valuestring : "(no message)");
	cJSON_Delete(j);
	return -1;
}

int cmd_login(int argc, char **argv, struct rp_err *err)
{
	const char *url = NULL, *name_opt = NULL;
	bool pw_stdin = false;
	if (parse(argc, argv, true, &url, &name_opt, &pw_stdin, err) < 0)
		return -1;
	struct rp_store st = {0};
	if (store_open(&st, true, err) < 0)
		return -1;
	char *name = name_opt ? xstrdup(name_opt) : ask_name(err);
	char *password = name ? ask_password(pw_stdin, err) : NULL;
	int rc = -1;
	if (!password)
		goto out;
	char host[256] = "";
	if (gethostname(host, sizeof host - 1) < 0)
		snprintf(host, sizeof host, "?");
	char *token_name = xasprintf("runpilot login on %s", host);
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "name", name);
	cJSON_AddStringToObject(body, "password", password);
	cJSON_AddStringToObject(body, "token_name", token_name);
	free(token_name);
	char *text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	long status = 0;
	char *answer = NULL;
	rc = srv_client_call("POST", url, "/api/v1/login", NULL, text, &status, &answer, err);
	memset(text, 0, strlen(text));
	free(text);
	if (rc < 0)
		goto out;
	rc = -1;
	cJSON *j = cJSON_Parse(answer);
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(j, "token");
	if (status != 201 || !cJSON_IsString(tok))
		answer_error(url, status, answer, err);
	else if (srv_cred_set(st.home, url, name, tok->valuestring, err) == 0)
		rc = 0;
	if (cJSON_IsString(tok))
		memset(tok->valuestring, 0, strlen(tok->valuestring));
	cJSON_Delete(j);
	free(answer);
	if (rc == 0)
		printf("logged in to %s as %s (the token is kept in %s/credentials)\n", url, name, st.home);
out:
	if (password)
		memset(password, 0, strlen(password));
	free(password);
	free(name);
	store_close(&st);
	return rc;
}

int cmd_logout(int argc, char **argv, struct rp_err *err)
{
	const char *url = NULL, *name = NULL;
	bool pw_stdin = false;
	if (parse(argc, argv, false, &url, &name, &pw_stdin, err) < 0)
		return -1;
	struct rp_store st = {0};
	if (store_open(&st, true, err) < 0)
		return -1;
	int rc = -1;
	char *token = srv_cred_token(st.home, url, err);
	if (!token)
		goto out;
	long status = 0;
	char *answer = NULL;
	if (srv_client_call("POST", url, "/api/v1/logout", token, NULL, &status, &answer, err) < 0)
		goto out;
	/* 401: the token was revoked or expired already; it is forgotten all the same */
	if (status != 204 && status != 401)
		answer_error(url, status, answer, err);
	else if (srv_cred_set(st.home, url, NULL, NULL, err) == 0)
		rc = 0;
	free(answer);
	if (rc == 0)
		printf("logged out of %s\n", url);
out:
	if (token)
		memset(token, 0, strlen(token));
	free(token);
	store_close(&st);
	return rc;
}
