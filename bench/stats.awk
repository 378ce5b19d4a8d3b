# stats.awk: order statistics for the comparison scripts (ofi-compare.sh,
# ofi-rounds.sh, tests/guest/part-verbs-bench.sh), which put this text in
# front of their own awk programs.

# Sort a[1..n] in place (insertion sort: the lists are short).
function sort(a, n,   i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
}
# The p-quantile of sorted a[1..n], interpolated.
function q(a, n, p,   h, l) {
	h = (n - 1) * p + 1; l = int(h)
	return l >= n ? a[n] : a[l] + (h - l) * (a[l + 1] - a[l])
}
# The median of a[1..n] (sorts it).
function median(a, n) {
	sort(a, n)
	return q(a, n, 0.5)
}
# The ranks in sorted a[1..n] that bound a distribution-free 95 %
# confidence interval of the median (binomial order statistics, normal
# approximation; for n >= 6): ci_lo(n) and ci_hi(n).
function ci_lo(n,   r) {
	r = int(n / 2 - 0.98 * sqrt(n) + 0.5)
	return r < 1 ? 1 : r
}
function ci_hi(n,   r) {
	r = int(n / 2 + 1 + 0.98 * sqrt(n) + 0.5)
	return r > n ? n : r
}
