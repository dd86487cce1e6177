# `runpilot server`'s PostgreSQL client: libpq's soname (it is dlopened at first use: src/server/pq_api.c).
LIBPQ_SONAME = $(shell objdump -p /usr/lib/$$(gcc -print-multiarch)/libpq.so 2>/dev/null | awk '/SONAME/ {print $$2}')
$(BUILD)/src/server/pq_api.o $(BUILD)/hooks/src/server/pq_api.o: CFLAGS += -DLIBPQ_SONAME='"$(LIBPQ_SONAME)"'
# libcurl for `runpilot login` and `logout` (src/server/client.c), dlopened as the docker runner does.
$(BUILD)/src/server/client.o $(BUILD)/hooks/src/server/client.o: CFLAGS += -DLIBCURL_SONAME='"$(LIBCURL_SONAME)"'

# Test helper for the server's --where (tests/server/test_where_pg.sh): an expression compiled for
# PostgreSQL, printed as JSON or run on a database through libpq (tests/helpers/where_pg.c).
# Built from where.c and what it links, like the fuzz target, into build/helpers.
#   make build/helpers/where_pg
WHERE_PG_SRCS := tests/helpers/where_pg.c src/core/where.c src/core/record.c src/base/util.c src/base/err.c \
	src/base/log.c

build/helpers/where_pg: $(WHERE_PG_SRCS) include/where.h mk/server.mk
	@mkdir -p build/helpers
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Iinclude -Isrc/core -D_GNU_SOURCE \
		-I$(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql) -o $@ $(WHERE_PG_SRCS) \
		-lpq -lsqlite3 -lcjson -lm -ldl

test-integration: build/helpers/where_pg
