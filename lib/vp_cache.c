/*
 * vp_cache: L1 is a hash table with an intrusive LRU list over a pool of
 * fixed-size result arrays (no allocation per entry).  L2 is a mapped file:
 *
 *   page 0       header: magic, per table its geometry and CLOCK hand, the
 *                file's lifetime lookup and hit counters, xxHash64
 *   per table    index: windows of 8 uint64 entries (fingerprint << 32 |
 *                slot + 1), a key's window chosen by key % windows
 *                slots: key, k, ref, xxHash64, kcap distances, kcap ids
 *
 * Why a log at a hand and not slots at a key's home: on a fresh file every
 * store to a random slot dirtied (and made the file system allocate) a page
 * of its own, ~17 us a store; a batch written at the hand is one pwrite of
 * consecutive slots and a pwritev of the index pages it changed.  Writes go
 * through pwrite, never through the mapping (read-only), so a full disk is
 * an error return, not SIGBUS.  An index entry is never trusted: the slot it
 * names must hold the key, k and a matching checksum.
 */
#include "vp_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <stddef.h>
#include <xxhash.h>

#include "vp_l3.h"

#include "vp_sys.h"

#define MAGIC 0x3345484341435056ull /* "VPCACHE3" */
#define NTAB 2
#define WIN 8         /* index entries per window: one cache line */
#define PAGE 4096
#define SLOT_HDR 24   /* key, k, ref, xxh */
#define RUN_BYTES (256u << 10) /* slots written per pwrite at most */

static const uint64_t tab_kcap[NTAB] = { 16, VP_CACHE_KMAX };

struct l2tab {
	uint64_t kcap, nslots, nwin, hand, idx_off, slot_off, slot_size;
};

struct l2hdr {
	uint64_t magic, ntab;
	struct l2tab t[NTAB];
	uint64_t lookups, hits;
	uint64_t reserved[4];
	uint64_t xxh; /* of the fields above */
};

struct l1e {
	uint64_t key;
	int prev, next, hnext; /* LRU list and hash chain, -1 none */
};

struct vp_cache {
	size_t k;
	/* L1 */
	struct l1e *e;
	float *l1d;
	int64_t *l1i;
	int *buckets;
	size_t cap, nb, n;
	int head, tail;
	/* L2 */
	int fd, tab; /* tab: the table for k, -1 when k is too large */
	unsigned char *map;
	size_t maplen;
	struct l2hdr geo;      /* as validated at open */
	unsigned char *pend;   /* queued slot images */
	size_t npend, pendcap;
	uint64_t *pos;         /* where each queued image went */
	unsigned char *run;    /* slots being written */
	int32_t *pmap;         /* index page -> shadow page, -1 none */
	unsigned char *shadow; /* copies of the index pages being changed */
	size_t npages, nshadow;
	uint64_t d_lookups, d_hits; /* not yet added to the file's counters */
	char errmsg[256];
	int failed;
	/* vp_cache_search's scratch, grown to the largest batch */
	size_t scap, sdim, nmiss;
	uint64_t *keys;
	size_t *miss, *dedup, *dups, *dupof;
	float *mq, *md, *sd;
	int64_t *mi, *si;
	size_t *srows;         /* rows fn searched (after L3), nsearched of them */
	size_t nsearched;
	uint64_t *k3;          /* L3 keys, of misses then of what was searched */
	uint8_t *h3;
	struct vp_l3 *l3;      /* borrowed: vp_cache_set_l3 */
	struct vp_cache_stats st;
};

static uint64_t hdr_sum(const struct l2hdr *h)
{
	return XXH64(h, offsetof(struct l2hdr, xxh), 0);
}

static uint64_t page_up(uint64_t x)
{
	return (x + PAGE - 1) / PAGE * PAGE;
}

/* The geometry of a file with nslots slots in its first table. */
static uint64_t layout(struct l2hdr *h, uint64_t nslots)
{
	uint64_t off = PAGE;
	memset(h, 0, sizeof *h);
	h->magic = MAGIC;
	h->ntab = NTAB;
	for (int i = 0; i < NTAB; i++) {
		struct l2tab *t = &h->t[i];
		t->kcap = tab_kcap[i];
		t->nslots = i == 0 ? nslots : (nslots + 7) / 8;
		t->nwin = (2 * t->nslots + WIN - 1) / WIN;
		t->slot_size = SLOT_HDR + 12 * t->kcap;
		t->idx_off = off;
		off = page_up(off + t->nwin * WIN * 8);
		t->slot_off = off;
		off = page_up(off + t->nslots * t->slot_size);
	}
	return off;
}

/* Whether h describes the same tables as g (hands and counters aside). */
static int same_geometry(const struct l2hdr *h, const struct l2hdr *g)
{
	if (h->magic != g->magic || h->ntab != g->ntab)
		return 0;
	for (int i = 0; i < NTAB; i++) {
		struct l2tab a = h->t[i], b = g->t[i];
		a.hand = b.hand = 0;
		if (memcmp(&a, &b, sizeof a))
			return 0;
	}
	return 1;
}

static uint64_t slot_sum(const unsigned char *s, uint64_t kcap)
{
	uint64_t key;
	uint32_t k;
	memcpy(&key, s, 8);
	memcpy(&k, s + 8, 4);
	if (k > kcap) /* a damaged slot: never matches */
		return ~*(const uint64_t *)(s + 16);
	return XXH64(s + SLOT_HDR, k * sizeof(float),
		     XXH64(s + SLOT_HDR + 4 * kcap, k * sizeof(int64_t), key ^ k));
}

static unsigned char *slot_at(struct vp_cache *c, uint64_t i)
{
	const struct l2tab *t = &c->geo.t[c->tab];
	return c->map + t->slot_off + i * t->slot_size;
}

static const uint64_t *index_at(struct vp_cache *c)
{
	return (const uint64_t *)(c->map + c->geo.t[c->tab].idx_off);
}

static void fail(struct vp_cache *c, const char *what)
{
	if (!c->failed)
		snprintf(c->errmsg, sizeof c->errmsg, "%s", what);
	c->failed = 1;
}

/* (Re)initialises the file under the exclusive lock.  Its blocks are
 * allocated now (they read as empty slots): on tmpfs even a read of a hole
 * in a shared mapping needs a page, and with none left that read is SIGBUS
 * in the middle of a search; a full disk is better an error at open. */
static int l2_format(struct vp_cache *c, size_t nslots)
{
	struct l2hdr h;
	uint64_t len = layout(&h, nslots);
	int e;
	h.xxh = hdr_sum(&h);
	if (ftruncate(c->fd, 0) || ftruncate(c->fd, (off_t)len))
		return -1;
	if ((e = posix_fallocate(c->fd, 0, (off_t)len)) != 0 && e != EOPNOTSUPP && e != EINVAL) {
		errno = e;
		if (ftruncate(c->fd, 0)) {} /* leave no file that would pass the check */
		return -1;
	}
	if (pwrite(c->fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		return -1;
	c->st.l2_rebuilds++;
	return 0;
}

/* Checks the file under the lock; 0 when it is one of ours. */
static int l2_check(int fd, struct l2hdr *h)
{
	struct stat st;
	struct l2hdr want;
	if (fstat(fd, &st) || st.st_size < PAGE ||
	    pread(fd, h, sizeof *h, 0) != (ssize_t)sizeof *h ||
	    h->magic != MAGIC || h->ntab != NTAB || h->xxh != hdr_sum(h) ||
	    h->t[0].nslots == 0 || h->t[0].nslots > (1u << 30))
		return -1;
	if (layout(&want, h->t[0].nslots) != (uint64_t)st.st_size ||
	    !same_geometry(h, &want))
		return -1;
	return 0;
}

int vp_cache_open(struct vp_cache **out, const char *dir, size_t k, size_t l1,
		  size_t nslots, struct vp_error *err)
{
	struct vp_cache *c = calloc(1, sizeof *c);
	char path[4096];
	int rc = 0, ok;

	if (!c)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	c->fd = -1;
	c->k = k ? k : 1;
	c->cap = l1 ? l1 : 1;
	if (c->cap > VP_CACHE_L1_MAX_BYTES / (c->k * 12))
		c->cap = VP_CACHE_L1_MAX_BYTES / (c->k * 12) ? VP_CACHE_L1_MAX_BYTES / (c->k * 12) : 1;
	c->nb = c->cap * 2;
	c->e = calloc(c->cap, sizeof *c->e);
	/* untouched pages cost nothing: the pool fills as the LRU does */
	c->l1d = malloc(c->cap * c->k * sizeof *c->l1d);
	c->l1i = malloc(c->cap * c->k * sizeof *c->l1i);
	c->buckets = malloc(c->nb * sizeof *c->buckets);
	if (!c->e || !c->l1d || !c->l1i || !c->buckets) {
		vp_cache_close(c);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	vp_hugepage_hint(c->l1d, c->cap * c->k * sizeof *c->l1d);
	vp_hugepage_hint(c->l1i, c->cap * c->k * sizeof *c->l1i);
	for (size_t i = 0; i < c->nb; i++)
		c->buckets[i] = -1;
	c->head = c->tail = -1;
	c->tab = -1;
	for (int i = 0; i < NTAB; i++)
		if (c->k <= tab_kcap[i]) {
			c->tab = i;
			break;
		}
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
	ok = l2_check(c->fd, &c->geo) == 0;
	if (!ok && (l2_format(c, nslots ? nslots : VP_CACHE_L2_SLOTS_DEFAULT) ||
		    l2_check(c->fd, &c->geo))) {
		rc = vp_seterr_errno(err, VP_E_IO, errno ? errno : EIO, "%s", path);
		flock(c->fd, LOCK_UN);
		goto fail;
	}
	flock(c->fd, LOCK_UN);
	c->st.file_lookups = c->geo.lookups;
	c->st.file_hits = c->geo.hits;
	c->maplen = (size_t)layout(&(struct l2hdr){ 0 }, c->geo.t[0].nslots);
	c->map = mmap(NULL, c->maplen, PROT_READ, MAP_SHARED, c->fd, 0);
	if (c->map == MAP_FAILED) {
		c->map = NULL;
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s: mmap", path);
		goto fail;
	}
	if (c->tab >= 0) {
		const struct l2tab *t = &c->geo.t[c->tab];
		c->npages = (t->nwin * WIN * 8 + PAGE - 1) / PAGE;
		c->pmap = malloc(c->npages * sizeof *c->pmap);
		c->shadow = malloc(c->npages * PAGE);
		c->run = malloc(RUN_BYTES > t->slot_size ? RUN_BYTES : t->slot_size);
		if (!c->pmap || !c->shadow || !c->run) {
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			goto fail;
		}
		for (size_t i = 0; i < c->npages; i++)
			c->pmap[i] = -1;
		/* the index is what every lookup reads: fault it in now */
		madvise(c->map + t->idx_off, c->npages * PAGE, MADV_WILLNEED);
	}
	*out = c;
	return 0;
fail:
	vp_cache_close(c);
	return rc;
}

/* ---- L1 ---- */

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

static int l1_find(struct vp_cache *c, uint64_t key)
{
	for (int i = c->buckets[key % c->nb]; i >= 0; i = c->e[i].hnext)
		if (c->e[i].key == key)
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

static void l1_put(struct vp_cache *c, uint64_t key, const float *dist,
		   const int64_t *ids)
{
	int i = l1_find(c, key);
	if (i < 0) {
		if (c->n < c->cap)
			i = (int)c->n++;
		else {
			/* evict the least recently used */
			i = c->tail;
			lru_unlink(c, i);
			l1_remove_hash(c, i);
		}
		c->e[i].key = key;
		c->e[i].hnext = c->buckets[key % c->nb];
		c->buckets[key % c->nb] = i;
	} else
		lru_unlink(c, i);
	memcpy(c->l1d + (size_t)i * c->k, dist, c->k * sizeof *dist);
	memcpy(c->l1i + (size_t)i * c->k, ids, c->k * sizeof *ids);
	lru_front(c, i);
}

/* ---- L2 ---- */

/* The geometry may only change if another process rebuilt a damaged file;
 * then this one stops using it rather than read past a shorter file. */
static int l2_usable(struct vp_cache *c)
{
	struct stat st;
	if (!c->map || c->tab < 0)
		return 0;
	if (fstat(c->fd, &st) || (size_t)st.st_size != c->maplen ||
	    !same_geometry((const struct l2hdr *)c->map, &c->geo)) {
		munmap(c->map, c->maplen);
		c->map = NULL;
		fail(c, "the cache file was replaced");
		return 0;
	}
	return 1;
}

void vp_cache_begin(struct vp_cache *c)
{
	if (c->map) {
		flock(c->fd, LOCK_SH);
		l2_usable(c);
	}
}

void vp_cache_end(struct vp_cache *c)
{
	if (c->fd >= 0)
		flock(c->fd, LOCK_UN);
}

int vp_cache_get(struct vp_cache *c, uint64_t key, float *dist, int64_t *ids)
{
	int i = l1_find(c, key);
	c->st.lookups++;
	c->d_lookups++;
	if (i >= 0) {
		memcpy(dist, c->l1d + (size_t)i * c->k, c->k * sizeof *dist);
		memcpy(ids, c->l1i + (size_t)i * c->k, c->k * sizeof *ids);
		lru_unlink(c, i);
		lru_front(c, i);
		c->st.l1_hits++;
		c->d_hits++;
		return 1;
	}
	if (!c->map || c->tab < 0)
		return 0;
	{
		const struct l2tab *t = &c->geo.t[c->tab];
		const uint64_t *w = index_at(c) + (key % t->nwin) * WIN;
		for (int j = 0; j < WIN; j++) {
			uint64_t v = w[j], s = (v & 0xffffffffu) - 1;
			unsigned char *p;
			uint64_t skey, sxxh;
			uint32_t sk, ref;
			if ((v >> 32) != (key >> 32) || s >= t->nslots)
				continue;
			p = slot_at(c, s);
			memcpy(&skey, p, 8);
			memcpy(&sk, p + 8, 4);
			memcpy(&ref, p + 12, 4);
			memcpy(&sxxh, p + 16, 8);
			if (skey != key || sk != c->k || sxxh != slot_sum(p, t->kcap))
				continue;
			memcpy(dist, p + SLOT_HDR, c->k * sizeof *dist);
			memcpy(ids, p + SLOT_HDR + 4 * t->kcap, c->k * sizeof *ids);
			/* CLOCK's second chance; a lost race only loses a hint */
			if (!ref) {
				uint32_t one = 1;
				if (pwrite(c->fd, &one, 4, (off_t)(p + 12 - c->map)) < 0)
					fail(c, "cannot write the cache file");
			}
			c->st.l2_hits++;
			c->d_hits++;
			l1_put(c, key, dist, ids);
			return 2;
		}
	}
	return 0;
}

void vp_cache_put(struct vp_cache *c, uint64_t key, const float *dist,
		  const int64_t *ids)
{
	const struct l2tab *t;
	unsigned char *s;
	uint32_t k32 = (uint32_t)c->k, zero = 0;
	uint64_t x;

	c->st.inserts++;
	l1_put(c, key, dist, ids);
	if (!c->map || c->tab < 0 || c->failed)
		return;
	t = &c->geo.t[c->tab];
	if (c->npend == c->pendcap) {
		size_t n = c->pendcap ? 2 * c->pendcap : 256;
		unsigned char *p = realloc(c->pend, n * t->slot_size);
		uint64_t *q = p ? realloc(c->pos, n * sizeof *q) : NULL;
		if (p)
			c->pend = p;
		if (!q) {
			fail(c, "out of memory");
			return;
		}
		c->pos = q;
		c->pendcap = n;
	}
	s = c->pend + c->npend++ * t->slot_size;
	memset(s, 0, t->slot_size);
	memcpy(s, &key, 8);
	memcpy(s + 8, &k32, 4);
	memcpy(s + 12, &zero, 4);
	memcpy(s + SLOT_HDR, dist, c->k * sizeof *dist);
	memcpy(s + SLOT_HDR + 4 * t->kcap, ids, c->k * sizeof *ids);
	x = slot_sum(s, t->kcap);
	memcpy(s + 16, &x, 8);
}

/* Index entry pos, through the shadow copy when this flush changed it. */
static uint64_t idx_get(struct vp_cache *c, uint64_t pos)
{
	size_t pg = pos * 8 / PAGE;
	if (c->pmap[pg] >= 0)
		return ((const uint64_t *)(c->shadow + (size_t)c->pmap[pg] * PAGE))[pos % (PAGE / 8)];
	return index_at(c)[pos];
}

static void idx_set(struct vp_cache *c, uint64_t pos, uint64_t v)
{
	size_t pg = pos * 8 / PAGE;
	if (c->pmap[pg] < 0) {
		c->pmap[pg] = (int32_t)c->nshadow++;
		memcpy(c->shadow + (size_t)c->pmap[pg] * PAGE,
		       (const unsigned char *)index_at(c) + pg * PAGE, PAGE);
	}
	((uint64_t *)(c->shadow + (size_t)c->pmap[pg] * PAGE))[pos % (PAGE / 8)] = v;
}

/* Points key's window at slot s: over the same key, else an empty or stale
 * entry (its slot now holds another key), else the entry whose slot the
 * hand reaches first. */
static void idx_insert(struct vp_cache *c, uint64_t key, uint64_t s, uint64_t hand)
{
	const struct l2tab *t = &c->geo.t[c->tab];
	uint64_t w = key % t->nwin, base = w * WIN, oldest_age = UINT64_MAX;
	int same = -1, free_j = -1, oldest = 0;
	for (int j = 0; j < WIN; j++) {
		uint64_t v = idx_get(c, base + (uint64_t)j), os = (v & 0xffffffffu) - 1, okey;
		if (!(v & 0xffffffffu) || os >= t->nslots) {
			if (free_j < 0)
				free_j = j;
			continue;
		}
		memcpy(&okey, slot_at(c, os), 8);
		if (okey == key) {
			same = j;
			break;
		}
		if ((okey >> 32) != (v >> 32) || okey % t->nwin != w) {
			if (free_j < 0)
				free_j = j;
			continue;
		}
		if ((os + t->nslots - hand) % t->nslots < oldest_age) {
			oldest_age = (os + t->nslots - hand) % t->nslots;
			oldest = j;
		}
	}
	idx_set(c, base + (uint64_t)(same >= 0 ? same : free_j >= 0 ? free_j : oldest),
		(key >> 32) << 32 | (s + 1));
}

/* Writes the changed index pages, consecutive ones in one pwritev. */
static int idx_write(struct vp_cache *c)
{
	const struct l2tab *t = &c->geo.t[c->tab];
	struct iovec iov[64];
	int n = 0, rc = 0;
	size_t first = 0;
	for (size_t pg = 0; pg < c->npages; pg++) {
		if (c->pmap[pg] < 0)
			continue;
		if (n && (first + (size_t)n != pg || n == 64)) {
			if (pwritev(c->fd, iov, n, (off_t)(t->idx_off + first * PAGE)) !=
			    (ssize_t)n * PAGE)
				rc = -1;
			n = 0;
		}
		if (!n)
			first = pg;
		iov[n].iov_base = c->shadow + (size_t)c->pmap[pg] * PAGE;
		iov[n++].iov_len = PAGE;
		c->pmap[pg] = -1;
	}
	if (n && pwritev(c->fd, iov, n, (off_t)(t->idx_off + first * PAGE)) != (ssize_t)n * PAGE)
		rc = -1;
	c->nshadow = 0;
	return rc;
}

/* Adds the counters since the last write to the header and sets the hand. */
static int hdr_write(struct vp_cache *c, int set_hand, uint64_t hand)
{
	struct l2hdr h;
	memcpy(&h, c->map, sizeof h);
	if (set_hand)
		h.t[c->tab].hand = hand;
	h.lookups += c->d_lookups;
	h.hits += c->d_hits;
	h.xxh = hdr_sum(&h);
	if (pwrite(c->fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		return -1;
	c->d_lookups = c->d_hits = 0;
	return 0;
}

int vp_cache_flush(struct vp_cache *c, struct vp_error *err)
{
	const struct l2tab *t;
	uint64_t hand, run0, nrun = 0, scanned = 0, maxrun;
	size_t p, first;
	int rc = 0;

	if (!c->npend || !c->map || c->failed) {
		c->npend = 0;
		return c->failed ? vp_seterr(err, VP_E_IO, "%s", c->errmsg) : 0;
	}
	t = &c->geo.t[c->tab];
	flock(c->fd, LOCK_EX);
	if (!l2_usable(c)) {
		flock(c->fd, LOCK_UN);
		c->npend = 0;
		return vp_seterr(err, VP_E_IO, "%s", c->errmsg);
	}
	maxrun = RUN_BYTES / t->slot_size ? RUN_BYTES / t->slot_size : 1;
	/* more than the table holds: the oldest would be overwritten anyway */
	first = c->npend > t->nslots ? c->npend - t->nslots : 0;
	hand = ((const struct l2hdr *)c->map)->t[c->tab].hand % t->nslots;
	run0 = hand;
	for (p = first; p < c->npend && !rc;) {
		const unsigned char *old = slot_at(c, hand);
		unsigned char *dst = c->run + nrun * t->slot_size;
		uint32_t ref;
		memcpy(&ref, old + 12, 4);
		if (ref && scanned < t->nslots) {
			/* referenced since the hand last passed: kept, flag cleared */
			memcpy(dst, old, t->slot_size);
			memset(dst + 12, 0, 4);
		} else {
			memcpy(dst, c->pend + p * t->slot_size, t->slot_size);
			c->pos[p++] = hand;
		}
		scanned++;
		nrun++;
		hand = (hand + 1) % t->nslots;
		if (nrun == maxrun || hand == 0 || p == c->npend) {
			size_t len = nrun * t->slot_size;
			if (pwrite(c->fd, c->run, len, (off_t)(t->slot_off + run0 * t->slot_size)) !=
			    (ssize_t)len)
				rc = -1;
			run0 = hand;
			nrun = 0;
		}
	}
	if (!rc) {
		/* the slots are in place: now point the index at them */
		for (p = first; p < c->npend; p++) {
			uint64_t key;
			memcpy(&key, c->pend + p * t->slot_size, 8);
			idx_insert(c, key, c->pos[p], hand);
		}
		if (idx_write(c) || hdr_write(c, 1, hand))
			rc = -1;
	} else {
		for (size_t pg = 0; pg < c->npages; pg++)
			c->pmap[pg] = -1;
		c->nshadow = 0;
	}
	flock(c->fd, LOCK_UN);
	c->npend = 0;
	if (rc) {
		char m[200];
		snprintf(m, sizeof m, "cannot write the cache file: %s", strerror(errno));
		fail(c, m);
		return vp_seterr(err, VP_E_IO, "%s", c->errmsg);
	}
	return 0;
}

/* ---- batches ---- */

static void scratch_free(struct vp_cache *c)
{
	free(c->keys);
	free(c->miss);
	free(c->dedup);
	free(c->dups);
	free(c->dupof);
	free(c->mq);
	free(c->md);
	free(c->mi);
	free(c->sd);
	free(c->si);
	free(c->srows);
	free(c->k3);
	free(c->h3);
}

/* Grows vp_cache_search's arrays to nq queries of dimension dim. */
static int scratch(struct vp_cache *c, size_t nq, size_t dim)
{
	if (nq <= c->scap && dim <= c->sdim)
		return 0;
	if (nq < c->scap)
		nq = c->scap;
	if (dim < c->sdim)
		dim = c->sdim;
	scratch_free(c);
	c->keys = malloc(nq * sizeof *c->keys);
	c->miss = malloc(nq * sizeof *c->miss);
	c->dedup = malloc(2 * nq * sizeof *c->dedup);
	c->dups = malloc(nq * sizeof *c->dups);
	c->dupof = malloc(nq * sizeof *c->dupof);
	c->mq = malloc(nq * dim * sizeof *c->mq);
	c->md = malloc(nq * c->k * sizeof *c->md);
	c->mi = malloc(nq * c->k * sizeof *c->mi);
	c->sd = malloc(nq * c->k * sizeof *c->sd);
	c->si = malloc(nq * c->k * sizeof *c->si);
	c->srows = malloc(nq * sizeof *c->srows);
	c->k3 = malloc(nq * sizeof *c->k3);
	c->h3 = malloc(nq);
	if (!c->keys || !c->miss || !c->dedup || !c->dups || !c->dupof || !c->mq ||
	    !c->md || !c->mi || !c->sd || !c->si || !c->srows || !c->k3 || !c->h3) {
		c->scap = c->sdim = 0;
		return -1;
	}
	vp_hugepage_hint(c->mq, nq * dim * sizeof *c->mq);
	c->scap = nq;
	c->sdim = dim;
	return 0;
}

int vp_cache_search(struct vp_cache *c, uint64_t seed, const float *q,
		    size_t nq, size_t dim, vp_cache_search_fn fn, void *ctx,
		    float *dist, int64_t *ids, struct vp_error *err)
{
	size_t k = c->k, nmiss = 0, ndup = 0, tsize = 2 * nq;
	struct vp_error ferr = { 0 };
	int rc;

	c->nmiss = 0;
	if (!nq)
		return 0;
	if (scratch(c, nq, dim))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	memset(c->dedup, 0xff, tsize * sizeof *c->dedup);
	vp_cache_begin(c);
	for (size_t i = 0; i < nq; i++) {
		uint64_t key = XXH64(q + i * dim, dim * sizeof *q, seed);
		size_t h;
		c->keys[i] = key;
		if (vp_cache_get(c, key, dist + i * k, ids + i * k))
			continue;
		/* a repeat within this batch is searched once */
		for (h = key % tsize; c->dedup[h] != SIZE_MAX &&
		     c->keys[c->miss[c->dedup[h]]] != key; h = (h + 1) % tsize)
			;
		if (c->dedup[h] != SIZE_MAX) {
			c->dupof[ndup] = c->dedup[h];
			c->dups[ndup++] = i;
			continue;
		}
		c->dedup[h] = nmiss;
		c->miss[nmiss++] = i;
	}
	vp_cache_end(c);
	c->nmiss = nmiss;
	c->nsearched = 0;
	if (nmiss) {
		size_t nrem = 0;
		/* L3: every miss in one round trip, answers straight into md/mi */
		if (c->l3) {
			for (size_t j = 0; j < nmiss; j++)
				c->k3[j] = c->keys[c->miss[j]];
			c->st.l3_hits += vp_l3_get(c->l3, c->k3, nmiss, k, c->md, c->mi, k, c->h3);
			c->st.l3_lookups += nmiss;
		} else
			memset(c->h3, 0, nmiss);
		for (size_t j = 0; j < nmiss; j++)
			if (!c->h3[j])
				c->srows[nrem++] = j;
		if (nrem == nq) {
			/* nothing answered (a cold cache): search the batch in place */
			if ((rc = fn(ctx, q, nq, c->md, c->mi, err)))
				return rc;
			/* L3 stores from sd/si, in search order: here that is md/mi */
			if (c->l3) {
				memcpy(c->sd, c->md, nq * k * sizeof *c->sd);
				memcpy(c->si, c->mi, nq * k * sizeof *c->si);
			}
		} else if (nrem) {
			for (size_t r = 0; r < nrem; r++)
				memcpy(c->mq + r * dim, q + c->miss[c->srows[r]] * dim, dim * sizeof *q);
			if ((rc = fn(ctx, c->mq, nrem, c->sd, c->si, err)))
				return rc;
			for (size_t r = 0; r < nrem; r++) {
				memcpy(c->md + c->srows[r] * k, c->sd + r * k, k * sizeof *dist);
				memcpy(c->mi + c->srows[r] * k, c->si + r * k, k * sizeof *ids);
			}
		}
		for (size_t j = 0; j < nmiss; j++) {
			memcpy(dist + c->miss[j] * k, c->md + j * k, k * sizeof *dist);
			memcpy(ids + c->miss[j] * k, c->mi + j * k, k * sizeof *ids);
			vp_cache_put(c, c->keys[c->miss[j]], c->md + j * k, c->mi + j * k);
		}
		/* what was searched goes to L3 for the other machines */
		if (c->l3 && nrem) {
			for (size_t r = 0; r < nrem; r++)
				c->k3[r] = c->keys[c->miss[c->srows[r]]];
			vp_l3_put(c->l3, c->k3, nrem, k, c->sd, c->si, k);
		}
		/* the rows fn saw, as batch rows */
		for (size_t r = 0; r < nrem; r++)
			c->srows[r] = c->miss[c->srows[r]];
		c->nsearched = nrem;
	}
	for (size_t j = 0; j < ndup; j++) {
		memcpy(dist + c->dups[j] * k, c->md + c->dupof[j] * k, k * sizeof *dist);
		memcpy(ids + c->dups[j] * k, c->mi + c->dupof[j] * k, k * sizeof *ids);
	}
	/* repeats within the batch were answered from memory */
	c->st.l1_hits += ndup;
	c->d_hits += ndup;
	/* a cache that cannot be written only stops caching: vp_cache_error */
	vp_cache_flush(c, &ferr);
	return 0;
}

const size_t *vp_cache_searched(const struct vp_cache *c, size_t *n)
{
	*n = c->nsearched;
	return c->srows;
}

void vp_cache_set_l3(struct vp_cache *c, struct vp_l3 *l3)
{
	c->l3 = l3;
}

const char *vp_cache_error(const struct vp_cache *c)
{
	return c->failed ? c->errmsg : NULL;
}

const struct vp_cache_stats *vp_cache_stats(const struct vp_cache *c)
{
	return &c->st;
}

double vp_cache_lookup_us(size_t dim)
{
	static double per_byte_ns = -1;
	if (per_byte_ns < 0) {
		static float v[4096];
		uint64_t t0 = vp_now_nsec(), acc = 0;
		for (int r = 0; r < 200; r++)
			acc += XXH64(v, sizeof v, (uint64_t)r);
		per_byte_ns = (double)(vp_now_nsec() - t0) / 200.0 / (double)sizeof v;
		if (acc == 42) /* keep the loop */
			per_byte_ns += 1e-12;
	}
	/* the hash, then a cache line of index and one slot, likely misses */
	return per_byte_ns * (double)dim * sizeof(float) / 1e3 + 0.3;
}

void vp_cache_close(struct vp_cache *c)
{
	struct vp_error err;
	if (!c)
		return;
	if (c->map && c->tab >= 0 && !c->failed) {
		vp_cache_flush(c, &err);
		if ((c->d_lookups || c->d_hits) && !c->failed) {
			flock(c->fd, LOCK_EX);
			if (l2_usable(c) && hdr_write(c, 0, 0))
				fail(c, "cannot write the cache file");
			flock(c->fd, LOCK_UN);
		}
	}
	free(c->e);
	free(c->l1d);
	free(c->l1i);
	free(c->buckets);
	free(c->pend);
	free(c->pos);
	free(c->run);
	free(c->pmap);
	free(c->shadow);
	scratch_free(c);
	if (c->map)
		munmap(c->map, c->maplen);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}
