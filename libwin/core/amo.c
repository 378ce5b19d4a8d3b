/*
 * Atomic element arithmetic. Integer sum and bitwise ops map to the CPU's
 * fetch-and-op instructions; everything else (products, min/max, floating
 * point) is a compare-and-swap loop on the element's bits, which is atomic
 * with respect to the native forms on the same element.
 */
#include <string.h>

#include "core/amo.h"

/* new = old OP v, for arithmetic types T. */
#define ARITH(T, op, old, v)                                               \
	((op) == WIN_OP_SUM ? (T)((old) + (v)) :                           \
	 (op) == WIN_OP_PROD ? (T)((old) * (v)) :                          \
	 (op) == WIN_OP_MIN ? ((v) < (old) ? (v) : (old)) :                \
	 (op) == WIN_OP_MAX ? ((v) > (old) ? (v) : (old)) :                \
	 (op) == WIN_OP_REPLACE ? (v) : (old))

#define BITS(T, op, old, v)                                                \
	((op) == WIN_OP_BAND ? (T)((old) & (v)) :                          \
	 (op) == WIN_OP_BOR ? (T)((old) | (v)) :                           \
	 (op) == WIN_OP_BXOR ? (T)((old) ^ (v)) : ARITH(T, op, old, v))

/* Integers: sums in unsigned arithmetic (wrap-around is defined). */
#define INT_COMPUTE(T, U, op, old, v)                                      \
	((op) == WIN_OP_SUM ? (T)((U)(old) + (U)(v)) :                     \
	 (op) == WIN_OP_PROD ? (T)((U)(old) * (U)(v)) : BITS(T, op, old, v))

#define DEFINE_INT_CPU(NAME, T, U)                                         \
	static void NAME(T *t, const struct win_amo *a)                    \
	{                                                                  \
		const T *in = a->operand;                                  \
		T *res = a->result;                                        \
		for (size_t i = 0; i < a->count; i++) {                    \
			T old, nv, v = in ? in[i] : 0;                     \
			switch (a->op) {                                   \
			case WIN_OP_SUM:                                   \
				old = (T)__atomic_fetch_add(               \
					(U *)&t[i], (U)v,                  \
					__ATOMIC_SEQ_CST);                 \
				break;                                     \
			case WIN_OP_BAND:                                  \
				old = __atomic_fetch_and(&t[i], v,         \
							 __ATOMIC_SEQ_CST);\
				break;                                     \
			case WIN_OP_BOR:                                   \
				old = __atomic_fetch_or(&t[i], v,          \
							__ATOMIC_SEQ_CST); \
				break;                                     \
			case WIN_OP_BXOR:                                  \
				old = __atomic_fetch_xor(&t[i], v,         \
							 __ATOMIC_SEQ_CST);\
				break;                                     \
			case WIN_OP_REPLACE:                               \
				old = __atomic_exchange_n(&t[i], v,        \
							  __ATOMIC_SEQ_CST);\
				break;                                     \
			case WIN_OP_NO_OP:                                 \
				old = __atomic_load_n(&t[i],               \
						      __ATOMIC_SEQ_CST);   \
				break;                                     \
			case WIN_AMO_CSWAP:                                \
				old = ((const T *)a->compare)[i];          \
				__atomic_compare_exchange_n(               \
					&t[i], &old, v, false,             \
					__ATOMIC_SEQ_CST,                  \
					__ATOMIC_SEQ_CST);                 \
				break;                                     \
			default:                                           \
				old = __atomic_load_n(&t[i],               \
						      __ATOMIC_RELAXED);   \
				do {                                       \
					nv = INT_COMPUTE(T, U, a->op, old, \
							 v);               \
				} while (!__atomic_compare_exchange_n(     \
					&t[i], &old, nv, true,             \
					__ATOMIC_SEQ_CST,                  \
					__ATOMIC_RELAXED));                \
			}                                                  \
			if (res)                                           \
				res[i] = old;                              \
		}                                                          \
	}

DEFINE_INT_CPU(amo_i32, int32_t, uint32_t)
DEFINE_INT_CPU(amo_u32, uint32_t, uint32_t)
DEFINE_INT_CPU(amo_i64, int64_t, uint64_t)
DEFINE_INT_CPU(amo_u64, uint64_t, uint64_t)

/* Floating point: every op is a CAS loop on the bits (U). */
#define DEFINE_FP_CPU(NAME, F, U)                                          \
	static void NAME(U *t, const struct win_amo *a)                    \
	{                                                                  \
		const F *in = a->operand;                                  \
		F *res = a->result;                                        \
		for (size_t i = 0; i < a->count; i++) {                    \
			U oldb = __atomic_load_n(&t[i], __ATOMIC_SEQ_CST); \
			U newb;                                            \
			F old, nv, v = in ? in[i] : 0;                     \
			if (a->op == WIN_AMO_CSWAP) {                      \
				memcpy(&oldb, &((const F *)a->compare)[i], \
				       sizeof(U));                         \
				memcpy(&newb, &v, sizeof(U));              \
				__atomic_compare_exchange_n(               \
					&t[i], &oldb, newb, false,         \
					__ATOMIC_SEQ_CST,                  \
					__ATOMIC_SEQ_CST);                 \
			} else if (a->op != WIN_OP_NO_OP) {                \
				do {                                       \
					memcpy(&old, &oldb, sizeof(U));    \
					nv = ARITH(F, a->op, old, v);      \
					memcpy(&newb, &nv, sizeof(U));     \
				} while (!__atomic_compare_exchange_n(     \
					&t[i], &oldb, newb, true,          \
					__ATOMIC_SEQ_CST,                  \
					__ATOMIC_SEQ_CST));                \
			}                                                  \
			if (res)                                           \
				memcpy(&res[i], &oldb, sizeof(U));         \
		}                                                          \
	}

DEFINE_FP_CPU(amo_f32, float, uint32_t)
DEFINE_FP_CPU(amo_f64, double, uint64_t)

void win_amo_cpu(void *target, const struct win_amo *a)
{
	switch (a->type) {
	case WIN_INT32: amo_i32(target, a); break;
	case WIN_UINT32: amo_u32(target, a); break;
	case WIN_INT64: amo_i64(target, a); break;
	case WIN_UINT64: amo_u64(target, a); break;
	case WIN_FLOAT: amo_f32(target, a); break;
	case WIN_DOUBLE: amo_f64(target, a); break;
	}
}

#define COMPUTE_INT(T, U)                                                  \
	do {                                                               \
		T o, v = 0, n;                                             \
		memcpy(&o, old, sizeof(T));                                \
		if (a->operand)                                            \
			memcpy(&v, (const T *)a->operand + i, sizeof(T));  \
		if (a->op == WIN_AMO_CSWAP) {                              \
			T c;                                               \
			memcpy(&c, (const T *)a->compare + i, sizeof(T));  \
			n = o == c ? v : o;                                \
		} else {                                                   \
			n = INT_COMPUTE(T, U, a->op, o, v);                \
		}                                                          \
		memcpy(out, &n, sizeof(T));                                \
	} while (0)

#define COMPUTE_FP(F)                                                      \
	do {                                                               \
		F o, v = 0, n;                                             \
		memcpy(&o, old, sizeof(F));                                \
		if (a->operand)                                            \
			memcpy(&v, (const F *)a->operand + i, sizeof(F));  \
		if (a->op == WIN_AMO_CSWAP)                                \
			n = memcmp(old, (const F *)a->compare + i,         \
				   sizeof(F)) ? o : v;                     \
		else                                                       \
			n = ARITH(F, a->op, o, v);                         \
		memcpy(out, &n, sizeof(F));                                \
	} while (0)

bool win_amo_compute(const struct win_amo *a, size_t i, const void *old,
		     void *out)
{
	switch (a->type) {
	case WIN_INT32: COMPUTE_INT(int32_t, uint32_t); break;
	case WIN_UINT32: COMPUTE_INT(uint32_t, uint32_t); break;
	case WIN_INT64: COMPUTE_INT(int64_t, uint64_t); break;
	case WIN_UINT64: COMPUTE_INT(uint64_t, uint64_t); break;
	case WIN_FLOAT: COMPUTE_FP(float); break;
	case WIN_DOUBLE: COMPUTE_FP(double); break;
	}
	return a->op != WIN_OP_NO_OP;
}
