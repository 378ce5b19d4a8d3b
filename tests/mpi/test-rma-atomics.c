/*
 * Atomics: MPI_Accumulate, MPI_Get_accumulate, MPI_Fetch_and_op,
 * MPI_Compare_and_swap, MPI_Raccumulate, MPI_Rget_accumulate on the six
 * element types libwin serves, every predefined op including MPI_REPLACE and
 * MPI_NO_OP, and accumulate through a derived datatype. Rank 0 is the
 * target; every rank takes part.
 */
#include "test-rma-common.h"

#include <stdint.h>

/* slots of the 64-byte-aligned target window */
#define SLOT(i) ((i) * 8)

struct ty {
	MPI_Datatype t;
	const char *name;
	int is_float;
	int is_unsigned;
	size_t size;
};

static void put_val(const struct ty *y, void *p, double v)
{
	switch (y->size * 4 + y->is_float * 2 + y->is_unsigned) {
	case 16: *(int32_t *)p = (int32_t)v; break;
	case 17: *(uint32_t *)p = (uint32_t)v; break;
	case 32: *(int64_t *)p = (int64_t)v; break;
	case 33: *(uint64_t *)p = (uint64_t)v; break;
	case 18: *(float *)p = (float)v; break;
	case 34: *(double *)p = v; break;
	}
}

static double get_val(const struct ty *y, const void *p)
{
	switch (y->size * 4 + y->is_float * 2 + y->is_unsigned) {
	case 16: return *(const int32_t *)p;
	case 17: return *(const uint32_t *)p;
	case 32: return (double)*(const int64_t *)p;
	case 33: return (double)*(const uint64_t *)p;
	case 18: return *(const float *)p;
	case 34: return *(const double *)p;
	}
	return -12345;
}

static const struct ty types[] = {
	{ MPI_INT, "MPI_INT", 0, 0, sizeof(int) },
	{ MPI_INT64_T, "MPI_INT64_T", 0, 0, 8 },
	{ MPI_UNSIGNED, "MPI_UNSIGNED", 0, 1, sizeof(unsigned) },
	{ MPI_UINT64_T, "MPI_UINT64_T", 0, 1, 8 },
	{ MPI_FLOAT, "MPI_FLOAT", 1, 0, sizeof(float) },
	{ MPI_DOUBLE, "MPI_DOUBLE", 1, 0, sizeof(double) },
};

/* Read slot `s` of rank 0's window from rank 0 (after a fence). */
static double slot0(const struct ty *y, const char *base, int s)
{
	return get_val(y, base + SLOT(s));
}

static void ops_per_type(void)
{
	char *base, buf[8], res[8];
	MPI_Win win;
	size_t k;
	int s, r;

	CHECK_RC(MPI_Win_allocate(SLOT(16), 1, MPI_INFO_NULL, MPI_COMM_WORLD,
				  &base, &win));
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	for (k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		const struct ty *y = &types[k];
		double sum = 0, prod = 1;

		/* slots: 0 sum, 1 max, 2 min, 3 prod, 4 replace, 5 band,
		 * 6 bor, 7 bxor, 8 get_acc sum, 9 no_op */
		memset(base, 0, SLOT(16));
		if (t_rank == 0) {
			put_val(y, base + SLOT(1), -1000);
			put_val(y, base + SLOT(2), 1000);
			put_val(y, base + SLOT(3), 1);
			put_val(y, base + SLOT(5), 0xff);
			put_val(y, base + SLOT(9), 42);
			if (y->is_unsigned)
				put_val(y, base + SLOT(1), 0);
		}
		CHECK_RC(MPI_Win_fence(0, win));
		put_val(y, buf, t_rank + 1);
		CHECK_RC(MPI_Accumulate(buf, 1, y->t, 0, SLOT(0), 1, y->t,
					MPI_SUM, win));
		CHECK_RC(MPI_Accumulate(buf, 1, y->t, 0, SLOT(1), 1, y->t,
					MPI_MAX, win));
		CHECK_RC(MPI_Accumulate(buf, 1, y->t, 0, SLOT(2), 1, y->t,
					MPI_MIN, win));
		CHECK_RC(MPI_Accumulate(buf, 1, y->t, 0, SLOT(3), 1, y->t,
					MPI_PROD, win));
		if (t_rank == t_size - 1)
			CHECK_RC(MPI_Accumulate(buf, 1, y->t, 0, SLOT(4), 1,
						y->t, MPI_REPLACE, win));
		if (!y->is_float) {
			put_val(y, buf, 1 << t_rank | 0x100);
			CHECK_RC(MPI_Accumulate(buf, 1, y->t, 0, SLOT(5), 1,
						y->t, MPI_BAND, win));
			CHECK_RC(MPI_Accumulate(buf, 1, y->t, 0, SLOT(6), 1,
						y->t, MPI_BOR, win));
			CHECK_RC(MPI_Accumulate(buf, 1, y->t, 0, SLOT(7), 1,
						y->t, MPI_BXOR, win));
		}
		CHECK_RC(MPI_Win_fence(0, win));
		/* get_accumulate, one rank at a time so the old value is known */
		for (r = 0; r < t_size; r++) {
			if (r == t_rank) {
				put_val(y, buf, 10);
				memset(res, 0x55, sizeof(res));
				CHECK_RC(MPI_Get_accumulate(buf, 1, y->t, res, 1,
							    y->t, 0, SLOT(8), 1,
							    y->t, MPI_SUM, win));
			}
			CHECK_RC(MPI_Win_fence(0, win));
			if (r == t_rank)
				CHECK(get_val(y, res) == 10.0 * r, "%s get_acc "
				      "fetched %g, want %g", y->name,
				      get_val(y, res), 10.0 * r);
		}
		memset(res, 0, sizeof(res));
		CHECK_RC(MPI_Get_accumulate(NULL, 0, y->t, res, 1, y->t, 0,
					    SLOT(9), 1, y->t, MPI_NO_OP, win));
		CHECK_RC(MPI_Win_fence(0, win));
		CHECK(get_val(y, res) == 42, "%s get_acc no_op fetched %g",
		      y->name, get_val(y, res));
		if (t_rank == 0) {
			unsigned band = 0xff, bor = 0, bxor = 0;

			for (r = 0; r < t_size; r++) {
				sum += r + 1;
				prod *= r + 1;
				band &= 1u << r | 0x100;
				bor |= 1u << r | 0x100;
				bxor ^= 1u << r | 0x100;
			}
			CHECK(slot0(y, base, 0) == sum, "%s sum %g want %g",
			      y->name, slot0(y, base, 0), sum);
			CHECK(slot0(y, base, 1) == t_size, "%s max %g", y->name,
			      slot0(y, base, 1));
			CHECK(slot0(y, base, 2) == 1, "%s min %g", y->name,
			      slot0(y, base, 2));
			CHECK(slot0(y, base, 3) == prod, "%s prod %g want %g",
			      y->name, slot0(y, base, 3), prod);
			CHECK(slot0(y, base, 4) == t_size, "%s replace %g",
			      y->name, slot0(y, base, 4));
			if (!y->is_float) {
				CHECK(slot0(y, base, 5) == band, "%s band %g",
				      y->name, slot0(y, base, 5));
				CHECK(slot0(y, base, 6) == bor, "%s bor %g",
				      y->name, slot0(y, base, 6));
				CHECK(slot0(y, base, 7) == bxor, "%s bxor %g",
				      y->name, slot0(y, base, 7));
			}
			CHECK(slot0(y, base, 8) == 10.0 * t_size, "%s get_acc "
			      "total %g", y->name, slot0(y, base, 8));
			CHECK(slot0(y, base, 9) == 42, "%s no_op changed the "
			      "target to %g", y->name, slot0(y, base, 9));
		}
		CHECK_RC(MPI_Win_fence(0, win));
		s = 0;
		(void)s;
	}
	CHECK_RC(MPI_Win_fence(MPI_MODE_NOSUCCEED, win));
	CHECK_RC(MPI_Win_free(&win));
}

/* Fetch-and-op counter and compare-and-swap election, passive target. */
#define ROUNDS 20
/*
 * alloc_mem: a window created over MPI_Alloc_mem'ed memory, which
 * libwin_pmpi's peers map: their atomics must agree too. The window starts
 * at the allocation's start: Debian's MPICH 4.0 loses RMA to windows that
 * start inside such an allocation (tests/mp/test-mp-mem.c covers offsets
 * on libwin's side).
 */
static void fop_cas(int alloc_mem)
{
	int64_t *base, one = 1, got[ROUNDS], *all = NULL, zero = 0, me, res;
	int64_t *mem = NULL;
	int i, winners, *seen;
	MPI_Win win;

	if (alloc_mem) {
		CHECK_RC(MPI_Alloc_mem(64 * sizeof(int64_t), MPI_INFO_NULL,
				       &mem));
		base = mem;
		CHECK_RC(MPI_Win_create(base, 4 * sizeof(int64_t),
					sizeof(int64_t), MPI_INFO_NULL,
					MPI_COMM_WORLD, &win));
	} else {
		CHECK_RC(MPI_Win_allocate(4 * sizeof(int64_t), sizeof(int64_t),
					  MPI_INFO_NULL, MPI_COMM_WORLD, &base,
					  &win));
	}
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	base[0] = base[1] = base[2] = base[3] = 0;
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_lock_all(0, win));
	for (i = 0; i < ROUNDS; i++) {
		CHECK_RC(MPI_Fetch_and_op(&one, &got[i], MPI_INT64_T, 0, 0,
					  MPI_SUM, win));
		CHECK_RC(MPI_Win_flush(0, win));
	}
	me = t_rank + 1;
	CHECK_RC(MPI_Compare_and_swap(&me, &zero, &res, MPI_INT64_T, 0, 1,
				      win));
	CHECK_RC(MPI_Win_flush(0, win));
	CHECK_RC(MPI_Win_unlock_all(win));
	if (t_rank == 0)
		all = malloc(sizeof(int64_t) * ROUNDS * (size_t)t_size);
	MPI_Gather(got, ROUNDS, MPI_INT64_T, all, ROUNDS, MPI_INT64_T, 0,
		   MPI_COMM_WORLD);
	winners = res == 0;
	MPI_Allreduce(MPI_IN_PLACE, &winners, 1, MPI_INT, MPI_SUM,
		      MPI_COMM_WORLD);
	CHECK(winners == 1, "compare_and_swap: %d winners", winners);
	MPI_Barrier(MPI_COMM_WORLD);
	if (t_rank == 0) {
		seen = calloc((size_t)(ROUNDS * t_size), sizeof(int));
		for (i = 0; i < ROUNDS * t_size; i++)
			if (all[i] >= 0 && all[i] < ROUNDS * t_size)
				seen[all[i]]++;
		for (i = 0; i < ROUNDS * t_size; i++)
			CHECK(seen[i] == 1, "fetch_and_op value %d fetched %d "
			      "times", i, seen[i]);
		CHECK(base[0] == ROUNDS * t_size, "counter %ld, want %d",
		      (long)base[0], ROUNDS * t_size);
		CHECK(base[1] >= 1 && base[1] <= t_size, "cas value %ld",
		      (long)base[1]);
		free(seen);
		free(all);
	}
	/* The winner saw 0; the others saw the winner's value. */
	MPI_Bcast(&base[1], 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
	CHECK(res == 0 || res == base[1], "cas fetched %ld", (long)res);
	/* no_op fetch, and a failing compare leaves the value */
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win));
	CHECK_RC(MPI_Fetch_and_op(NULL, &res, MPI_INT64_T, 0, 0, MPI_NO_OP,
				  win));
	CHECK_RC(MPI_Win_unlock(0, win));
	CHECK(res == ROUNDS * t_size, "no_op fetch %ld", (long)res);
	CHECK_RC(MPI_Win_free(&win));
	if (mem)
		CHECK_RC(MPI_Free_mem(mem));
}

/* Accumulate through derived types; Raccumulate / Rget_accumulate. */
static void derived_and_requests(void)
{
	int *base, o[6], r[6], i;
	MPI_Datatype vec;
	MPI_Request rq;
	MPI_Win win;

	CHECK_RC(MPI_Win_allocate(16 * sizeof(int), sizeof(int), MPI_INFO_NULL,
				  MPI_COMM_WORLD, &base, &win));
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	for (i = 0; i < 16; i++)
		base[i] = 0;
	for (i = 0; i < 6; i++)
		o[i] = i + 1;
	MPI_Type_vector(3, 1, 2, MPI_INT, &vec); /* o0 o2 o4 */
	MPI_Type_commit(&vec);
	CHECK_RC(MPI_Win_fence(0, win));
	/* origin vector -> target 0..2; origin contiguous -> target vector
	 * at 4, 6, 8 */
	CHECK_RC(MPI_Accumulate(o, 1, vec, 0, 0, 3, MPI_INT, MPI_SUM, win));
	CHECK_RC(MPI_Accumulate(o, 3, MPI_INT, 0, 4, 1, vec, MPI_SUM, win));
	CHECK_RC(MPI_Win_fence(0, win));
	if (t_rank == 0) {
		static const int want[10] = { 1, 3, 5, 0, 1, 0, 2, 0, 3, 0 };

		for (i = 0; i < 10; i++)
			CHECK(base[i] == want[i] * t_size, "derived acc "
			      "base[%d] = %d, want %d", i, base[i],
			      want[i] * t_size);
	}
	CHECK_RC(MPI_Win_fence(MPI_MODE_NOSUCCEED, win));
	MPI_Barrier(MPI_COMM_WORLD);

	CHECK_RC(MPI_Win_lock_all(0, win));
	CHECK_RC(MPI_Raccumulate(o, 1, MPI_INT, 0, 10, 1, MPI_INT, MPI_SUM,
				 win, &rq));
	CHECK_RC(MPI_Wait(&rq, MPI_STATUS_IGNORE));
	CHECK_RC(MPI_Win_flush_all(win));
	MPI_Barrier(MPI_COMM_WORLD);
	/* result through a vector type: r0 r2 r4 get target 0..2 */
	for (i = 0; i < 6; i++)
		r[i] = -1;
	CHECK_RC(MPI_Rget_accumulate(NULL, 0, MPI_INT, r, 1, vec, 0, 0, 3,
				     MPI_INT, MPI_NO_OP, win, &rq));
	CHECK_RC(MPI_Wait(&rq, MPI_STATUS_IGNORE));
	CHECK_RC(MPI_Rget_accumulate(o, 1, MPI_INT, &r[1], 1, MPI_INT, 0, 11,
				     1, MPI_INT, MPI_SUM, win, &rq));
	CHECK_RC(MPI_Wait(&rq, MPI_STATUS_IGNORE));
	CHECK_RC(MPI_Win_unlock_all(win));
	CHECK(r[0] == 1 * t_size && r[2] == 3 * t_size && r[4] == 5 * t_size,
	      "Rget_accumulate no_op through a vector: %d %d %d", r[0], r[2],
	      r[4]);
	CHECK(r[3] == -1 && r[5] == -1, "Rget_accumulate wrote a hole");
	CHECK(r[1] >= 0 && r[1] < t_size, "Rget_accumulate fetched %d", r[1]);
	MPI_Barrier(MPI_COMM_WORLD);
	if (t_rank == 0) {
		CHECK(base[10] == t_size, "Raccumulate total %d", base[10]);
		CHECK(base[11] == t_size, "Rget_accumulate total %d", base[11]);
	}
	MPI_Type_free(&vec);
	CHECK_RC(MPI_Win_free(&win));
}

int main(int argc, char **argv)
{
	t_init(&argc, &argv);
	ops_per_type();
	fop_cas(0);
	fop_cas(1);
	derived_and_requests();
	return t_finish("test-rma-atomics");
}
