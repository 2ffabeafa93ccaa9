/*
 * vp_pq4: 4-bit product-quantization codes laid out for in-register table
 * lookups ("fast scan": Andre, Kermarrec & Le Scouarnec, "Cache locality is
 * not enough", VLDB 2015; the layout idea of FAISS's PQ4 fast scan and of
 * ScaNN), the code store of SCANN indexes.
 *
 * With 16 centroids per sub-quantizer, a query's distance table for one
 * sub-quantizer is 16 entries: quantized to 8 bits it fits one 128-bit
 * register, and one byte shuffle (vpshufb) looks up 16 codes at once.
 *
 * Layout: entries in blocks of 32; m sub-quantizers padded to mp, a
 * multiple of 4 (padding codes are 0 and their table entries 0).  A block
 * is mp x 16 bytes: for sub-quantizer j, 16 bytes whose byte i holds the
 * code of entry i in its low nibble and that of entry i + 16 in its high
 * nibble.  So two (AVX2) or four (AVX-512) sub-quantizers' codes are one
 * load, next to the tables of the same sub-quantizers in the query's
 * quantized table (mp x 16 bytes, contiguous too).
 *
 * Sums are kept in 16 bits: the table's scale is chosen so that no sum
 * can pass 65535 (vp_pq4_quantize), so the SIMD kernels and the portable
 * one give the same sums exactly, and a sum is a distance estimate within
 * m / (2 scale) of the float table's.
 */
#ifndef VP_PQ4_H
#define VP_PQ4_H

#include <stddef.h>
#include <stdint.h>

#define VP_PQ4_KSUB 16
#define VP_PQ4_BLOCK 32

/* m padded to the kernels' step */
static inline size_t vp_pq4_mp(size_t m)
{
	return (m + 3) & ~(size_t)3;
}

/* bytes of one block of 32 entries */
static inline size_t vp_pq4_block_bytes(size_t m)
{
	return vp_pq4_mp(m) * 16;
}

/* blocks holding n entries */
static inline size_t vp_pq4_blocks(size_t n)
{
	return (n + VP_PQ4_BLOCK - 1) / VP_PQ4_BLOCK;
}

/* Packs n entries' codes (n x m bytes, each < 16) into vp_pq4_blocks(n)
 * blocks at out (zeroed first: the padding entries' codes are 0). */
void vp_pq4_pack(const uint8_t *codes, size_t n, size_t m, uint8_t *out);

/* Code of sub-quantizer j of entry i of the blocks at b. */
static inline uint8_t vp_pq4_get(const uint8_t *b, size_t m, size_t i, size_t j)
{
	const uint8_t *p = b + (i / VP_PQ4_BLOCK) * vp_pq4_block_bytes(m) + j * 16 +
			   (i % VP_PQ4_BLOCK) % 16;
	return (i % VP_PQ4_BLOCK) < 16 ? (uint8_t)(*p & 15) : (uint8_t)(*p >> 4);
}

/* Quantizing a query's table (m x 16 floats) to 8 bits: entry c of
 * sub-quantizer j becomes round((t[j][c] - lo[j]) x scale), saturated to
 * 255, where lo[j] is at most the sub-table's minimum and lo[j] + rng[j]
 * at least its maximum.  The scale is the largest that keeps every entry
 * within 255 and every sum of m entries within 65535; a sum s of entries
 * then estimates the float sum as bias + s / scale (bias = sum of lo[j]),
 * within m / (2 scale) plus what the bounds' slack adds.
 *
 * For an IVF list the table is the query's part plus the list's
 * (|q - c - y|^2 = |q - c|^2 - 2<q, y> + (2<c, y> + |y|^2)); bounds from
 * the two parts' own ranges, each found once (the query's per query, the
 * lists' when the index opens), spare the two passes over every list's
 * table that exact ranges need. */

/* lo[j] and rng[j]: the exact minimum and range of each sub-table of t */
void vp_pq4_ranges(const float *t, size_t m, float *lo, float *rng);

/* The scale for bounds lo, rng of m sub-tables; *bias = sum of lo. */
float vp_pq4_plan(const float *lo, const float *rng, size_t m, float *bias);

/* Quantizes t = a + b (b may be NULL) with lo and scale into q (mp x 16
 * bytes, padding 0): the portable kernel, which the SIMD ones equal byte
 * for byte (vp_kernels.pq4_quant). */
void vp_pq4_quant_portable(const float *a, const float *b, const float *lo, size_t m,
			   float scale, uint8_t *q);

/* All of it for one table with exact ranges (the reference of the
 * tests).  Returns the scale; lo and rng are m floats of scratch. */
float vp_pq4_quantize(const float *t, size_t m, uint8_t *q, float *bias, float *lo,
		      float *rng);

/* The portable kernel (the reference the SIMD ones must equal): for nb
 * blocks at b, out[32 x blk + i] = sum over j < mp of q[16 j + code], and
 * bit i of below[blk] set when that sum is at most thr. */
void vp_pq4_scan_portable(const uint8_t *b, size_t nb, size_t m, const uint8_t *q,
			  uint16_t thr, uint16_t *out, uint32_t *below);

#endif
