/*
 * Put and get: every window flavour (create, allocate, dynamic, and create
 * over MPI_Alloc_mem'ed memory), fence epochs, displacement units,
 * derived datatypes on origin and target, and
 * the request-based MPI_Rput/MPI_Rget completed by MPI_Wait/Test/Waitall;
 * datatypes freed and made again between puts.
 */
#include <sched.h>
#include "test-rma-common.h"

#define N 16

static void flavours(int flavour)
{
	static const char *const name[] = { "create", "allocate", "dynamic",
					    "create over MPI_Alloc_mem" };
	int *buf = NULL, *mem = NULL, src[4], dst[4], i, right, left;
	MPI_Aint *addr = NULL, here = 0, disp;
	MPI_Win win;

	right = (t_rank + 1) % t_size;
	left = (t_rank + t_size - 1) % t_size;
	if (flavour == 0) {
		buf = malloc(N * sizeof(int));
		CHECK_RC(MPI_Win_create(buf, N * sizeof(int), sizeof(int),
					MPI_INFO_NULL, MPI_COMM_WORLD, &win));
	} else if (flavour == 3) {
		/* At the allocation's start (see test-rma-atomics.c). */
		CHECK_RC(MPI_Alloc_mem((N + 7) * sizeof(int), MPI_INFO_NULL,
				       &mem));
		buf = mem;
		CHECK_RC(MPI_Win_create(buf, N * sizeof(int), sizeof(int),
					MPI_INFO_NULL, MPI_COMM_WORLD, &win));
	} else if (flavour == 1) {
		CHECK_RC(MPI_Win_allocate(N * sizeof(int), sizeof(int),
					  MPI_INFO_NULL, MPI_COMM_WORLD, &buf,
					  &win));
	} else {
		buf = malloc(N * sizeof(int));
		CHECK_RC(MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD,
						&win));
		CHECK_RC(MPI_Win_attach(win, buf, N * sizeof(int)));
		MPI_Get_address(buf, &here);
		addr = malloc(sizeof(MPI_Aint) * (size_t)t_size);
		MPI_Allgather(&here, 1, MPI_AINT, addr, 1, MPI_AINT,
			      MPI_COMM_WORLD);
	}
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	for (i = 0; i < N; i++)
		buf[i] = -1;
	for (i = 0; i < 4; i++)
		src[i] = t_rank * 100 + i;
	disp = flavour == 2 ? addr[right] + 2 * (MPI_Aint)sizeof(int) : 2;

	CHECK_RC(MPI_Win_fence(MPI_MODE_NOPRECEDE, win));
	CHECK_RC(MPI_Put(src, 4, MPI_INT, right, disp, 4, MPI_INT, win));
	CHECK_RC(MPI_Win_fence(0, win));
	for (i = 0; i < N; i++) {
		int want = i >= 2 && i < 6 ? left * 100 + i - 2 : -1;

		CHECK(buf[i] == want, "%s: buf[%d] = %d, want %d", name[flavour],
		      i, buf[i], want);
	}
	memset(dst, 0, sizeof(dst));
	CHECK_RC(MPI_Get(dst, 4, MPI_INT, right, disp, 4, MPI_INT, win));
	CHECK_RC(MPI_Win_fence(MPI_MODE_NOSUCCEED, win));
	for (i = 0; i < 4; i++)
		CHECK(dst[i] == src[i], "%s: get dst[%d] = %d, want %d",
		      name[flavour], i, dst[i], src[i]);
	if (flavour == 2)
		CHECK_RC(MPI_Win_detach(win, buf));
	CHECK_RC(MPI_Win_free(&win));
	CHECK(win == MPI_WIN_NULL, "MPI_Win_free did not reset the handle");
	if (flavour == 3)
		CHECK_RC(MPI_Free_mem(mem));
	else if (flavour != 1)
		free(buf);
	free(addr);
}

static double val(int rank, int i)
{
	return rank * 1000.0 + i;
}

/* Derived datatypes; the window is 64 doubles, displacement unit 8. */
static void derived(void)
{
	double *t, o[16], g[8];
	MPI_Datatype vec, tvec, idx, hidx, st, sub, res, hvec, rvec1;
	int right = (t_rank + 1) % t_size, left = (t_rank + t_size - 1) % t_size;
	int i, bl[2], di[2], sizes[2] = { 4, 4 }, subs[2] = { 2, 2 },
			      starts[2] = { 1, 1 };
	MPI_Aint ad[2];
	MPI_Datatype ty[2] = { MPI_DOUBLE, MPI_DOUBLE };
	MPI_Win win;

	CHECK_RC(MPI_Win_allocate(64 * sizeof(double), sizeof(double),
				  MPI_INFO_NULL, MPI_COMM_WORLD, &t, &win));
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	for (i = 0; i < 64; i++)
		t[i] = -1;
	for (i = 0; i < 16; i++)
		o[i] = val(t_rank, i);

	MPI_Type_vector(4, 1, 2, MPI_DOUBLE, &vec);
	MPI_Type_commit(&vec);
	MPI_Type_vector(4, 1, 3, MPI_DOUBLE, &tvec);
	MPI_Type_commit(&tvec);
	bl[0] = 1, bl[1] = 2, di[0] = 0, di[1] = 3;
	MPI_Type_indexed(2, bl, di, MPI_DOUBLE, &idx);
	MPI_Type_commit(&idx);
	bl[0] = 2, bl[1] = 1, ad[0] = 5 * sizeof(double), ad[1] = 0;
	MPI_Type_create_hindexed(2, bl, ad, MPI_DOUBLE, &hidx);
	MPI_Type_commit(&hidx);
	bl[0] = 1, bl[1] = 1, ad[0] = 0, ad[1] = 2 * sizeof(double);
	MPI_Type_create_struct(2, bl, ad, ty, &st);
	MPI_Type_commit(&st);
	MPI_Type_create_subarray(2, sizes, subs, starts, MPI_ORDER_C,
				 MPI_DOUBLE, &sub);
	MPI_Type_commit(&sub);
	MPI_Type_contiguous(1, MPI_DOUBLE, &rvec1);
	MPI_Type_create_resized(rvec1, 0, 3 * sizeof(double), &res);
	MPI_Type_commit(&res);
	MPI_Type_create_hvector(2, 2, 4 * sizeof(double), MPI_DOUBLE, &hvec);
	MPI_Type_commit(&hvec);

	CHECK_RC(MPI_Win_fence(0, win));
	/* origin vector -> target contiguous at 0..3: o0 o2 o4 o6 */
	CHECK_RC(MPI_Put(o, 1, vec, right, 0, 4, MPI_DOUBLE, win));
	/* contiguous -> target vector at 8, 11, 14, 17: o0..o3 */
	CHECK_RC(MPI_Put(o, 4, MPI_DOUBLE, right, 8, 1, tvec, win));
	/* indexed target at 20, 23, 24: o0 o1 o2 */
	CHECK_RC(MPI_Put(o, 3, MPI_DOUBLE, right, 20, 1, idx, win));
	/* hindexed origin: o5 o6 o0 -> 30..32 */
	CHECK_RC(MPI_Put(o, 1, hidx, right, 30, 3, MPI_DOUBLE, win));
	/* struct origin: o0 o2 -> 34, 35 */
	CHECK_RC(MPI_Put(o, 1, st, right, 34, 2, MPI_DOUBLE, win));
	/* subarray origin (2x2 at (1,1) of 4x4): o5 o6 o9 o10 -> 40..43 */
	CHECK_RC(MPI_Put(o, 1, sub, right, 40, 4, MPI_DOUBLE, win));
	/* resized origin, 3 instances: o0 o3 o6 -> 44..46 */
	CHECK_RC(MPI_Put(o, 3, res, right, 44, 3, MPI_DOUBLE, win));
	/* hvector target at 48, 49, 52, 53: o0..o3 */
	CHECK_RC(MPI_Put(o, 4, MPI_DOUBLE, right, 48, 1, hvec, win));
	CHECK_RC(MPI_Win_fence(0, win));

	{
		static const struct {
			int at, from;
		} want[] = {
			{ 0, 0 }, { 1, 2 }, { 2, 4 }, { 3, 6 }, { 8, 0 },
			{ 11, 1 }, { 14, 2 }, { 17, 3 }, { 20, 0 }, { 23, 1 },
			{ 24, 2 }, { 30, 5 }, { 31, 6 }, { 32, 0 }, { 34, 0 },
			{ 35, 2 }, { 40, 5 }, { 41, 6 }, { 42, 9 }, { 43, 10 },
			{ 44, 0 }, { 45, 3 }, { 46, 6 }, { 48, 0 }, { 49, 1 },
			{ 52, 2 }, { 53, 3 },
		};
		static const int untouched[] = { 4, 9, 10, 12, 18, 21, 22, 25,
						 33, 36, 47, 50, 51, 54 };
		size_t k;

		for (k = 0; k < sizeof(want) / sizeof(want[0]); k++)
			CHECK(t[want[k].at] == val(left, want[k].from),
			      "derived: t[%d] = %g, want %g", want[k].at,
			      t[want[k].at], val(left, want[k].from));
		for (k = 0; k < sizeof(untouched) / sizeof(untouched[0]); k++)
			CHECK(t[untouched[k]] == -1, "derived: t[%d] = %g "
			      "was overwritten", untouched[k], t[untouched[k]]);
	}

	/* get: target vector (8, 11, 14, 17 at right, which hold our
	 * o0..o3) into an origin vector (g0 g2 g4 g6) */
	for (i = 0; i < 8; i++)
		g[i] = -2;
	CHECK_RC(MPI_Get(g, 1, vec, right, 8, 1, tvec, win));
	CHECK_RC(MPI_Win_fence(MPI_MODE_NOSUCCEED, win));
	for (i = 0; i < 8; i++) {
		double want = i % 2 ? -2 : val(t_rank, i / 2);

		CHECK(g[i] == want, "derived get: g[%d] = %g, want %g", i, g[i],
		      want);
	}

	MPI_Type_free(&vec);
	MPI_Type_free(&tvec);
	MPI_Type_free(&idx);
	MPI_Type_free(&hidx);
	MPI_Type_free(&st);
	MPI_Type_free(&sub);
	MPI_Type_free(&rvec1);
	MPI_Type_free(&res);
	MPI_Type_free(&hvec);
	CHECK_RC(MPI_Win_free(&win));
}

/* Displacement unit 8 on a created window of longs. */
static void disp_units(void)
{
	long *b = malloc(8 * sizeof(long)), v = 1000 + t_rank;
	int right = (t_rank + 1) % t_size, left = (t_rank + t_size - 1) % t_size;
	MPI_Win win;
	int i;

	for (i = 0; i < 8; i++)
		b[i] = 0;
	CHECK_RC(MPI_Win_create(b, 8 * sizeof(long), sizeof(long),
				MPI_INFO_NULL, MPI_COMM_WORLD, &win));
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	CHECK_RC(MPI_Win_fence(0, win));
	CHECK_RC(MPI_Put(&v, 1, MPI_LONG, right, 5, 1, MPI_LONG, win));
	CHECK_RC(MPI_Win_fence(MPI_MODE_NOSUCCEED, win));
	for (i = 0; i < 8; i++)
		CHECK(b[i] == (i == 5 ? 1000 + left : 0), "disp unit: b[%d] = %ld",
		      i, b[i]);
	CHECK_RC(MPI_Win_free(&win));
	free(b);
}

/* MPI_Rput / MPI_Rget in a passive epoch, completed by Wait/Test/Waitall. */
static void requests(void)
{
	int *b, src[8], dst[8], i, flag = 0, right = (t_rank + 1) % t_size;
	int left = (t_rank + t_size - 1) % t_size;
	MPI_Request rq[2];
	MPI_Status stv[2];
	MPI_Win win;

	CHECK_RC(MPI_Win_allocate(16 * sizeof(int), sizeof(int), MPI_INFO_NULL,
				  MPI_COMM_WORLD, &b, &win));
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	for (i = 0; i < 16; i++)
		b[i] = 0;
	for (i = 0; i < 8; i++)
		src[i] = t_rank * 10 + i;
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_lock_all(0, win));
	CHECK_RC(MPI_Rput(src, 4, MPI_INT, right, 0, 4, MPI_INT, win, &rq[0]));
	CHECK_RC(MPI_Wait(&rq[0], MPI_STATUS_IGNORE));
	CHECK(rq[0] == MPI_REQUEST_NULL, "MPI_Wait left the request");
	CHECK_RC(MPI_Rput(src + 4, 4, MPI_INT, right, 4, 4, MPI_INT, win,
			  &rq[0]));
	CHECK_RC(MPI_Waitall(1, rq, stv));
	CHECK_RC(MPI_Win_flush(right, win));
	memset(dst, 0, sizeof(dst));
	CHECK_RC(MPI_Rget(dst, 4, MPI_INT, right, 0, 4, MPI_INT, win, &rq[0]));
	CHECK_RC(MPI_Rget(dst + 4, 4, MPI_INT, right, 4, 4, MPI_INT, win,
			  &rq[1]));
	/* MPI_Test must complete the request eventually; bounded in time
	 * (not in calls), yielding so oversubscribed ranks make progress. */
	for (double t0 = MPI_Wtime(); !flag && MPI_Wtime() - t0 < 60.0;) {
		if (MPI_Test(&rq[0], &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS)
			break;
		if (!flag)
			sched_yield();
	}
	CHECK(flag, "MPI_Test did not complete the MPI_Rget request in 60 s");
	CHECK_RC(MPI_Waitall(2, rq, stv));
	CHECK_RC(MPI_Win_unlock_all(win));
	for (i = 0; i < 8; i++)
		CHECK(dst[i] == src[i], "Rget dst[%d] = %d, want %d", i, dst[i],
		      src[i]);
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_lock(MPI_LOCK_SHARED, t_rank, 0, win));
	for (i = 0; i < 8; i++)
		CHECK(b[i] == left * 10 + i, "Rput landed b[%d] = %d", i, b[i]);
	CHECK_RC(MPI_Win_unlock(t_rank, win));
	CHECK_RC(MPI_Win_free(&win));
}

/*
 * Datatypes freed and made again, one put each: a new type (which may get
 * the handle of a freed one) must never be served as the old one was,
 * whether contiguous or not.
 */
static void types_reused(void)
{
	int *b, src[8], i, k, right = (t_rank + 1) % t_size;
	int left = (t_rank + t_size - 1) % t_size;
	MPI_Datatype t;
	MPI_Win win;

	CHECK_RC(MPI_Win_allocate(8 * sizeof(int), sizeof(int), MPI_INFO_NULL,
				  MPI_COMM_WORLD, &b, &win));
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	for (i = 0; i < 8; i++)
		src[i] = t_rank * 10 + i;
	for (k = 0; k < 6; k++) {
		int vec = k % 2;

		for (i = 0; i < 8; i++)
			b[i] = -1;
		if (vec)	/* elements 0, 2, 4, 6 */
			MPI_Type_vector(4, 1, 2, MPI_INT, &t);
		else		/* elements 0..3 */
			MPI_Type_contiguous(4, MPI_INT, &t);
		MPI_Type_commit(&t);
		CHECK_RC(MPI_Win_fence(0, win));
		CHECK_RC(MPI_Put(src, 1, t, right, 0, 1, t, win));
		CHECK_RC(MPI_Win_fence(0, win));
		MPI_Type_free(&t);
		for (i = 0; i < 8; i++) {
			int in = vec ? i % 2 == 0 : i < 4;

			CHECK(b[i] == (in ? left * 10 + i : -1), "type %d (%s): "
			      "b[%d] = %d", k, vec ? "vector" : "contiguous", i,
			      b[i]);
		}
	}
	CHECK_RC(MPI_Win_fence(MPI_MODE_NOSUCCEED, win));
	CHECK_RC(MPI_Win_free(&win));
}

int main(int argc, char **argv)
{
	t_init(&argc, &argv);
	flavours(0);
	flavours(1);
	flavours(2);
	flavours(3);
	derived();
	disp_units();
	requests();
	types_reused();
	return t_finish("test-rma-putget");
}
