/* pq_api.c: libpq found by its soname at first use (pq_api.h). */
#include <pthread.h>
#include <stdio.h>

#include "pq_api.h"
#include "util.h"

#ifndef LIBPQ_SONAME
#define LIBPQ_SONAME "libpq.so"
#endif

#define SYM(field, name) { (void **)&api.field, #name }

static struct rp_pq_api api;
static pthread_once_t api_once = PTHREAD_ONCE_INIT;
static int api_state; /* 1 ready, -1 unavailable */
static char api_error[256];

static void load_api(void)
{
	const struct dl_sym syms[] = {
		SYM(connectdb_params, PQconnectdbParams),
		SYM(conninfo_parse, PQconninfoParse),
		SYM(conninfo_free, PQconninfoFree),
		SYM(status, PQstatus),
		SYM(error_message, PQerrorMessage),
		SYM(set_notice_processor, PQsetNoticeProcessor),
		SYM(exec_params, PQexecParams),
		SYM(result_status, PQresultStatus),
		SYM(result_error_field, PQresultErrorField),
		SYM(getvalue, PQgetvalue),
		SYM(getisnull, PQgetisnull),
		SYM(ntuples, PQntuples),
		SYM(nfields, PQnfields),
		SYM(clear, PQclear),
		SYM(finish, PQfinish),
		SYM(freemem, PQfreemem),
	};
	api_state = dl_load(LIBPQ_SONAME, syms, sizeof syms / sizeof *syms, api_error, sizeof api_error) < 0 ? -1 : 1;
}

const struct rp_pq_api *rp_pq(struct rp_err *err)
{
	pthread_once(&api_once, load_api);
	if (api_state < 0) {
		rp_err_set(err, RP_ERR_RUNTIME, "%s (install libpq: apt-get install libpq5)", api_error);
		return NULL;
	}
	return &api;
}
