/*
 * vp_l3: Redis as the result cache's shared level.  See vp_l3.h.
 *
 * Value: "VPL3", uint32 k, k float distances, k int64 ids, uint64
 * xxHash64 of what precedes it.  Key: "vp:" and the cache key in hex.
 */
#include "vp_l3.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct vp_l3 {
	redisContext *rc;
	int ttl;
	struct vp_l3_stats st;
	unsigned char *buf;
	size_t cap;
};

int vp_l3_parse_url(const char *url, char *host, size_t hn, int *port, int *db,
		    struct vp_error *err)
{
	const char *p = url, *colon, *slash, *end;
	char *e;
	long v;

	if (strncmp(p, "redis://", 8))
		return vp_seterr(err, VP_E_ARG, "--cache-l3: '%s' is not redis://HOST[:PORT][/DB]", url);
	p += 8;
	slash = strchr(p, '/');
	end = slash ? slash : p + strlen(p);
	colon = memchr(p, ':', (size_t)(end - p));
	if ((colon ? colon : end) == p || (size_t)((colon ? colon : end) - p) >= hn)
		return vp_seterr(err, VP_E_ARG, "--cache-l3: '%s' has no host", url);
	memcpy(host, p, (size_t)((colon ? colon : end) - p));
	host[(colon ? colon : end) - p] = 0;
	*port = 6379;
	*db = 0;
	if (colon) {
		v = strtol(colon + 1, &e, 10);
		if (e != end || v < 1 || v > 65535)
			return vp_seterr(err, VP_E_ARG, "--cache-l3: '%s': bad port", url);
		*port = (int)v;
	}
	if (slash && slash[1]) {
		v = strtol(slash + 1, &e, 10);
		if (*e || v < 0 || v > 1000000)
			return vp_seterr(err, VP_E_ARG, "--cache-l3: '%s': bad database number", url);
		*db = (int)v;
	}
	return 0;
}

static void down(struct vp_l3 *l3, const char *what)
{
	if (l3->st.down)
		return;
	l3->st.down = 1;
	snprintf(l3->st.why, sizeof l3->st.why, "%s: %s", what,
		 l3->rc && l3->rc->err ? l3->rc->errstr : "unexpected reply");
}

int vp_l3_open(struct vp_l3 **out, const char *url, int timeout_ms, int ttl_s,
	       struct vp_error *err)
{
	char host[256];
	int port, db, rc;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct vp_l3 *l3;

	*out = NULL;
	if ((rc = vp_l3_parse_url(url, host, sizeof host, &port, &db, err)))
		return rc;
	if (!(l3 = calloc(1, sizeof *l3)))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	l3->ttl = ttl_s;
	l3->rc = redisConnectWithTimeout(host, port, tv);
	if (!l3->rc || l3->rc->err) {
		rc = vp_seterr(err, VP_E_IO, "%s: %s", url, l3->rc ? l3->rc->errstr : "cannot connect");
		vp_l3_close(l3);
		return rc;
	}
	redisSetTimeout(l3->rc, tv);
	{
		/* PING proves a Redis answers (not just a port); then the DB */
		redisReply *r = redisCommand(l3->rc, "PING");
		int ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING);
		freeReplyObject(r);
		if (ok && db) {
			r = redisCommand(l3->rc, "SELECT %d", db);
			ok = r && r->type == REDIS_REPLY_STATUS;
			freeReplyObject(r);
		}
		if (!ok) {
			rc = vp_seterr(err, VP_E_IO, "%s: %s", url,
				       l3->rc->err ? l3->rc->errstr : "not a Redis server, or no such database");
			vp_l3_close(l3);
			return rc;
		}
	}
	*out = l3;
	return 0;
}

static size_t value_size(size_t k)
{
	return 8 + k * (4 + 8) + 8;
}

size_t vp_l3_get(struct vp_l3 *l3, const uint64_t *keys, size_t n, size_t k,
		 float *dist, int64_t *ids, size_t stride, uint8_t *hit)
{
	size_t hits = 0, vs = value_size(k);
	const char **argv;
	size_t *argl;
	char (*names)[20];
	redisReply *r;

	memset(hit, 0, n);
	if (!l3 || l3->st.down || !n)
		return 0;
	argv = malloc((n + 1) * sizeof *argv);
	argl = malloc((n + 1) * sizeof *argl);
	names = malloc(n * sizeof *names);
	if (!argv || !argl || !names) {
		free(argv);
		free(argl);
		free(names);
		return 0;
	}
	argv[0] = "MGET";
	argl[0] = 4;
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof names[i], "vp:%016llx", (unsigned long long)keys[i]);
		argv[i + 1] = names[i];
		argl[i + 1] = 19;
	}
	l3->st.lookups += n;
	r = redisCommandArgv(l3->rc, (int)n + 1, argv, argl);
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != n) {
		down(l3, "lookup");
	} else {
		for (size_t i = 0; i < n; i++) {
			const redisReply *e = r->element[i];
			uint32_t kk;
			uint64_t sum;
			if (e->type != REDIS_REPLY_STRING)
				continue;
			if (e->len != vs || memcmp(e->str, "VPL3", 4)) {
				l3->st.rejected++;
				continue;
			}
			memcpy(&kk, e->str + 4, 4);
			memcpy(&sum, e->str + vs - 8, 8);
			if (kk != k || sum != XXH64(e->str, vs - 8, 0)) {
				l3->st.rejected++;
				continue;
			}
			memcpy(dist + i * stride, e->str + 8, k * 4);
			memcpy(ids + i * stride, e->str + 8 + k * 4, k * 8);
			hit[i] = 1;
			hits++;
		}
		l3->st.hits += hits;
	}
	freeReplyObject(r);
	free(argv);
	free(argl);
	free(names);
	return hits;
}

void vp_l3_put(struct vp_l3 *l3, const uint64_t *keys, size_t n, size_t k,
	       const float *dist, const int64_t *ids, size_t stride)
{
	size_t vs = value_size(k);
	if (!l3 || l3->st.down || !n)
		return;
	if (l3->cap < vs) {
		unsigned char *b = realloc(l3->buf, vs);
		if (!b)
			return;
		l3->buf = b;
		l3->cap = vs;
	}
	/* pipelined: n commands out, then n replies in */
	for (size_t i = 0; i < n; i++) {
		char name[20];
		uint32_t kk = (uint32_t)k;
		uint64_t sum;
		memcpy(l3->buf, "VPL3", 4);
		memcpy(l3->buf + 4, &kk, 4);
		memcpy(l3->buf + 8, dist + i * stride, k * 4);
		memcpy(l3->buf + 8 + k * 4, ids + i * stride, k * 8);
		sum = XXH64(l3->buf, vs - 8, 0);
		memcpy(l3->buf + vs - 8, &sum, 8);
		snprintf(name, sizeof name, "vp:%016llx", (unsigned long long)keys[i]);
		if (redisAppendCommand(l3->rc, "SET %s %b EX %d", name, l3->buf, vs, l3->ttl) != REDIS_OK) {
			down(l3, "store");
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		void *r = NULL;
		if (redisGetReply(l3->rc, &r) != REDIS_OK) {
			down(l3, "store");
			freeReplyObject(r);
			return;
		}
		freeReplyObject(r);
	}
	l3->st.stores += n;
}

const struct vp_l3_stats *vp_l3_stats(const struct vp_l3 *l3)
{
	return &l3->st;
}

void vp_l3_close(struct vp_l3 *l3)
{
	if (!l3)
		return;
	if (l3->rc)
		redisFree(l3->rc);
	free(l3->buf);
	free(l3);
}
