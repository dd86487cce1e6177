# `runpilot server`'s PostgreSQL client: libpq's soname (it is dlopened at first use: src/server/pq_api.c).
LIBPQ_SONAME = $(shell objdump -p /usr/lib/$$(gcc -print-multiarch)/libpq.so 2>/dev/null | awk '/SONAME/ {print $$2}')
$(BUILD)/src/server/pq_api.o $(BUILD)/hooks/src/server/pq_api.o: CFLAGS += -DLIBPQ_SONAME='"$(LIBPQ_SONAME)"'
# libcurl for `runpilot login` and `logout` (src/server/client.c), dlopened as the docker runner does.
$(BUILD)/src/server/client.o $(BUILD)/hooks/src/server/client.o: CFLAGS += -DLIBCURL_SONAME='"$(LIBCURL_SONAME)"'
