/* vp_family: the table of index families, one row each. */
#include "vp_family.h"

const struct vp_family *const vp_families[] = {
	&vp_family_flat,
	&vp_family_ivf_flat,
	&vp_family_ivf_sq8,
	&vp_family_ivf_pq,
	&vp_family_hnsw,
	&vp_family_scann,
};
const size_t vp_nfamilies = sizeof vp_families / sizeof *vp_families;

const struct vp_family *vp_family_of(int type)
{
	for (size_t i = 0; i < vp_nfamilies; i++)
		if (vp_families[i]->type == type)
			return vp_families[i];
	return NULL;
}
