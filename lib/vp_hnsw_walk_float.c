/* vp_hnsw_walk_float: the graph walk on the float vectors, for an index
 * without traversal codes (quant=none, below 64 dimensions by default, and
 * every index written before codes existed): the same sorted candidate
 * list and prefetch pattern as the coded walks, exact distances. */
#include "vp_hnsw_int.h"

#define WALK_NAME vp_hnsw_walk_float
#define WALK_FLOAT 1
#include "vp_hnsw_walk.h"
