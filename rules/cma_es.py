"""CMA-ES (Hansen & Ostermeier 2001; Hansen 2016 tutorial) for small networks."""

from __future__ import annotations

import numpy as np
from numba import njit

from rulelab.core.population import S_GENERATION, S_MEAN, S_SIGMA, ESParams, PopulationRule
from rulelab.rule import Field
from rulelab.rules.mu_lambda_es import best_first, expected_norm

MAX_PARAMETERS = 5000  # a full n × n covariance: 5000² doubles is 200 MB

# Constants kept in the state after the strategy's arrays, in this order.
LAM, MU, MUEFF, C1, CMU, CS, CC, DAMPS, CHI, SINCE_EIGEN, EIGEN_EVERY = range(11)
CONSTANTS = 11


class CMAESParams(ESParams):
    population: int = Field(0, ge=0, description="λ (0: the default 4 + ⌊3 ln n⌋)")


def default_population(n: int, given: int) -> int:
    return given or 4 + int(3 * np.log(n))


def parts(state, n, lam, mu):
    """Views of the state: pc, ps, C, B, D, the last y (λ × n), the recombination weights, the constants."""
    o = S_MEAN + n
    pc, ps = state[o:o + n], state[o + n:o + 2 * n]
    o += 2 * n
    C = state[o:o + n * n].reshape((n, n))
    B = state[o + n * n:o + 2 * n * n].reshape((n, n))
    o += 2 * n * n
    D = state[o:o + n]
    y = state[o + n:o + n + lam * n].reshape((lam, n))
    o += n + lam * n
    w = state[o:o + mu]
    k = state[o + mu:o + mu + CONSTANTS]
    return pc, ps, C, B, D, y, w, k


_parts = njit(cache=True, inline="always")(parts)  # the same views, inside the kernels


@njit(cache=True)
def cma_es_ask(state, hp, noise, noise64, population):
    """x_k = m + σ y_k,  y_k = B D z_k  (z ~ N(0, I)): a sample of N(m, σ² C)."""
    lam, n = population.shape
    mu = lam // 2
    pc, ps, C, B, D, y, w, k = _parts(state, n, lam, mu)
    y[:, :] = np.dot(noise64[:lam] * D, B.T)
    for i in range(lam):
        for j in range(n):
            population[i, j] = state[S_MEAN + j] + state[S_SIGMA] * y[i, j]


@njit(cache=True)
def cma_es_tell(state, hp, population, noise, noise64, fitness):
    """m ← m + σ Σ wᵢ yᵢ,  C ← (1−c₁−c_μ)C + c₁ p pᵀ + c_μ Σ wᵢ yᵢyᵢᵀ,  σ by the conjugate path (CSA)."""
    lam, n = population.shape
    mu = lam // 2
    pc, ps, C, B, D, y, w, k = _parts(state, n, lam, mu)
    order = best_first(fitness)[:mu]
    y_sel = np.empty((mu, n))
    for i in range(mu):
        y_sel[i] = y[order[i]]
    y_w = np.dot(w, y_sel)
    sigma = state[S_SIGMA]
    for j in range(n):
        state[S_MEAN + j] += sigma * y_w[j]
    inv_sqrt_c_y = np.dot(B, np.dot(B.T, y_w) / D)
    cs, cc, mueff, c1, cmu = k[CS], k[CC], k[MUEFF], k[C1], k[CMU]
    ps[:] = (1.0 - cs) * ps + np.sqrt(cs * (2.0 - cs) * mueff) * inv_sqrt_c_y
    g = state[S_GENERATION] + 1.0
    ps_norm = np.sqrt(np.sum(ps * ps))
    hsig = 1.0 if ps_norm / np.sqrt(1.0 - (1.0 - cs) ** (2.0 * g)) / k[CHI] < 1.4 + 2.0 / (n + 1) else 0.0
    pc[:] = (1.0 - cc) * pc + hsig * np.sqrt(cc * (2.0 - cc) * mueff) * y_w
    weighted = y_sel.T * w
    C[:, :] = ((1.0 - c1 - cmu + (1.0 - hsig) * c1 * cc * (2.0 - cc)) * C + c1 * np.outer(pc, pc)
               + cmu * np.dot(weighted, y_sel))
    state[S_SIGMA] = sigma * np.exp((cs / k[DAMPS]) * (ps_norm / k[CHI] - 1.0))
    k[SINCE_EIGEN] += 1.0
    if k[SINCE_EIGEN] >= k[EIGEN_EVERY]:
        # Lazy eigendecomposition: O(n³), done every ~1/(10 n (c1 + cmu)) generations.
        k[SINCE_EIGEN] = 0.0
        symmetric = np.triu(C) + np.triu(C, 1).T
        C[:, :] = symmetric
        d2, vectors = np.linalg.eigh(symmetric)
        B[:, :] = vectors
        for j in range(n):
            D[j] = np.sqrt(max(d2[j], 1e-20))
    state[S_GENERATION] = g


class CMAES(PopulationRule):
    name = "cma_es"
    summary = "Adapts a full covariance matrix of the search distribution (rank-one and rank-μ updates)."
    equation = "x ~ m + σ N(0, C),  C ← (1−c₁−c_μ)C + c₁ p pᵀ + c_μ Σ wᵢ yᵢyᵢᵀ"
    reference = "Hansen & Ostermeier 2001; Hansen 2016"
    Params = CMAESParams
    ask_kernel = staticmethod(cma_es_ask)
    tell_kernel = staticmethod(cma_es_tell)

    def check_network(self, net) -> str | None:
        if net.n_params > MAX_PARAMETERS:
            return (f"cma_es keeps an n × n covariance; this network has {net.n_params} parameters "
                    f"(at most {MAX_PARAMETERS}); use openai_es or a smaller network")
        return None

    def population_size(self, n: int) -> int:
        return default_population(n, self.params.population)

    def extra_state_size(self, n: int) -> int:
        lam = self.population_size(n)
        return 2 * n + 2 * n * n + n + lam * n + lam // 2 + CONSTANTS

    def initial_state(self, theta: np.ndarray) -> np.ndarray:
        state = super().initial_state(theta)
        n = theta.size
        lam = self.population_size(n)
        mu = lam // 2
        pc, ps, C, B, D, y, w, k = parts(state, n, lam, mu)
        w[:] = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
        w /= w.sum()
        mueff = 1.0 / np.sum(w ** 2)
        c1 = 2 / ((n + 1.3) ** 2 + mueff)
        cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
        cs = (mueff + 2) / (n + mueff + 5)
        C[:, :] = np.eye(n)
        B[:, :] = np.eye(n)
        D[:] = 1.0
        k[:] = 0.0
        k[LAM], k[MU], k[MUEFF], k[C1], k[CMU], k[CS] = lam, mu, mueff, c1, cmu, cs
        k[CC] = (4 + mueff / n) / (n + 4 + 2 * mueff / n)
        k[DAMPS] = 1 + 2 * max(0.0, np.sqrt((mueff - 1) / (n + 1)) - 1) + cs
        k[CHI] = expected_norm(n)
        k[EIGEN_EVERY] = max(1, int(1 / ((c1 + cmu) * n * 10)))
        return state
