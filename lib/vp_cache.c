/*
 * vp_cache: L1 is a hash table with an intrusive LRU list; L2 a mapped
 * file of slots probed linearly from the key's home slot (a window of
 * PROBE slots), with a CLOCK hand in the header choosing the victim.
 */
#include "vp_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stddef.h>
#include <xxhash.h>

#define MAGIC 0x3245484341435056ull /* "VPCACHE2" */
#define PROBE 8

struct l1e {
	uint64_t key;
	size_t k;
	float *dist;
	int64_t *ids;
	int prev, next, hnext; /* LRU list and hash chain, -1 none */
	int used;
};

/* L2 layout: header, then the slots' keys (a probe window of 8 keys is one
 * cache line, so a miss costs one line, not 8 slots), then the slots. */
struct l2hdr {
	uint64_t magic, nslots, kmax, hand;
	uint64_t reserved[3];
	uint64_t xxh; /* of the fields above */
};

struct l2slot {
	uint64_t key;
	uint32_t k, ref;
	uint64_t xxh; /* of key, k and the results */
	float dist[VP_CACHE_KMAX];
	int64_t ids[VP_CACHE_KMAX];
};

struct vp_cache {
	struct l1e *e;
	int *buckets;
	size_t cap, nb, n;
	int head, tail, freelist;
	int fd;
	unsigned char *map;
	size_t maplen;
	struct vp_cache_stats st;
};

static uint64_t hdr_sum(const struct l2hdr *h)
{
	return XXH64(h, offsetof(struct l2hdr, xxh), 0);
}

static uint64_t slot_sum(const struct l2slot *s)
{
	if (s->k > VP_CACHE_KMAX) /* a damaged slot: never matches */
		return ~s->xxh;
	return XXH64(s->dist, s->k * sizeof *s->dist,
		     XXH64(s->ids, s->k * sizeof *s->ids, s->key ^ s->k));
}

static struct l2hdr *hdr(struct vp_cache *c)
{
	return (struct l2hdr *)c->map;
}

static uint64_t *keyv(struct vp_cache *c)
{
	return (uint64_t *)(c->map + sizeof(struct l2hdr));
}

static struct l2slot *slot(struct vp_cache *c, uint64_t i)
{
	return (struct l2slot *)(c->map + sizeof(struct l2hdr) +
				 hdr(c)->nslots * sizeof(uint64_t)) + i;
}

/* (Re)initialises the file under an exclusive lock. */
static int l2_format(struct vp_cache *c, size_t nslots)
{
	struct l2hdr h = { MAGIC, nslots, VP_CACHE_KMAX, 0, { 0 }, 0 };
	size_t len = sizeof h + nslots * (sizeof(uint64_t) + sizeof(struct l2slot));
	if (ftruncate(c->fd, 0) || ftruncate(c->fd, (off_t)len))
		return -1;
	/* allocate the blocks now: a store into a sparse mapped file on a
	 * full disk would raise SIGBUS in the middle of a search */
	{
		int e = posix_fallocate(c->fd, 0, (off_t)len);
		if (e == ENOSPC || e == EFBIG) {
			errno = e;
			return -1;
		}
	}
	h.xxh = hdr_sum(&h);
	if (pwrite(c->fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		return -1;
	c->st.l2_rebuilds++;
	return 0;
}

int vp_cache_open(struct vp_cache **out, const char *dir, size_t l1,
		  size_t nslots, struct vp_error *err)
{
	struct vp_cache *c = calloc(1, sizeof *c);
	char path[4096];
	struct stat st;
	int rc = 0;

	if (!c)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	c->fd = -1;
	c->cap = l1 ? l1 : 1;
	c->nb = c->cap * 2;
	c->e = calloc(c->cap, sizeof *c->e);
	c->buckets = malloc(c->nb * sizeof *c->buckets);
	if (!c->e || !c->buckets) {
		vp_cache_close(c);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < c->nb; i++)
		c->buckets[i] = -1;
	c->head = c->tail = -1;
	c->freelist = -1;
	if (mkdir(dir, 0777) && errno != EEXIST) {
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s", dir);
		goto fail;
	}
	snprintf(path, sizeof path, "%s/%s", dir, VP_CACHE_FILE);
	c->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (c->fd < 0) {
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s", path);
		goto fail;
	}
	/* check, and rebuild a damaged or foreign file, under the lock */
	flock(c->fd, LOCK_EX);
	if (fstat(c->fd, &st) == 0) {
		struct l2hdr h;
		int ok = st.st_size >= (off_t)sizeof h &&
			 pread(c->fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
			 h.magic == MAGIC && h.kmax == VP_CACHE_KMAX && h.xxh == hdr_sum(&h) &&
			 h.nslots > 0 &&
			 (uint64_t)st.st_size == sizeof h + h.nslots * (sizeof(uint64_t) +
								       sizeof(struct l2slot));
		if (!ok && l2_format(c, nslots ? nslots : VP_CACHE_L2_SLOTS_DEFAULT)) {
			flock(c->fd, LOCK_UN);
			rc = vp_seterr_errno(err, VP_E_IO, errno, "%s", path);
			goto fail;
		}
	}
	fstat(c->fd, &st);
	flock(c->fd, LOCK_UN);
	c->maplen = (size_t)st.st_size;
	/* populate up front: one bulk fault-in instead of one per probed slot */
	c->map = mmap(NULL, c->maplen, PROT_READ, MAP_SHARED | MAP_POPULATE, c->fd, 0);
	if (c->map == MAP_FAILED) {
		c->map = NULL;
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s: mmap", path);
		goto fail;
	}
	{
		/* fault in the key array now (a probe reads one line of it) */
		volatile uint64_t sink = 0;
		const uint64_t *kv = keyv(c);
		for (uint64_t i = 0; i < hdr(c)->nslots; i += 512)
			sink ^= kv[i];
		(void)sink;
	}
	*out = c;
	return 0;
fail:
	vp_cache_close(c);
	return rc;
}

static void lru_unlink(struct vp_cache *c, int i)
{
	struct l1e *e = &c->e[i];
	if (e->prev >= 0)
		c->e[e->prev].next = e->next;
	else
		c->head = e->next;
	if (e->next >= 0)
		c->e[e->next].prev = e->prev;
	else
		c->tail = e->prev;
}

static void lru_front(struct vp_cache *c, int i)
{
	struct l1e *e = &c->e[i];
	e->prev = -1;
	e->next = c->head;
	if (c->head >= 0)
		c->e[c->head].prev = i;
	c->head = i;
	if (c->tail < 0)
		c->tail = i;
}

static int l1_find(struct vp_cache *c, uint64_t key, size_t k)
{
	for (int i = c->buckets[key % c->nb]; i >= 0; i = c->e[i].hnext)
		if (c->e[i].key == key && c->e[i].k == k)
			return i;
	return -1;
}

static void l1_remove_hash(struct vp_cache *c, int i)
{
	int *p = &c->buckets[c->e[i].key % c->nb];
	while (*p >= 0 && *p != i)
		p = &c->e[*p].hnext;
	if (*p == i)
		*p = c->e[i].hnext;
}

static void l1_put(struct vp_cache *c, uint64_t key, size_t k, const float *dist,
		   const int64_t *ids)
{
	int i = l1_find(c, key, k);
	if (i < 0) {
		if (c->n < c->cap)
			i = (int)c->n++;
		else {
			/* evict the least recently used */
			i = c->tail;
			lru_unlink(c, i);
			l1_remove_hash(c, i);
		}
		if (c->e[i].k != k) {
			float *d = realloc(c->e[i].dist, k * sizeof *d);
			int64_t *x = d ? realloc(c->e[i].ids, k * sizeof *x) : NULL;
			if (d)
				c->e[i].dist = d;
			if (!x) {
				c->e[i].used = 0;
				return;
			}
			c->e[i].ids = x;
		}
		c->e[i].key = key;
		c->e[i].k = k;
		c->e[i].used = 1;
		c->e[i].hnext = c->buckets[key % c->nb];
		c->buckets[key % c->nb] = i;
	} else
		lru_unlink(c, i);
	memcpy(c->e[i].dist, dist, k * sizeof *dist);
	memcpy(c->e[i].ids, ids, k * sizeof *ids);
	lru_front(c, i);
}

int vp_cache_get(struct vp_cache *c, uint64_t key, size_t k, float *dist,
		 int64_t *ids)
{
	int i = l1_find(c, key, k), hit = 0;
	c->st.lookups++;
	if (i >= 0) {
		memcpy(dist, c->e[i].dist, k * sizeof *dist);
		memcpy(ids, c->e[i].ids, k * sizeof *ids);
		lru_unlink(c, i);
		lru_front(c, i);
		c->st.l1_hits++;
		return 1;
	}
	if (!c->map || k > VP_CACHE_KMAX)
		return 0;
	{
		uint64_t n = hdr(c)->nslots, *kv = keyv(c);
		for (uint64_t p = 0; p < PROBE && !hit; p++) {
			struct l2slot *s;
			if (kv[(key + p) % n] != key)
				continue;
			s = slot(c, (key + p) % n);
			if (s->key == key && s->k == k && s->xxh == slot_sum(s)) {
				memcpy(dist, s->dist, k * sizeof *dist);
				memcpy(ids, s->ids, k * sizeof *ids);
				/* a benign race: only a hint for CLOCK */
				if (!s->ref) {
					uint32_t one = 1;
					if (pwrite(c->fd, &one, 4, (off_t)((unsigned char *)&s->ref - c->map)) < 0)
						hit = 0;
				}
				hit = 2;
			}
		}
	}
	if (hit) {
		c->st.l2_hits++;
		l1_put(c, key, k, dist, ids);
	}
	return hit;
}

void vp_cache_put(struct vp_cache *c, uint64_t key, size_t k,
		  const float *dist, const int64_t *ids)
{
	c->st.inserts++;
	l1_put(c, key, k, dist, ids);
	if (!c->map || k > VP_CACHE_KMAX)
		return;
	{
		struct l2hdr *h = hdr(c);
		uint64_t n = h->nslots, home = key % n, victim = n, hand = h->hand;
		const uint64_t *kv = keyv(c);
		/* a free or same-key slot in the window, else CLOCK over it */
		for (uint64_t p = 0; p < PROBE && victim == n; p++)
			if (kv[(home + p) % n] == 0 || kv[(home + p) % n] == key)
				victim = (home + p) % n;
		for (int sweep = 0; victim == n && sweep < 2 * PROBE; sweep++) {
			uint64_t i = (home + (hand++ % PROBE)) % n;
			struct l2slot *s = slot(c, i);
			if (s->ref) {
				uint32_t zero = 0;
				if (pwrite(c->fd, &zero, 4, (off_t)((unsigned char *)&s->ref - c->map)) < 0)
					break;
			} else
				victim = i;
		}
		if (victim == n)
			victim = home;
		{
			/* written with pwrite, not stores into the mapping: a
			 * first store to each page of a shared file mapping
			 * takes a write fault, several microseconds a put */
			struct l2slot ns;
			struct l2hdr nh = *h;
			nh.hand = hand;
			off_t base = (off_t)((unsigned char *)slot(c, 0) - c->map);
			ns.key = key;
			ns.k = (uint32_t)k;
			ns.ref = 0;
			memcpy(ns.dist, dist, k * sizeof *dist);
			memcpy(ns.ids, ids, k * sizeof *ids);
			ns.xxh = slot_sum(&ns);
			nh.xxh = hdr_sum(&nh);
			if (pwrite(c->fd, &ns, offsetof(struct l2slot, dist) + k * sizeof *dist,
				   base + (off_t)(victim * sizeof ns)) < 0 ||
			    pwrite(c->fd, ns.ids, k * sizeof *ids, base + (off_t)(victim * sizeof ns +
							       offsetof(struct l2slot, ids))) < 0 ||
			    pwrite(c->fd, &key, sizeof key, (off_t)sizeof(struct l2hdr) +
				   (off_t)(victim * sizeof key)) < 0 ||
			    pwrite(c->fd, &nh, sizeof nh, 0) < 0)
				return; /* the slot's checksum keeps a half write out */
		}
	}
}

void vp_cache_begin(struct vp_cache *c, int exclusive)
{
	if (c->fd >= 0)
		flock(c->fd, exclusive ? LOCK_EX : LOCK_SH);
}

void vp_cache_end(struct vp_cache *c)
{
	if (c->fd >= 0)
		flock(c->fd, LOCK_UN);
}

const struct vp_cache_stats *vp_cache_stats(const struct vp_cache *c)
{
	return &c->st;
}

void vp_cache_close(struct vp_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->cap && c->e; i++) {
		free(c->e[i].dist);
		free(c->e[i].ids);
	}
	free(c->e);
	free(c->buckets);
	if (c->map)
		munmap(c->map, c->maplen);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}
