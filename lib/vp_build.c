/* vp_build: per-type section layout; FLAT stores vectors and norms. */
#include "vp_build.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vp_dist.h"
#include "vp_ivf.h"
#include "vp_sys.h"

void vp_build_opts_init(struct vp_build_opts *o)
{
	memset(o, 0, sizeof *o);
	o->type = VP_TYPE_FLAT;
	o->metric = VP_METRIC_L2;
	o->threads = 1;
	o->seed = VP_SEED_DEFAULT;
	vp_params_defaults(&o->params);
}

int vp_build_index(struct vp_index_writer *w, float *data, size_t n,
		   uint32_t dim, const struct vp_build_opts *o,
		   struct vp_error *err)
{
	struct vp_index_header h;
	struct vp_section_src secs[8];
	struct vp_hnsw_graph g = { 0 };
	struct vp_ivf_built ivf = { 0 };
	uint64_t t0 = vp_now_usec(), bytes;
	uint32_t meta[4];
	float *norms = NULL;
	size_t ns = 0;
	int rc;

	if (n == 0)
		return vp_seterr(err, VP_E_FORMAT, "no vectors to index");
	if (o->type < VP_TYPE_FLAT || o->type > VP_TYPE_HNSW)
		return vp_seterr(err, VP_E_UNSUPP, "unknown index type %d", o->type);
	if (vp_mul_ok((uint64_t)n, (uint64_t)dim * sizeof(float), &bytes))
		return vp_seterr(err, VP_E_ARG, "index too large");
	if (o->metric == VP_METRIC_COSINE)
		for (size_t i = 0; i < n; i++)
			vp_normalize(data + i * dim, dim);

	memset(&h, 0, sizeof h);
	h.metric = (uint32_t)o->metric;
	h.dim = dim;
	h.type = (uint32_t)o->type;
	h.count = n;
	h.seed = o->seed;
	h.created = (uint64_t)time(NULL);
	for (int i = 0; i < VP_P_COUNT && i < VP_INDEX_NPARAMS; i++)
		h.params[i] = o->params.val[i];
	/* IVF_FLAT and IVF_SQ8 keep only their list-ordered codes */
	if (o->type != VP_TYPE_IVF_FLAT && o->type != VP_TYPE_IVF_SQ8)
		secs[ns++] = (struct vp_section_src){ "vectors", 0, 4096, data, bytes };

	if (o->type == VP_TYPE_IVF_FLAT || o->type == VP_TYPE_IVF_SQ8 ||
	    o->type == VP_TYPE_IVF_PQ) {
		size_t nl = (size_t)o->params.val[VP_P_NLIST];
		rc = vp_ivf_build(data, n, dim, o->type, o->metric, nl,
				  (size_t)o->params.val[VP_P_PQ_M], o->threads,
				  o->seed, &ivf, err);
		if (rc)
			return rc;
		h.params[VP_P_PQ_M] = ivf.m;
		secs[ns++] = (struct vp_section_src){ "ivf_centroids", 0, 64, ivf.centroids,
						      (uint64_t)nl * dim * 4 };
		secs[ns++] = (struct vp_section_src){ "ivf_offsets", 0, 64, ivf.offsets,
						      (nl + 1) * 8 };
		secs[ns++] = (struct vp_section_src){ "ivf_ids", 0, 64, ivf.ids, n * 4 };
		secs[ns++] = (struct vp_section_src){ "ivf_data", 0, 4096, ivf.data,
						      ivf.data_bytes };
		if (ivf.norms)
			secs[ns++] = (struct vp_section_src){ "ivf_norms", 0, 64, ivf.norms, n * 4 };
		if (ivf.sq8_min) {
			secs[ns++] = (struct vp_section_src){ "sq8_min", 0, 64, ivf.sq8_min, dim * 4 };
			secs[ns++] = (struct vp_section_src){ "sq8_step", 0, 64, ivf.sq8_step, dim * 4 };
		}
		if (ivf.codebooks)
			secs[ns++] = (struct vp_section_src){ "pq_codebooks", 0, 64, ivf.codebooks,
							      (uint64_t)dim * VP_PQ_KSUB * 4 };
	} else if (o->type == VP_TYPE_FLAT) {
		norms = malloc(n * sizeof *norms);
		if (!norms)
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		vp_sqnorms(data, n, dim, norms);
		secs[ns++] = (struct vp_section_src){ "norms", 0, 64, norms,
						      n * sizeof *norms };
	} else {
		rc = vp_hnsw_build(data, n, dim, o->metric,
				   (int)o->params.val[VP_P_HNSW_M],
				   (int)o->params.val[VP_P_EFC], o->threads,
				   o->seed, o->progress, o->progress_ctx, &g, err);
		if (rc)
			return rc;
		meta[0] = g.entry;
		meta[1] = g.maxlevel;
		meta[2] = g.M;
		meta[3] = g.M0;
		secs[ns++] = (struct vp_section_src){ "hnsw_meta", 0, 64, meta, sizeof meta };
		secs[ns++] = (struct vp_section_src){ "hnsw_levels", 0, 64, g.levels, n };
		secs[ns++] = (struct vp_section_src){ "hnsw_l0", 0, 4096, g.l0,
						      n * (1 + g.M0) * 4 };
		secs[ns++] = (struct vp_section_src){ "hnsw_upoff", 0, 64, g.upoff, n * 4 };
		secs[ns++] = (struct vp_section_src){ "hnsw_upper", 0, 64, g.upper,
						      g.nblocks * (1 + g.M) * 4 };
	}
	h.build_usec = vp_now_usec() - t0;
	rc = vp_index_writer_commit(w, &h, secs, ns, err);
	free(norms);
	vp_hnsw_graph_release(&g);
	vp_ivf_built_release(&ivf);
	return rc;
}
