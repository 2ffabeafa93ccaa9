/*
 * vp.h: what the command-line programs include.  Each module's header says
 * what it is for; this one only gathers them and names the version.
 */
#ifndef VP_H
#define VP_H

#define VP_VERSION "0.1.0"

#include "vp_build.h"
#include "vp_cache.h"
#include "vp_config.h"
#include "vp_dist.h"
#include "vp_err.h"
#include "vp_flat.h"
#include "vp_gen.h"
#include "vp_index.h"
#include "vp_io.h"
#include "vp_ivf.h"
#include "vp_kmeans.h"
#include "vp_hnsw.h"
#include "vp_json.h"
#include "vp_metrics.h"
#include "vp_params.h"
#include "vp_rules.h"
#include "vp_warm.h"
#include "vp_search.h"
#include "vp_stats.h"
#include "vp_sys.h"
#include "vp_topk.h"
#include "vp_tune.h"

#endif
