/* Inside the metrics files (metrics_record.c, metrics_read.c): the one layout of a line of
 * metrics.jsonl, as the recorder writes it. */
#ifndef RP_METRICS_INT_H
#define RP_METRICS_INT_H

#include <stdbool.h>
#include <stddef.h>

/* A point's fields as text, pointing into its line. */
struct mx_point_text {
	const char *name, *step, *value, *time, *source;
	size_t name_len, step_len, value_len, time_len, source_len;
};

/* Split a line the recorder wrote,
 *   {"name":"loss","step":3,"value":0.41,"time":1764745200.123,"source":"log"}
 * into its fields by that exact layout (a million points are read back in a fraction of a
 * second, where a general JSON parse per line takes seconds). False for any other line: the
 * caller parses it as JSON instead. */
bool mx_split_point(const char *line, size_t n, struct mx_point_text *pt);

#endif
