/*
 * vp_index: the index container, specified in man/vp-index.5.
 *
 * One file, made for mmap: a 256-byte header (magic, version, metric,
 * dimension, count, index type and parameters, checksums), a table of named
 * sections, then the sections, each 64-byte aligned (vectors page-aligned)
 * with its own xxHash64.  Writing goes to a temporary file in the target's
 * directory which is fsync'd and renamed over the target, so readers see the
 * old index or the new one, never half of one.  Opening maps the file
 * read-only and shared, and validates every offset and length before any is
 * used; vp_index_verify checks every section's checksum.
 */
#ifndef VP_INDEX_H
#define VP_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

#define VP_INDEX_MAGIC "VPINDEX\032"
#define VP_INDEX_MAJOR 1
#define VP_INDEX_MINOR 0
#define VP_INDEX_HEADER_SIZE 256
#define VP_INDEX_ENTRY_SIZE 64
#define VP_INDEX_NPARAMS 12
#define VP_INDEX_MAX_SECTIONS 65536
#define VP_SECTION_NAME_MAX 15

enum vp_index_type {
	VP_TYPE_FLAT = 1,
	VP_TYPE_IVF_FLAT = 2,
	VP_TYPE_IVF_SQ8 = 3,
	VP_TYPE_IVF_PQ = 4,
	VP_TYPE_HNSW = 5,
	VP_TYPE_SCANN = 6,
};

/* Parses "FLAT", "IVF_FLAT", ... (case-insensitive); returns the type or -1. */
int vp_index_type_parse(const char *s);
/* Returns "FLAT", ... or "unknown". */
const char *vp_index_type_name(int type);

struct vp_index_header {
	uint16_t major, minor;
	uint32_t metric;     /* enum vp_metric */
	uint32_t dim;
	uint32_t type;       /* enum vp_index_type */
	uint64_t count;      /* vectors in the index */
	uint64_t build_usec; /* wall time of the build */
	uint64_t created;    /* unix time of the build */
	uint64_t seed;
	int64_t params[VP_INDEX_NPARAMS]; /* meaning set by the index type */
};

struct vp_section {
	char name[VP_SECTION_NAME_MAX + 1];
	uint32_t segment;
	uint64_t offset, length, xxh64;
};

/* A section to write: data, length, alignment (64 or 4096). */
struct vp_section_src {
	const char *name;
	uint32_t segment;
	uint32_t align;
	const void *data;
	uint64_t length;
};

struct vp_index_writer {
	char *path;     /* target */
	char *tmp_path; /* the temporary file being written; NULL once done */
	int fd;
};

/* Creates the temporary file next to path.  After this, tmp_path names a
 * file a signal handler may unlink.  Returns 0 or VP_E_IO. */
int vp_index_writer_open(struct vp_index_writer *w, const char *path,
			 struct vp_error *err);

/* Writes header, table and sections, fsyncs, renames over the target and
 * fsyncs the directory.  Returns 0 or a negative VP_E_*; on failure the
 * target is untouched and the temporary file removed. */
int vp_index_writer_commit(struct vp_index_writer *w,
			   const struct vp_index_header *h,
			   const struct vp_section_src *secs, size_t nsecs,
			   struct vp_error *err);

/* Removes the temporary file if still there and frees w. */
void vp_index_writer_abort(struct vp_index_writer *w);

/* What vp_prefetch needs: a byte a page of the mapping, set once the page
 * was seen resident or asked for.  Families keep a copy (the pointers
 * stay valid while the index is open). */
struct vp_prefetch {
	unsigned char *seen;
	const unsigned char *map;
	size_t npages;
	unsigned pshift;
};

struct vp_index {
	char *path;
	const unsigned char *map;
	size_t size;
	struct vp_index_header hdr;
	uint32_t nsections;
	struct vp_section *sections;
	/* set by vp_searcher_open(VP_OPEN_LAYOUT): the per-type opens check
	 * section sizes but not every row (links, ids), which would read the
	 * file; for planners that only need where things are, never search */
	int layout_only;
	/* larger than half the memory this process may use (cgroup limit, else
	 * the machine's): mapped without huge pages and read at random */
	int tight;
	struct vp_prefetch pf;  /* vp_prefetch_ready */
};

/* Maps path read-only and validates header, table and every section's
 * bounds (not the checksums).  Returns 0 or a negative VP_E_*: VP_E_IO,
 * VP_E_FORMAT (not an index), VP_E_VERSION, VP_E_CORRUPT. */
int vp_index_open(struct vp_index *ix, const char *path, struct vp_error *err);

/* The header's own checksum (its last 8 bytes), which covers the section
 * table's and so every section's: one value naming this build of the
 * index (result-cache keys, saved warm-up plans). */
uint64_t vp_index_checksum(const struct vp_index *ix);

/* Before a search reads a few scattered rows of the mapping (an IVF_FLAT
 * screen's candidates, a coded HNSW walk's re-ranks), call this for each:
 * pages not yet seen resident are checked (mincore) and the cold ones
 * asked for at once (MADV_WILLNEED), so that their reads overlap instead
 * of faulting one after another (ten cold pages on a virtio disk: 120
 * against 630 us).  A page seen once is not checked again: when warm this
 * costs a load a row; a page evicted since faults as it would have.
 * Safe from several threads; a no-op before vp_prefetch_ready. */
void vp_prefetch(const struct vp_prefetch *pf, const void *p, size_t len);

/* Allocates ix->pf (vp_searcher_open does, before the families open).
 * Returns 0 or VP_E_NOMEM. */
int vp_prefetch_ready(struct vp_index *ix);

/* A second mapping of an index for reading it in 2 MB blocks, each into
 * the page cache as one 2 MB folio: a fault through a mapping advised
 * MADV_HUGEPAGE and MADV_RANDOM reads that block and nothing around it.
 * A process that maps the index later maps such a block with one 2 MB
 * entry: a fault a block, not one every 64 KB, and fewer TLB misses.
 * Reading by page (a plan's scattered ranges) makes 4 KB folios, mapped
 * 4 KB at a time.  Measured (Fashion-MNIST HNSW, 247 MB, a 50% plan,
 * Linux 6.18): 52 MB of it mapped in 2 MB entries afterwards, none
 * before. */
struct vp_blocks {
	unsigned char *map;
	size_t size;
	uint64_t tail; /* vp_blocks_stream: what a run ends with, read as blocks */
};

#define VP_BLOCK ((size_t)2 << 20)

/* Maps ix's file for vp_blocks_read.  Returns 0, or -1 where blocks are
 * not to be had (huge pages off, an index that does not fit memory
 * (ix->tight), a kernel without transparent huge pages, a file under two
 * blocks): read the usual way then. */
int vp_blocks_open(struct vp_blocks *b, const struct vp_index *ix);

/* Reads the block at off (a multiple of VP_BLOCK inside the file; the
 * file's last block may be a part one, read to the end of the file).
 * Pages the fault did not bring in (a block partly resident before, a
 * file system without large folios) are touched one by one, so the block
 * is resident when this returns. */
void vp_blocks_read(const struct vp_blocks *b, uint64_t off);

/* Reads the blocks of [off, off + len) (multiples of VP_BLOCK inside the
 * file, or to its end) as one run: all but its last b->tail bytes through
 * the kernel's readahead, which keeps the disk busy between faults, and
 * the rest as vp_blocks_read does, so nothing past the run is read (a run
 * to the file's end has nothing past it: all of it through readahead).
 * The tail is the most readahead can have queued past a fault (twice the
 * device's read_ahead_kb, plus a block); where that is not known (no
 * block device under the file), all of it as blocks.  Measured (AMD EPYC,
 * Linux 6.18, virtio disk with read_ahead_kb 8192): 63 MB in 9.4-11.2 ms
 * this way, 14.2-14.6 ms as blocks; with no tail, 8.4 MB past the run
 * came in. */
void vp_blocks_stream(const struct vp_blocks *b, uint64_t off, uint64_t len);

void vp_blocks_close(struct vp_blocks *b);

/* Checks every section's xxHash64.  Returns 0 or VP_E_CORRUPT naming the
 * first bad section. */
int vp_index_verify(const struct vp_index *ix, struct vp_error *err);

/* Returns the section named name in segment seg, or NULL. */
const struct vp_section *vp_index_find(const struct vp_index *ix,
				       const char *name, uint32_t seg);

/* Returns a section's bytes inside the mapping. */
static inline const void *vp_index_data(const struct vp_index *ix,
					const struct vp_section *s)
{
	return ix->map + s->offset;
}

/* Finds a section that must exist with exactly want bytes.  Returns 0 and
 * sets *out, or VP_E_CORRUPT naming the section. */
int vp_index_need(const struct vp_index *ix, const char *name, uint32_t seg,
		  uint64_t want, const void **out, struct vp_error *err);

/* Unmaps and frees. */
void vp_index_close(struct vp_index *ix);

/* Multiplies with overflow check: returns 0 and sets *r, or -1. */
static inline int vp_mul_ok(uint64_t a, uint64_t b, uint64_t *r)
{
	return __builtin_mul_overflow(a, b, r) ? -1 : 0;
}

#endif
