/*
 * vp_l3: the result cache's third level, shared by machines: a Redis
 * server (libhiredis, Debian's well-kept client; memcached would do as
 * well, but Redis gives MGET and pipelined SET with a TTL in one round
 * trip a batch, and a server Debian ships and tests can start).
 *
 * Keys are the result cache's own (xxHash64 of the query seeded with the
 * index's header checksum, k, the parameters, filter and plan), so a
 * rebuilt index never meets an old answer; values carry their own xxHash64
 * and are rejected when it does not match.  Every command has a short
 * timeout, and the first failure marks the server down for the rest of the
 * process: an unreachable L3 costs the timeout once, never a query, and
 * never fails a search.
 */
#ifndef VP_L3_H
#define VP_L3_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

#define VP_L3_TIMEOUT_MS 50     /* connect and per command */
#define VP_L3_TTL_S 86400

struct vp_l3;

struct vp_l3_stats {
	uint64_t lookups, hits, rejected, stores;
	int down;               /* 1 once a command failed or timed out */
	char why[256];          /* why it went down */
};

/* Parses redis://HOST[:PORT][/DB] (port 6379, db 0 by default).  Returns 0
 * or VP_E_ARG. */
int vp_l3_parse_url(const char *url, char *host, size_t hn, int *port, int *db,
		    struct vp_error *err);

/* Connects (timeout_ms for the connection and every command; ttl_s for
 * stored entries).  Returns 0 with *l3 set, VP_E_ARG for a bad URL, or
 * VP_E_IO when the server cannot be reached (*l3 NULL, err says why). */
int vp_l3_open(struct vp_l3 **l3, const char *url, int timeout_ms, int ttl_s,
	       struct vp_error *err);

/* Looks up n keys in one round trip; for each hit copies k results and
 * sets hit[i] = 1.  Returns the hits (0 when the server is down). */
size_t vp_l3_get(struct vp_l3 *l3, const uint64_t *keys, size_t n, size_t k,
		 float *dist, int64_t *ids, size_t stride, uint8_t *hit);

/* Stores n entries of k results, pipelined, with the TTL. */
void vp_l3_put(struct vp_l3 *l3, const uint64_t *keys, size_t n, size_t k,
	       const float *dist, const int64_t *ids, size_t stride);

const struct vp_l3_stats *vp_l3_stats(const struct vp_l3 *l3);

void vp_l3_close(struct vp_l3 *l3);

#endif
