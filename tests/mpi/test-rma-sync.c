/*
 * Synchronization and window queries: post/start/complete/wait/test,
 * exclusive and shared locks, lock_all with every flush, MPI_Win_sync on a
 * shared window with MPI_Win_shared_query, the window attributes, its group
 * and its info keys.
 */
#include "test-rma-common.h"

static void pscw(void)
{
	int *b, v, i, flag, right = (t_rank + 1) % t_size;
	int left = (t_rank + t_size - 1) % t_size;
	MPI_Group world, gl, gr;
	MPI_Win win;

	CHECK_RC(MPI_Win_allocate(4 * sizeof(int), sizeof(int), MPI_INFO_NULL,
				  MPI_COMM_WORLD, &b, &win));
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	b[0] = b[1] = b[2] = b[3] = -1;
	MPI_Comm_group(MPI_COMM_WORLD, &world);
	MPI_Group_incl(world, 1, &left, &gl);
	MPI_Group_incl(world, 1, &right, &gr);
	MPI_Barrier(MPI_COMM_WORLD);
	for (i = 0; i < 2; i++) {
		CHECK_RC(MPI_Win_post(gl, 0, win));
		CHECK_RC(MPI_Win_start(gr, 0, win));
		v = t_rank * 10 + i;
		CHECK_RC(MPI_Put(&v, 1, MPI_INT, right, i, 1, MPI_INT, win));
		CHECK_RC(MPI_Win_complete(win));
		if (i == 0) {
			CHECK_RC(MPI_Win_wait(win));
		} else {
			int n;

			flag = 0;
			for (n = 0; n < 10000000 && !flag; n++)
				if (MPI_Win_test(win, &flag) != MPI_SUCCESS)
					break;
			CHECK(flag, "MPI_Win_test never saw the epoch end");
		}
		CHECK(b[i] == left * 10 + i, "pscw round %d: b = %d, want %d",
		      i, b[i], left * 10 + i);
	}
	MPI_Group_free(&gl);
	MPI_Group_free(&gr);
	MPI_Group_free(&world);
	CHECK_RC(MPI_Win_free(&win));
}

static void locks(void)
{
	long *b, v, one = 1;
	int i, r;
	MPI_Win win;

	CHECK_RC(MPI_Win_allocate(8 * sizeof(long), sizeof(long),
				  MPI_INFO_NULL, MPI_COMM_WORLD, &b, &win));
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	for (i = 0; i < 8; i++)
		b[i] = 0;
	MPI_Barrier(MPI_COMM_WORLD);
	/* read-modify-write under an exclusive lock: no update is lost */
	for (i = 0; i < 25; i++) {
		CHECK_RC(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, win));
		CHECK_RC(MPI_Get(&v, 1, MPI_LONG, 0, 0, 1, MPI_LONG, win));
		CHECK_RC(MPI_Win_flush(0, win));
		v++;
		CHECK_RC(MPI_Put(&v, 1, MPI_LONG, 0, 0, 1, MPI_LONG, win));
		CHECK_RC(MPI_Win_unlock(0, win));
	}
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_lock(MPI_LOCK_SHARED, 0, MPI_MODE_NOCHECK, win));
	CHECK_RC(MPI_Get(&v, 1, MPI_LONG, 0, 0, 1, MPI_LONG, win));
	CHECK_RC(MPI_Win_unlock(0, win));
	CHECK(v == 25L * t_size, "exclusive lock counter %ld, want %d", v,
	      25 * t_size);

	/* lock_all with every flush flavour */
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_lock_all(0, win));
	for (r = 0; r < t_size; r++) {
		v = 100 + t_rank;
		CHECK_RC(MPI_Put(&v, 1, MPI_LONG, r, 1 + (t_rank % 4), 1,
				 MPI_LONG, win));
		CHECK_RC(MPI_Win_flush_local(r, win));
		CHECK_RC(MPI_Accumulate(&one, 1, MPI_LONG, r, 6, 1, MPI_LONG,
					MPI_SUM, win));
	}
	CHECK_RC(MPI_Win_flush_local_all(win));
	CHECK_RC(MPI_Win_flush_all(win));
	CHECK_RC(MPI_Win_unlock_all(win));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_lock(MPI_LOCK_SHARED, t_rank, 0, win));
	CHECK_RC(MPI_Win_sync(win));
	CHECK(b[6] == t_size, "lock_all accumulate total %ld", b[6]);
	if (t_size <= 4)
		for (r = 0; r < t_size; r++)
			CHECK(b[1 + r] == 100 + r, "lock_all put b[%d] = %ld",
			      1 + r, b[1 + r]);
	CHECK_RC(MPI_Win_unlock(t_rank, win));
	CHECK_RC(MPI_Win_free(&win));
}

static void shared(void)
{
	int *mine, *theirs, du = 0, i, right = (t_rank + 1) % t_size;
	int left = (t_rank + t_size - 1) % t_size, flavor, *fp, flag;
	MPI_Aint sz = 0;
	MPI_Win win;

	CHECK_RC(MPI_Win_allocate_shared(4 * sizeof(int), sizeof(int),
					 MPI_INFO_NULL, MPI_COMM_WORLD, &mine,
					 &win));
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
	CHECK_RC(MPI_Win_shared_query(win, right, &sz, &du, &theirs));
	CHECK(sz == 4 * sizeof(int), "shared_query size %ld", (long)sz);
	CHECK(du == sizeof(int), "shared_query disp_unit %d", du);
	CHECK_RC(MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, &fp, &flag));
	flavor = flag ? *fp : -1;
	CHECK(flavor == MPI_WIN_FLAVOR_SHARED, "flavour %d", flavor);
	CHECK_RC(MPI_Win_lock_all(0, win));
	for (i = 0; i < 4; i++)
		mine[i] = 0;
	CHECK_RC(MPI_Win_sync(win));
	MPI_Barrier(MPI_COMM_WORLD);
	for (i = 0; i < 4; i++)
		theirs[i] = t_rank * 4 + i; /* direct stores */
	CHECK_RC(MPI_Win_sync(win));
	MPI_Barrier(MPI_COMM_WORLD);
	CHECK_RC(MPI_Win_sync(win));
	for (i = 0; i < 4; i++)
		CHECK(mine[i] == left * 4 + i, "shared: mine[%d] = %d", i,
		      mine[i]);
	CHECK_RC(MPI_Win_unlock_all(win));
	CHECK_RC(MPI_Win_free(&win));
}

static void queries(void)
{
	double *buf = malloc(10 * sizeof(double));
	void *base = NULL;
	MPI_Aint *size = NULL;
	int *du = NULL, *flavor = NULL, *model = NULL, flag, res, nkeys, k;
	MPI_Group wg, cg;
	MPI_Info info, used;
	MPI_Win win;
	char v[MPI_MAX_INFO_VAL + 1], name[MPI_MAX_OBJECT_NAME];
	static const char *const keys[][2] = {
		{ "no_locks", "false" },
		{ "accumulate_ordering", "none" },
		{ "accumulate_ops", "same_op" },
		{ "same_size", "true" },
		{ "same_disp_unit", "true" },
	};

	MPI_Info_create(&info);
	for (k = 0; k < 5; k++)
		MPI_Info_set(info, keys[k][0], keys[k][1]);
	CHECK_RC(MPI_Win_create(buf, 10 * sizeof(double), sizeof(double), info,
				MPI_COMM_WORLD, &win));
	MPI_Info_free(&info);
	MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);

	CHECK_RC(MPI_Win_get_attr(win, MPI_WIN_BASE, &base, &flag));
	CHECK(flag && base == buf, "MPI_WIN_BASE %p, want %p", base,
	      (void *)buf);
	CHECK_RC(MPI_Win_get_attr(win, MPI_WIN_SIZE, &size, &flag));
	CHECK(flag && *size == 10 * sizeof(double), "MPI_WIN_SIZE %ld",
	      flag ? (long)*size : -1L);
	CHECK_RC(MPI_Win_get_attr(win, MPI_WIN_DISP_UNIT, &du, &flag));
	CHECK(flag && *du == sizeof(double), "MPI_WIN_DISP_UNIT %d",
	      flag ? *du : -1);
	CHECK_RC(MPI_Win_get_attr(win, MPI_WIN_CREATE_FLAVOR, &flavor, &flag));
	CHECK(flag && *flavor == MPI_WIN_FLAVOR_CREATE, "flavour %d",
	      flag ? *flavor : -1);
	CHECK_RC(MPI_Win_get_attr(win, MPI_WIN_MODEL, &model, &flag));
	CHECK(flag && (*model == MPI_WIN_UNIFIED ||
		       (!t_interposed() && *model == MPI_WIN_SEPARATE)),
	      "memory model %d", flag ? *model : -1);

	CHECK_RC(MPI_Win_get_group(win, &wg));
	MPI_Comm_group(MPI_COMM_WORLD, &cg);
	MPI_Group_compare(wg, cg, &res);
	CHECK(res == MPI_IDENT, "window group compares %d with the world", res);
	MPI_Group_free(&wg);
	MPI_Group_free(&cg);

	CHECK_RC(MPI_Win_set_name(win, "libwin-test-window"));
	CHECK_RC(MPI_Win_get_name(win, name, &k));
	CHECK(!strcmp(name, "libwin-test-window"), "name %s", name);

	CHECK_RC(MPI_Win_get_info(win, &used));
	MPI_Info_get_nkeys(used, &nkeys);
	for (k = 0; k < 5; k++) {
		flag = 0;
		MPI_Info_get(used, keys[k][0], MPI_MAX_INFO_VAL, v, &flag);
		/* MPI libraries may drop keys; libwin_pmpi returns all five */
		if (t_interposed())
			CHECK(flag && !strcmp(v, keys[k][1]), "info %s = %s, "
			      "want %s", keys[k][0], flag ? v : "(unset)",
			      keys[k][1]);
		else if (flag && !strcmp(keys[k][0], "no_locks"))
			CHECK(!strcmp(v, "false"), "info no_locks = %s", v);
	}
	MPI_Info_free(&used);
	CHECK_RC(MPI_Win_free(&win));
	free(buf);
}

int main(int argc, char **argv)
{
	t_init(&argc, &argv);
	pscw();
	locks();
	shared();
	queries();
	return t_finish("test-rma-sync");
}
