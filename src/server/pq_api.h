/* libpq (Debian's libpq-dev), loaded with dlopen on first use: the commands that talk to no
 * PostgreSQL (every one but `server`) do not pay for loading it and its dependencies. Its header
 * gives the types and prototypes only. */
#ifndef RP_SERVER_PQ_API_H
#define RP_SERVER_PQ_API_H

#include <postgresql/libpq-fe.h>

#include "err.h"

struct rp_pq_api {
	__typeof__(PQconnectdbParams) *connectdb_params;
	__typeof__(PQconninfoParse) *conninfo_parse;
	__typeof__(PQconninfoFree) *conninfo_free;
	__typeof__(PQstatus) *status;
	__typeof__(PQerrorMessage) *error_message;
	__typeof__(PQsetNoticeProcessor) *set_notice_processor;
	__typeof__(PQexecParams) *exec_params;
	__typeof__(PQresultStatus) *result_status;
	__typeof__(PQresultErrorField) *result_error_field;
	__typeof__(PQgetvalue) *getvalue;
	__typeof__(PQgetisnull) *getisnull;
	__typeof__(PQntuples) *ntuples;
	__typeof__(PQnfields) *nfields;
	__typeof__(PQclear) *clear;
	__typeof__(PQfinish) *finish;
	__typeof__(PQfreemem) *freemem;
};

/* The loaded API, or NULL with err when libpq cannot be loaded. Safe from several threads. */
const struct rp_pq_api *rp_pq(struct rp_err *err);

#endif
