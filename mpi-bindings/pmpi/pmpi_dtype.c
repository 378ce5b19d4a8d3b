/*
 * Datatype flattening. A datatype is walked once through
 * MPI_Type_get_envelope/MPI_Type_get_contents into the list of byte runs
 * (offset, length) of one instance, in type-map order, adjacent runs merged.
 * Derived types keep their description as an attribute (freed with the
 * type); predefined types live in a small table for the process's life.
 *
 * Alongside the runs we note whether every element has the same libwin
 * element type (what accumulate needs) and whether the type is contiguous.
 */
#include "pmpi_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct flat {
	struct pw_dtype *d;
	int cap;
	int first;	/* no element seen yet */
	int mixed;	/* elements of different libwin types (or none) */
};

static int flat_add(struct flat *f, MPI_Aint off, MPI_Aint len)
{
	struct pw_dtype *d = f->d;

	if (len == 0)
		return 0;
	if (d->nseg && d->seg[d->nseg - 1].off + d->seg[d->nseg - 1].len == off) {
		d->seg[d->nseg - 1].len += len;
		return 0;
	}
	if (d->nseg == f->cap) {
		int ncap = f->cap ? 2 * f->cap : 8;
		struct pw_seg *n = realloc(d->seg, sizeof(*n) * (size_t)ncap);

		if (!n)
			return MPI_ERR_NO_MEM;
		d->seg = n;
		f->cap = ncap;
	}
	d->seg[d->nseg].off = off;
	d->seg[d->nseg].len = len;
	d->nseg++;
	return 0;
}

static int fail(struct flat *f, int cls, const char *what)
{
	snprintf(f->d->why, sizeof(f->d->why), "%s", what);
	return cls;
}

static int walk(struct flat *f, MPI_Datatype t, MPI_Aint disp, int depth);

static int walk_named(struct flat *f, MPI_Datatype t, MPI_Aint disp)
{
	int size, wt = pw_wtype_of(t);
	MPI_Aint lb, ext;

	PMPI_Type_size(t, &size);
	PMPI_Type_get_extent(t, &lb, &ext);
	/* Pair types such as MPI_SHORT_INT have holes we cannot see. */
	if (size != ext || lb != 0)
		return fail(f, MPI_ERR_TYPE, "a predefined pair type with "
			    "padding is not supported by libwin_pmpi");
	if (f->first) {
		f->d->wtype = wt;
		f->d->esize = (size_t)size;
		f->first = 0;
	} else if (wt != f->d->wtype) {
		f->mixed = 1;
	}
	if (!wt)
		f->mixed = 1;
	return flat_add(f, disp, size);
}

static int walk_many(struct flat *f, MPI_Datatype t, MPI_Aint disp,
		     MPI_Aint count, int depth)
{
	MPI_Aint lb, ext;
	int rc;

	PMPI_Type_get_extent(t, &lb, &ext);
	for (MPI_Aint i = 0; i < count; i++)
		if ((rc = walk(f, t, disp + i * ext, depth)))
			return rc;
	return 0;
}

/* Subarray: every element of the subarray, in the array's memory order. */
static int walk_subarray(struct flat *f, const int *ints, MPI_Datatype t,
			 MPI_Aint disp, int depth)
{
	int nd = ints[0], order = ints[1 + 3 * nd];
	const int *sizes = ints + 1, *subs = ints + 1 + nd,
		  *starts = ints + 1 + 2 * nd;
	MPI_Aint lb, ext, stride[32];
	int idx[32], rc, k, last;

	if (nd < 1 || nd > 32)
		return fail(f, MPI_ERR_TYPE, "subarray of more than 32 "
			    "dimensions");
	PMPI_Type_get_extent(t, &lb, &ext);
	/* stride[k]: elements between neighbours along dimension k */
	if (order == MPI_ORDER_C) {
		stride[nd - 1] = 1;
		for (k = nd - 2; k >= 0; k--)
			stride[k] = stride[k + 1] * sizes[k + 1];
	} else {
		stride[0] = 1;
		for (k = 1; k < nd; k++)
			stride[k] = stride[k - 1] * sizes[k - 1];
	}
	for (k = 0; k < nd; k++) {
		if (subs[k] == 0)
			return 0;
		idx[k] = 0;
	}
	/* The fastest dimension is the last (C) or the first (Fortran). */
	last = order == MPI_ORDER_C ? nd - 1 : 0;
	for (;;) {
		MPI_Aint e = 0;

		for (k = 0; k < nd; k++)
			e += (MPI_Aint)(starts[k] + idx[k]) * stride[k];
		/* a run of subs[last] elements along the fastest dimension */
		if ((rc = walk_many(f, t, disp + e * ext, subs[last], depth)))
			return rc;
		/* next index, fastest dimension excluded */
		if (order == MPI_ORDER_C) {
			for (k = nd - 2; k >= 0; k--) {
				if (++idx[k] < subs[k])
					break;
				idx[k] = 0;
			}
			if (k < 0)
				return 0;
		} else {
			for (k = 1; k < nd; k++) {
				if (++idx[k] < subs[k])
					break;
				idx[k] = 0;
			}
			if (k >= nd)
				return 0;
		}
	}
}

static int walk(struct flat *f, MPI_Datatype t, MPI_Aint disp, int depth)
{
	int ni, na, nt, comb, rc = 0, i, j;
	int *ints = NULL;
	MPI_Aint *aints = NULL, lb, ext;
	MPI_Datatype *types = NULL;

	if (depth > 64)
		return fail(f, MPI_ERR_TYPE, "datatype nested too deeply");
	PMPI_Type_get_envelope(t, &ni, &na, &nt, &comb);
	if (comb == MPI_COMBINER_NAMED)
		return walk_named(f, t, disp);
	ints = malloc(sizeof(int) * (size_t)(ni + 1));
	aints = malloc(sizeof(MPI_Aint) * (size_t)(na + 1));
	types = malloc(sizeof(MPI_Datatype) * (size_t)(nt + 1));
	if (!ints || !aints || !types) {
		rc = MPI_ERR_NO_MEM;
		goto out;
	}
	PMPI_Type_get_contents(t, ni, na, nt, ints, aints, types);
	switch (comb) {
	case MPI_COMBINER_DUP:
	case MPI_COMBINER_RESIZED:
		rc = walk(f, types[0], disp, depth + 1);
		break;
	case MPI_COMBINER_CONTIGUOUS:
		rc = walk_many(f, types[0], disp, ints[0], depth + 1);
		break;
	case MPI_COMBINER_VECTOR:
	case MPI_COMBINER_HVECTOR:
		PMPI_Type_get_extent(types[0], &lb, &ext);
		for (i = 0; i < ints[0] && !rc; i++) {
			MPI_Aint s = comb == MPI_COMBINER_VECTOR ?
				(MPI_Aint)ints[2] * i * ext : aints[0] * i;

			rc = walk_many(f, types[0], disp + s, ints[1], depth + 1);
		}
		break;
	case MPI_COMBINER_INDEXED:
	case MPI_COMBINER_HINDEXED:
		PMPI_Type_get_extent(types[0], &lb, &ext);
		for (i = 0; i < ints[0] && !rc; i++) {
			MPI_Aint s = comb == MPI_COMBINER_INDEXED ?
				(MPI_Aint)ints[1 + ints[0] + i] * ext : aints[i];

			rc = walk_many(f, types[0], disp + s, ints[1 + i],
				       depth + 1);
		}
		break;
	case MPI_COMBINER_INDEXED_BLOCK:
	case MPI_COMBINER_HINDEXED_BLOCK:
		PMPI_Type_get_extent(types[0], &lb, &ext);
		for (i = 0; i < ints[0] && !rc; i++) {
			MPI_Aint s = comb == MPI_COMBINER_INDEXED_BLOCK ?
				(MPI_Aint)ints[2 + i] * ext : aints[i];

			rc = walk_many(f, types[0], disp + s, ints[1], depth + 1);
		}
		break;
	case MPI_COMBINER_STRUCT:
		for (i = 0; i < ints[0] && !rc; i++)
			rc = walk_many(f, types[i], disp + aints[i], ints[1 + i],
				       depth + 1);
		break;
	case MPI_COMBINER_SUBARRAY:
		rc = walk_subarray(f, ints, types[0], disp, depth + 1);
		break;
	default:
		rc = fail(f, MPI_ERR_TYPE, "this datatype constructor (darray "
			  "or Fortran parameterised) is not supported by "
			  "libwin_pmpi");
		break;
	}
	/* Free what get_contents handed us (predefined types excepted). */
	for (j = 0; j < nt; j++) {
		int a, b, c, k;

		PMPI_Type_get_envelope(types[j], &a, &b, &c, &k);
		if (k != MPI_COMBINER_NAMED)
			PMPI_Type_free(&types[j]);
	}
out:
	free(ints);
	free(aints);
	free(types);
	return rc;
}

static struct pw_dtype *flatten(MPI_Datatype t)
{
	struct pw_dtype *d = calloc(1, sizeof(*d));
	struct flat f = { d, 0, 1, 0 };
	MPI_Aint lb, ext;
	int size, rc;

	if (!d)
		return NULL;
	if (t == MPI_DATATYPE_NULL) {
		d->err = MPI_ERR_TYPE;
		snprintf(d->why, sizeof(d->why), "MPI_DATATYPE_NULL");
		return d;
	}
	PMPI_Type_size(t, &size);
	PMPI_Type_get_extent(t, &lb, &ext);
	d->size = size;
	d->extent = ext;
	rc = walk(&f, t, 0, 0);
	if (rc) {
		d->err = rc;
		if (!d->why[0])
			snprintf(d->why, sizeof(d->why), "flattening failed");
		return d;
	}
	if (f.mixed || f.first)
		d->wtype = 0;
	for (int i = 0; i < d->nseg; i++) {
		if (i == 0 || d->seg[i].off < d->lo)
			d->lo = d->seg[i].off;
		if (i == 0 || d->seg[i].off + d->seg[i].len > d->hi)
			d->hi = d->seg[i].off + d->seg[i].len;
	}
	d->contig = (d->nseg == 1 && d->seg[0].off == 0 &&
		     d->seg[0].len == d->extent) || (d->nseg == 0 && ext == 0);
	return d;
}

/* ---- caches ---- */

static int type_keyval = MPI_KEYVAL_INVALID;

/* MPI_DATATYPE_NULL, also what the one-entry cache holds at first. */
static struct pw_dtype null_type = { .err = MPI_ERR_TYPE,
				     .why = "MPI_DATATYPE_NULL" };
MPI_Datatype pw_last_type = MPI_DATATYPE_NULL;
const struct pw_dtype *pw_last_dtype = &null_type;

static const struct pw_dtype *remember(MPI_Datatype t,
				       const struct pw_dtype *d)
{
	pw_last_type = t;
	pw_last_dtype = d;
	return d;
}

static int drop_cached(MPI_Datatype t, int kv, void *val, void *extra)
{
	struct pw_dtype *d = val;

	if (pw_last_dtype == d)
		remember(MPI_DATATYPE_NULL, &null_type);
	if (d) {
		free(d->seg);
		free(d);
	}
	return MPI_SUCCESS;
}

#define NAMED_SLOTS 256
static struct {
	MPI_Datatype t;
	struct pw_dtype *d;
} named[NAMED_SLOTS];

static size_t slot_of(MPI_Datatype t)
{
	uintptr_t h = (uintptr_t)t;

	h ^= h >> 17;
	h *= 0x9e3779b97f4a7c15ull;
	return (size_t)(h >> 56) % NAMED_SLOTS;
}

static struct pw_dtype oom = { .err = MPI_ERR_NO_MEM, .why = "out of memory" };

const struct pw_dtype *pw_dtype_lookup(MPI_Datatype t)
{
	size_t s = slot_of(t), i;
	int ni, na, nt, comb, flag = 0;
	struct pw_dtype *d;

	for (i = 0; i < NAMED_SLOTS; i++) {
		size_t k = (s + i) % NAMED_SLOTS;

		if (named[k].d && named[k].t == t)
			return remember(t, named[k].d);
		if (!named[k].d)
			break;
	}
	if (t == MPI_DATATYPE_NULL)
		return remember(t, &null_type);
	PMPI_Type_get_envelope(t, &ni, &na, &nt, &comb);
	if (comb == MPI_COMBINER_NAMED) {
		d = flatten(t);
		if (!d)
			return &oom;
		for (i = 0; i < NAMED_SLOTS; i++) {
			size_t k = (s + i) % NAMED_SLOTS;

			if (!named[k].d) {
				named[k].t = t;
				named[k].d = d;
				return remember(t, d);
			}
		}
		return d;
	}
	if (type_keyval == MPI_KEYVAL_INVALID &&
	    PMPI_Type_create_keyval(MPI_TYPE_NULL_COPY_FN, drop_cached,
				    &type_keyval, NULL) != MPI_SUCCESS)
		return flatten(t) ?: &oom;
	if (PMPI_Type_get_attr(t, type_keyval, &d, &flag) == MPI_SUCCESS &&
	    flag)
		return remember(t, d);
	d = flatten(t);
	if (!d)
		return &oom;
	/* kept only while the attribute holds it (dropped with the type) */
	if (PMPI_Type_set_attr(t, type_keyval, d) == MPI_SUCCESS)
		return remember(t, d);
	return d;
}
