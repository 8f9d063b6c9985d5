"""Student's t without SciPy: quantiles, CDF and the paired test against SciPy itself."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rulelab.output.stats import incomplete_beta, paired_t_test, t_cdf, t_quantile, t_quantiles, t_two_sided


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 19, 30, 100, 1000])
def test_quantiles_and_cdf_match_scipy(df):
    for p in (0.5, 0.6, 0.9, 0.975, 0.995, 0.9999, 0.025):
        assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-12, abs=1e-14)
    for t in (-50.0, -3.0, -0.3, 0.0, 0.7, 2.0, 12.0, 1e4):
        assert t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), rel=1e-12, abs=1e-300)
        assert t_two_sided(t, df) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-11, abs=1e-300)


def test_textbook_values():
    # The 95 % two-sided critical values every statistics table prints.
    assert round(t_quantile(0.975, 1), 3) == 12.706
    assert round(t_quantile(0.975, 9), 3) == 2.262
    assert round(t_quantile(0.975, 19), 3) == 2.093
    np.testing.assert_allclose(t_quantiles(0.975, np.array([1, 9, 9, 19])), [12.7062047, 2.2621572, 2.2621572,
                                                                            2.0930241], rtol=1e-7)
    assert incomplete_beta(2.0, 3.0, 0.4) == pytest.approx(0.5248, rel=1e-12)  # 1 − (1−x)⁴ − 4x(1−x)³


def test_paired_test_matches_scipy():
    rng = np.random.default_rng(3)
    for n in (2, 3, 10, 40):
        a, b = rng.normal(size=n), rng.normal(0.3, 1.0, size=n)
        assert paired_t_test(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-10)
    # A huge effect: a tiny p-value without cancellation.
    a = np.arange(10.0) + 100.0
    b = a - 5.0 + 1e-3 * np.arange(10)
    assert paired_t_test(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-8)
