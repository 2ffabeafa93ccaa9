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

/* Quantizes a float table (m x 16) to 8 bits: q[j][c] = round((t[j][c] -
 * min_j) x scale) in mp x 16 bytes (padding 0), with the scale the largest
 * that keeps every entry within 255 and every sum of m entries within
 * 65535.  A sum s of entries then estimates the float sum as
 * *bias + s / scale, within m / (2 scale).  Returns the scale.  The
 * kernels' pq4_table does the same for t = a + b (b may be NULL), with
 * the same result bit for bit. */
float vp_pq4_quantize(const float *t, size_t m, uint8_t *q, float *bias);
float vp_pq4_table_portable(const float *a, const float *b, size_t m, uint8_t *q,
			    float *bias);

/* the table kernels keep the minima of this many sub-quantizers from their
 * first pass (past them, the second pass finds them again) */
#define VP_PQ4_LOS 512

/* The scale from the running sums of the table's ranges (sumr), its
 * largest range (maxr) and m; shared by every kernel so that all round
 * alike: each entry rounds up by at most 1/2, so m/2 of room under 65535. */
static inline float vp_pq4_scale(double sumr, float maxr, size_t m)
{
	float scale = maxr > 0 ? 255.0f / maxr : 1.0f;
	if (sumr * scale > 65535.0 - (double)m)
		scale = (float)((65535.0 - (double)m) / sumr);
	return scale;
}

/* The portable kernel (the reference the SIMD ones must equal): for nb
 * blocks at b, out[32 x blk + i] = sum over j < mp of q[16 j + code]. */
void vp_pq4_scan_portable(const uint8_t *b, size_t nb, size_t m, const uint8_t *q,
			  uint16_t *out);

#endif
