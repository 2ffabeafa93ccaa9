/*
 * vp_index: write (temp file, fsync, rename) and open (mmap, validate) the
 * container described in man/vp-index.5.  Every field is little-endian; the
 * encoders below spell out each offset so the layout is visible in one place.
 */
#include "vp_index.h"
#include "vp_hw.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xxhash.h>

#include "vp_io.h"

static const char *const type_names[] = {
	"unknown", "FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "SCANN",
};

int vp_index_type_parse(const char *s)
{
	for (int i = 1; i <= VP_TYPE_SCANN; i++)
		if (s && !strcasecmp(s, type_names[i]))
			return i;
	return -1;
}

const char *vp_index_type_name(int type)
{
	return type_names[(type >= 1 && type <= VP_TYPE_SCANN) ? type : 0];
}

/* Header layout (offsets in bytes). */
enum {
	H_MAGIC = 0, H_MAJOR = 8, H_MINOR = 10, H_HSIZE = 12, H_METRIC = 16,
	H_DIM = 20, H_COUNT = 24, H_TYPE = 32, H_NSEC = 36, H_TABLE = 40,
	H_FSIZE = 48, H_BUILD = 56, H_CREATED = 64, H_SEED = 72, H_PARAMS = 80,
	H_TABLE_XXH = 176, H_RESERVED = 184, H_XXH = 248,
};
/* Section entry layout. */
enum {
	E_NAME = 0, E_OFFSET = 16, E_LENGTH = 24, E_XXH = 32, E_SEGMENT = 40,
	E_RESERVED = 44,
};

static void put16(unsigned char *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = v >> (8 * i); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = v >> (8 * i); }
static uint16_t get16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}
static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Removes ".BASE.tmp.PID.*" files in dir whose writer process is gone
 * (killed with -9, or the machine restarted): a writer that dies cleanly
 * removes its own.  A file of a live process, or of one on another
 * machine sharing the directory whose pid happens to exist here, stays. */
static void remove_stale(const char *dir, const char *base)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	size_t bl = strlen(base);
	if (!dh)
		return;
	while ((e = readdir(dh))) {
		const char *p = e->d_name;
		char *end;
		long pid;
		if (p[0] != '.' || strncmp(p + 1, base, bl) || strncmp(p + 1 + bl, ".tmp.", 5))
			continue;
		pid = strtol(p + 1 + bl + 5, &end, 10);
		if (end == p + 1 + bl + 5 || *end != '.' || pid <= 0)
			continue;
		if (kill((pid_t)pid, 0) && errno == ESRCH) {
			char full[4096];
			snprintf(full, sizeof full, "%s/%s", dir, p);
			unlink(full);
		}
	}
	closedir(dh);
}

int vp_index_writer_open(struct vp_index_writer *w, const char *path,
			 struct vp_error *err)
{
	char *dcopy, *bcopy;
	size_t n;

	memset(w, 0, sizeof *w);
	w->fd = -1;
	w->path = strdup(path);
	dcopy = strdup(path);
	bcopy = strdup(path);
	n = strlen(path) + 48;
	w->tmp_path = malloc(n);
	if (!w->path || !dcopy || !bcopy || !w->tmp_path) {
		free(dcopy);
		free(bcopy);
		vp_index_writer_abort(w);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	/* same directory, so rename() is atomic; the name carries the pid,
	 * so that a later writer can tell a killed one's leftovers */
	{
		const char *dir = dirname(dcopy), *base = basename(bcopy);
		snprintf(w->tmp_path, n, "%s/.%s.tmp.%ld.XXXXXX", dir, base, (long)getpid());
		remove_stale(dir, base);
	}
	free(dcopy);
	free(bcopy);
	w->fd = mkstemp(w->tmp_path);
	if (w->fd < 0) {
		int e = errno;
		free(w->tmp_path);
		w->tmp_path = NULL;
		vp_index_writer_abort(w);
		return vp_seterr_errno(err, VP_E_IO, e, "%s: cannot create "
				       "temporary file", path);
	}
	{
		/* mkstemp makes 0600; an index is as readable as any file */
		mode_t um = umask(0);
		umask(um);
		fchmod(w->fd, 0666 & ~um);
	}
	return 0;
}

void vp_index_writer_abort(struct vp_index_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_path)
		unlink(w->tmp_path);
	free(w->tmp_path);
	free(w->path);
	memset(w, 0, sizeof *w);
	w->fd = -1;
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len > (1u << 30) ? (1u << 30) : len,
				   (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) { /* no progress: would loop forever */
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int vp_index_writer_commit(struct vp_index_writer *w,
			   const struct vp_index_header *h,
			   const struct vp_section_src *secs, size_t nsecs,
			   struct vp_error *err)
{
	unsigned char hdr[VP_INDEX_HEADER_SIZE] = { 0 };
	unsigned char *table;
	uint64_t off, table_off = VP_INDEX_HEADER_SIZE;
	size_t tsize = nsecs * VP_INDEX_ENTRY_SIZE;
	int rc = 0, dfd;
	char *dcopy;

	if (nsecs > VP_INDEX_MAX_SECTIONS)
		return vp_seterr(err, VP_E_ARG, "too many sections (%zu)", nsecs);
	table = calloc(1, tsize ? tsize : 1);
	if (!table)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	off = table_off + tsize;
	for (size_t i = 0; i < nsecs; i++) {
		unsigned char *e = table + i * VP_INDEX_ENTRY_SIZE;
		uint64_t a = secs[i].align >= 64 ? secs[i].align : 64;
		if (strlen(secs[i].name) > VP_SECTION_NAME_MAX) {
			rc = vp_seterr(err, VP_E_ARG, "section name too long: %s",
				       secs[i].name);
			goto out;
		}
		off = align_up(off, a);
		memcpy(e + E_NAME, secs[i].name, strlen(secs[i].name));
		put64(e + E_OFFSET, off);
		put64(e + E_LENGTH, secs[i].length);
		put64(e + E_XXH, XXH64(secs[i].data, secs[i].length, 0));
		put32(e + E_SEGMENT, secs[i].segment);
		if (pwrite_all(w->fd, secs[i].data, secs[i].length, off)) {
			rc = vp_seterr_errno(err, VP_E_IO, errno, "%s: write",
					     w->path);
			goto out;
		}
		off += secs[i].length;
	}
	memcpy(hdr + H_MAGIC, VP_INDEX_MAGIC, 8);
	put16(hdr + H_MAJOR, VP_INDEX_MAJOR);
	put16(hdr + H_MINOR, VP_INDEX_MINOR);
	put32(hdr + H_HSIZE, VP_INDEX_HEADER_SIZE);
	put32(hdr + H_METRIC, h->metric);
	put32(hdr + H_DIM, h->dim);
	put64(hdr + H_COUNT, h->count);
	put32(hdr + H_TYPE, h->type);
	put32(hdr + H_NSEC, (uint32_t)nsecs);
	put64(hdr + H_TABLE, table_off);
	put64(hdr + H_FSIZE, off);
	put64(hdr + H_BUILD, h->build_usec);
	put64(hdr + H_CREATED, h->created);
	put64(hdr + H_SEED, h->seed);
	for (int i = 0; i < VP_INDEX_NPARAMS; i++)
		put64(hdr + H_PARAMS + 8 * i, (uint64_t)h->params[i]);
	put64(hdr + H_TABLE_XXH, XXH64(table, tsize, 0));
	put64(hdr + H_XXH, XXH64(hdr, H_XXH, 0));
	if (pwrite_all(w->fd, table, tsize, table_off) ||
	    pwrite_all(w->fd, hdr, sizeof hdr, 0) ||
	    ftruncate(w->fd, (off_t)off) || fsync(w->fd)) {
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s: write", w->path);
		goto out;
	}
	if (close(w->fd)) {
		w->fd = -1;
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s: close", w->path);
		goto out;
	}
	w->fd = -1;
	if (rename(w->tmp_path, w->path)) {
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s: rename", w->path);
		goto out;
	}
	free(w->tmp_path);
	w->tmp_path = NULL;
	/* make the rename itself durable */
	dcopy = strdup(w->path);
	if (dcopy) {
		dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dcopy);
	}
out:
	free(table);
	if (rc)
		vp_index_writer_abort(w);
	else {
		free(w->path);
		w->path = NULL;
	}
	return rc;
}

static int bad(struct vp_error *err, const char *path, const char *what,
	       unsigned long long a, unsigned long long b)
{
	char m[200];
	snprintf(m, sizeof m, what, a, b);
	return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: %s", path, m);
}

/* Maps an index read-only and shared.  With huge pages on (the default,
 * hardware.huge_pages) a large file is mapped at a 2 MB boundary and
 * advised MADV_HUGEPAGE, so a kernel with huge pages for the page cache
 * can map it with 2 MB entries (fewer TLB misses on random reads); it
 * reports them as FilePmdMapped (vp-search --stats). */
static void *map_index(int fd, size_t size, int tight)
{
	const size_t huge = 2u << 20;
	unsigned char *r, *a, *m;
	if (!vp_hw_huge_pages() || size < 2 * huge || tight)
		return mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	r = mmap(NULL, size + huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	a = (unsigned char *)(((uintptr_t)r + huge - 1) & ~(uintptr_t)(huge - 1));
	m = mmap(a, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
	if (m == MAP_FAILED) {
		munmap(r, size + huge);
		return mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	}
	/* give back the reservation around the file's pages */
	if (a > r)
		munmap(r, (size_t)(a - r));
	{
		long pg = sysconf(_SC_PAGESIZE);
		uintptr_t end = ((uintptr_t)a + size + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
		if (end < (uintptr_t)r + size + huge)
			munmap((void *)end, (uintptr_t)r + size + huge - end);
	}
#ifdef MADV_HUGEPAGE
	madvise(m, size & ~(huge - 1), MADV_HUGEPAGE);
#endif
	return m;
}

int vp_index_open(struct vp_index *ix, const char *path, struct vp_error *err)
{
	struct stat st;
	const unsigned char *h, *table;
	uint64_t table_off, tsize, fsize;
	int fd, rc;
	void *m;

	memset(ix, 0, sizeof *ix);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vp_seterr_errno(err, VP_E_IO, errno, "%s", path);
	if (fstat(fd, &st)) {
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return vp_seterr(err, VP_E_IO, "%s: not a regular file", path);
	}
	if (st.st_size < VP_INDEX_HEADER_SIZE) {
		close(fd);
		return vp_seterr(err, VP_E_FORMAT, "%s: not a vp index (%lld "
				 "bytes, too small)", path, (long long)st.st_size);
	}
	/* an index that does not fit the memory it may use is read at random:
	 * readahead (and 2 MB folios) would only evict the pages the next
	 * query needs; with a cgroup limit at 60% of an HNSW index, 1000
	 * queries took minutes instead of a second */
	{
		struct vp_cgroup cg;
		uint64_t limit;
		vp_cgroup_get(&cg);
		limit = cg.mem ? cg.mem : (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
		ix->tight = limit && (uint64_t)st.st_size > limit / 2;
	}
	m = map_index(fd, (size_t)st.st_size, ix->tight);
	close(fd);
	if (m == MAP_FAILED)
		return vp_seterr_errno(err, VP_E_IO, errno, "%s: mmap", path);
	ix->map = m;
	ix->size = (size_t)st.st_size;
	ix->path = strdup(path);
	/* the header and the table are all opening reads: without this, the
	 * first touch of each reads ahead megabytes around it, and a cold
	 * index looks half-warm to vp-warmup's plan and to --residency */
	madvise(m, ix->size, MADV_RANDOM);
	h = ix->map;
	if (memcmp(h + H_MAGIC, VP_INDEX_MAGIC, 8)) {
		rc = vp_seterr(err, VP_E_FORMAT, "%s: not a vp index (bad magic)",
			       path);
		goto fail;
	}
	ix->hdr.major = get16(h + H_MAJOR);
	ix->hdr.minor = get16(h + H_MINOR);
	if (ix->hdr.major != VP_INDEX_MAJOR) {
		rc = vp_seterr(err, VP_E_VERSION, "%s: index format version %u.%u "
			       "is not supported (this vp reads %u.x)", path,
			       ix->hdr.major, ix->hdr.minor, VP_INDEX_MAJOR);
		goto fail;
	}
	if (get64(h + H_XXH) != XXH64(h, H_XXH, 0)) {
		rc = bad(err, path, "header checksum mismatch%.0llu%.0llu", 0, 0);
		goto fail;
	}
	if (get32(h + H_HSIZE) != VP_INDEX_HEADER_SIZE) {
		rc = bad(err, path, "header size %llu, expected %llu",
			 get32(h + H_HSIZE), VP_INDEX_HEADER_SIZE);
		goto fail;
	}
	if (!all_zero(h + H_RESERVED, H_XXH - H_RESERVED)) {
		rc = bad(err, path, "reserved header bytes are not zero%.0llu%.0llu",
			 0, 0);
		goto fail;
	}
	fsize = get64(h + H_FSIZE);
	if (fsize != ix->size) {
		rc = vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: file is %zu "
			       "bytes, header says %llu (truncated?)", path,
			       ix->size, (unsigned long long)fsize);
		goto fail;
	}
	ix->hdr.metric = get32(h + H_METRIC);
	ix->hdr.dim = get32(h + H_DIM);
	ix->hdr.count = get64(h + H_COUNT);
	ix->hdr.type = get32(h + H_TYPE);
	ix->hdr.build_usec = get64(h + H_BUILD);
	ix->hdr.created = get64(h + H_CREATED);
	ix->hdr.seed = get64(h + H_SEED);
	for (int i = 0; i < VP_INDEX_NPARAMS; i++)
		ix->hdr.params[i] = (int64_t)get64(h + H_PARAMS + 8 * i);
	if (ix->hdr.metric > 2) {
		rc = bad(err, path, "unknown metric %llu%.0llu", ix->hdr.metric, 0);
		goto fail;
	}
	if (ix->hdr.type < 1 || ix->hdr.type > VP_TYPE_SCANN) {
		rc = bad(err, path, "unknown index type %llu%.0llu", ix->hdr.type, 0);
		goto fail;
	}
	if (ix->hdr.dim < 1 || ix->hdr.dim > VP_DIM_MAX || ix->hdr.count < 1 ||
	    ix->hdr.count > (1ull << 40)) {
		rc = bad(err, path, "dimension %llu or count %llu out of range",
			 ix->hdr.dim, (unsigned long long)ix->hdr.count);
		goto fail;
	}
	ix->nsections = get32(h + H_NSEC);
	table_off = get64(h + H_TABLE);
	tsize = (uint64_t)ix->nsections * VP_INDEX_ENTRY_SIZE;
	if (ix->nsections > VP_INDEX_MAX_SECTIONS ||
	    table_off != VP_INDEX_HEADER_SIZE || table_off + tsize > ix->size) {
		rc = bad(err, path, "section table (%llu entries at offset %llu) "
			 "out of bounds", ix->nsections, (unsigned long long)table_off);
		goto fail;
	}
	table = ix->map + table_off;
	if (get64(h + H_TABLE_XXH) != XXH64(table, tsize, 0)) {
		rc = bad(err, path, "section table checksum mismatch%.0llu%.0llu",
			 0, 0);
		goto fail;
	}
	ix->sections = calloc(ix->nsections ? ix->nsections : 1,
			      sizeof *ix->sections);
	if (!ix->sections) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < ix->nsections; i++) {
		const unsigned char *e = table + (uint64_t)i * VP_INDEX_ENTRY_SIZE;
		struct vp_section *s = &ix->sections[i];
		uint64_t end;
		if (e[VP_SECTION_NAME_MAX] != 0 || !e[0] ||
		    !all_zero(e + E_RESERVED, VP_INDEX_ENTRY_SIZE - E_RESERVED)) {
			rc = bad(err, path, "section entry %llu is malformed%.0llu",
				 i, 0);
			goto fail;
		}
		memcpy(s->name, e + E_NAME, VP_SECTION_NAME_MAX + 1);
		s->offset = get64(e + E_OFFSET);
		s->length = get64(e + E_LENGTH);
		s->xxh64 = get64(e + E_XXH);
		s->segment = get32(e + E_SEGMENT);
		if (s->offset % 64 || s->offset < table_off + tsize ||
		    __builtin_add_overflow(s->offset, s->length, &end) ||
		    end > ix->size) {
			rc = vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: "
				       "section '%s' (offset %llu, length %llu) "
				       "out of bounds", path, s->name,
				       (unsigned long long)s->offset,
				       (unsigned long long)s->length);
			goto fail;
		}
		/* sections are written in offset order and must not overlap */
		if (i > 0 && s->offset < ix->sections[i - 1].offset +
					 ix->sections[i - 1].length) {
			rc = vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: "
				       "section '%s' overlaps '%s'", path,
				       s->name, ix->sections[i - 1].name);
			goto fail;
		}
	}
	/* searches scan: readahead pays from here on, unless it cannot fit */
	madvise(m, ix->size, ix->tight ? MADV_RANDOM : MADV_NORMAL);
	return 0;
fail:
	vp_index_close(ix);
	return rc;
}

int vp_index_verify(const struct vp_index *ix, struct vp_error *err)
{
	for (uint32_t i = 0; i < ix->nsections; i++) {
		const struct vp_section *s = &ix->sections[i];
		if (XXH64(ix->map + s->offset, s->length, 0) != s->xxh64)
			return vp_seterr(err, VP_E_CORRUPT, "%s: checksum mismatch "
					 "in section '%s' (segment %u)", ix->path,
					 s->name, s->segment);
	}
	return 0;
}

const struct vp_section *vp_index_find(const struct vp_index *ix,
				       const char *name, uint32_t seg)
{
	for (uint32_t i = 0; i < ix->nsections; i++)
		if (ix->sections[i].segment == seg &&
		    !strcmp(ix->sections[i].name, name))
			return &ix->sections[i];
	return NULL;
}

int vp_index_need(const struct vp_index *ix, const char *name, uint32_t seg,
		  uint64_t want, const void **out, struct vp_error *err)
{
	const struct vp_section *s = vp_index_find(ix, name, seg);
	if (!s)
		return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: section "
				 "'%s' (segment %u) is missing", ix->path, name,
				 seg);
	if (s->length != want)
		return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: section "
				 "'%s' is %llu bytes, expected %llu", ix->path,
				 name, (unsigned long long)s->length,
				 (unsigned long long)want);
	*out = vp_index_data(ix, s);
	return 0;
}

int vp_prefetch_ready(struct vp_index *ix)
{
	struct vp_prefetch *pf = &ix->pf;
	long pg = sysconf(_SC_PAGESIZE);
	if (pf->seen || !ix->map)
		return 0;
	pf->pshift = 0;
	while ((1l << pf->pshift) < pg)
		pf->pshift++;
	pf->npages = (ix->size + ((size_t)1 << pf->pshift) - 1) >> pf->pshift;
	pf->seen = calloc(pf->npages ? pf->npages : 1, 1);
	pf->map = ix->map;
	return pf->seen ? 0 : VP_E_NOMEM;
}

void vp_prefetch(const struct vp_prefetch *pf, const void *p, size_t len)
{
	size_t a, b;
	if (!pf->seen || !len)
		return;
	a = (size_t)((const unsigned char *)p - pf->map) >> pf->pshift;
	b = (size_t)((const unsigned char *)p + len - 1 - pf->map) >> pf->pshift;
	for (size_t q = a; q <= b && q < pf->npages; q++) {
		enum { BLOCK = 64 };
		unsigned char in[BLOCK];
		size_t q0 = q / BLOCK * BLOCK, nb = pf->npages - q0 < BLOCK ? pf->npages - q0 : BLOCK;
		if (__atomic_load_n(&pf->seen[q], __ATOMIC_RELAXED))
			continue;
		/* the residency of the aligned block around it at once: when
		 * warm, one call marks up to 64 pages (a first call per page
		 * added 30 us to HNSW's p99 over 10000 fresh queries) */
		if (mincore((void *)(pf->map + (q0 << pf->pshift)), nb << pf->pshift, in))
			memset(in, 0, sizeof in);
		for (size_t j = 0; j < nb; j++)
			if (in[j] & 1)
				__atomic_store_n(&pf->seen[q0 + j], 1, __ATOMIC_RELAXED);
		if (!(in[q - q0] & 1)) {
			madvise((void *)(pf->map + (q << pf->pshift)), (size_t)1 << pf->pshift,
				MADV_WILLNEED);
			__atomic_store_n(&pf->seen[q], 1, __ATOMIC_RELAXED);
		}
	}
}

/* The most the kernel's readahead can have asked for past the page just
 * faulted in a file on device dev: a window of read_ahead_kb queued
 * ahead of the one being read, so twice it, and the 2 MB block a huge
 * fault reads with it; 0 where the device has no queue in sysfs (a
 * network or overlay file system). */
static uint64_t readahead_reach(dev_t dev)
{
	char path[96];
	const char *fmt[] = { "/sys/dev/block/%u:%u/queue/read_ahead_kb",
			      "/sys/dev/block/%u:%u/../queue/read_ahead_kb" };
	for (int i = 0; i < 2; i++) {
		unsigned long long kb;
		FILE *f;
		int ok;
		snprintf(path, sizeof path, fmt[i], major(dev), minor(dev));
		if (!(f = fopen(path, "r")))
			continue;
		ok = fscanf(f, "%llu", &kb) == 1;
		fclose(f);
		if (ok && kb <= (1ull << 30))
			return (2 * kb * 1024 + VP_BLOCK - 1) / VP_BLOCK * VP_BLOCK + VP_BLOCK;
	}
	return 0;
}

int vp_blocks_open(struct vp_blocks *b, const struct vp_index *ix)
{
	int fd;
	struct stat st;
	memset(b, 0, sizeof *b);
	if (!vp_hw_huge_pages() || ix->tight || ix->size < 2 * VP_BLOCK ||
	    sysconf(_SC_PAGESIZE) != 4096)
		return -1;
	fd = open(ix->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	b->tail = fstat(fd, &st) ? 0 : readahead_reach(st.st_dev);
	b->map = map_index(fd, ix->size, 0);
	close(fd);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return -1;
	}
	b->size = ix->size;
	/* MADV_HUGEPAGE fails without transparent huge pages: then a fault
	 * would read a page, not a block.  Advised to the file's end, its
	 * last part block too (map_index stops at the last whole one): a
	 * fault there then reads it to the end in a few large folios
	 * (0.7-0.8 ms for 1.4 MB, against 31-33 ms a page at a time; AMD
	 * EPYC, virtio disk) */
	if (((uintptr_t)b->map & (VP_BLOCK - 1)) ||
	    madvise(b->map, b->size, MADV_HUGEPAGE) ||
	    madvise(b->map, b->size, MADV_RANDOM)) {
		vp_blocks_close(b);
		return -1;
	}
	return 0;
}

void vp_blocks_read(const struct vp_blocks *b, uint64_t off)
{
	enum { PAGES = VP_BLOCK / 4096 };
	const unsigned char *p = b->map + off;
	unsigned char in[PAGES];
	volatile unsigned char sink;
	size_t n;
	if (!b->map || off % VP_BLOCK || off >= b->size)
		return;
	/* the file's last block may be a part one */
	n = b->size - off < VP_BLOCK ? (size_t)(b->size - off) : VP_BLOCK;
	/* MADV_RANDOM: the huge-page path of a fault reads the next block
	 * too without it */
	sink = p[0];
	if (mincore((void *)p, n, in))
		memset(in, 0, sizeof in);
	for (size_t i = 1; i < (n + 4095) / 4096; i++)
		if (!(in[i] & 1))
			sink = p[i * 4096];
	(void)sink;
}

void vp_blocks_stream(const struct vp_blocks *b, uint64_t off, uint64_t len)
{
	uint64_t cut = off;
	if (!b->map || off % VP_BLOCK || off + len > b->size ||
	    (len % VP_BLOCK && off + len != b->size))
		return;
	/* a run to the file's end has nothing past it for readahead to
	 * bring in: all of it through readahead.  Measured (HNSW's plan,
	 * 60 MB to the end of a 247 MB file, AMD EPYC, virtio disk): its
	 * last 20 MB took 7 ms as blocks */
	if (b->tail && off + len == b->size)
		cut = off + len;
	else if (b->tail && len > b->tail + 2 * VP_BLOCK)
		/* worth it past a few blocks: below, the blocks alone */
		cut = (off + len - b->tail) & ~(uint64_t)(VP_BLOCK - 1);
	if (cut > off) {
		unsigned char *p = b->map + off;
		madvise(p, cut - off, MADV_NORMAL);
#ifdef MADV_POPULATE_READ
		if (madvise(p, cut - off, MADV_POPULATE_READ) && errno == EINVAL)
#endif
		{
			/* before Linux 5.14: a touch a page (another error, a
			 * read that failed, leaves the pages to the search) */
			volatile unsigned char sink;
			for (uint64_t o = 0; o < cut - off; o += 4096)
				sink = p[o];
			(void)sink;
		}
		madvise(p, cut - off, MADV_RANDOM);
	}
	for (uint64_t a = cut; a < off + len; a += VP_BLOCK)
		vp_blocks_read(b, a);
}

void vp_blocks_close(struct vp_blocks *b)
{
	if (b->map)
		munmap(b->map, b->size);
	memset(b, 0, sizeof *b);
}

uint64_t vp_index_checksum(const struct vp_index *ix)
{
	return get64(ix->map + H_XXH);
}

void vp_index_close(struct vp_index *ix)
{
	free(ix->pf.seen);
	if (ix->map)
		munmap((void *)ix->map, ix->size);
	free(ix->sections);
	free(ix->path);
	memset(ix, 0, sizeof *ix);
}
