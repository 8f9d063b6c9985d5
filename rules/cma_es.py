"""CMA-ES (Hansen & Ostermeier 2001; Hansen 2016 tutorial) for small networks."""

from __future__ import annotations

import numpy as np

from rulelab.core.population import ESParams, ESState, PopulationRule, gaussian_rows
from rulelab.rule import Field
from rulelab.rules.mu_lambda_es import expected_norm

MAX_PARAMETERS = 5000  # a full n × n covariance: 5000² doubles is 200 MB


class CMAESParams(ESParams):
    population: int = Field(0, ge=0, description="λ (0: the default 4 + ⌊3 ln n⌋)")


class CMAES(PopulationRule):
    name = "cma_es"
    summary = "Adapts a full covariance matrix of the search distribution (rank-one and rank-μ updates)."
    equation = "x ~ m + σ N(0, C),  C ← (1−c₁−c_μ)C + c₁ p pᵀ + c_μ Σ wᵢ yᵢyᵢᵀ"
    reference = "Hansen & Ostermeier 2001; Hansen 2016"
    Params = CMAESParams

    def check_network(self, net) -> str | None:
        if net.n_params > MAX_PARAMETERS:
            return (f"cma_es keeps an n × n covariance; this network has {net.n_params} parameters "
                    f"(at most {MAX_PARAMETERS}); use openai_es or a smaller network")
        return None

    def start(self, theta: np.ndarray, rng: np.random.Generator) -> ESState:
        state = super().start(theta, rng)
        n = theta.size
        lam = self.params.population or 4 + int(3 * np.log(n))
        mu = lam // 2
        w = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
        w /= w.sum()
        mueff = 1.0 / np.sum(w ** 2)
        c1 = 2 / ((n + 1.3) ** 2 + mueff)
        cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
        cs = (mueff + 2) / (n + mueff + 5)
        state.extra = {
            "lam": lam, "mu": mu, "w": w, "mueff": mueff, "c1": c1, "cmu": cmu, "cs": cs,
            "cc": (4 + mueff / n) / (n + 4 + 2 * mueff / n),
            "damps": 1 + 2 * max(0.0, np.sqrt((mueff - 1) / (n + 1)) - 1) + cs,
            "pc": np.zeros(n), "ps": np.zeros(n), "C": np.eye(n), "B": np.eye(n), "D": np.ones(n),
            "since_eigen": 0, "eigen_every": max(1, int(1 / ((c1 + cmu) * n * 10))),
            "chi": expected_norm(n), "y": None,
        }
        return state

    def ask(self, state: ESState, rng: np.random.Generator) -> np.ndarray:
        x = state.extra
        z = gaussian_rows(state, rng, x["lam"], state.mean.size)
        x["y"] = (z * x["D"]) @ x["B"].T  # y = B D z, rows
        return state.mean + state.sigma * x["y"]

    def tell(self, state: ESState, population: np.ndarray, fitness: np.ndarray) -> None:
        x = state.extra
        n = state.mean.size
        order = np.argsort(-np.where(np.isnan(fitness), -np.inf, fitness), kind="stable")[:x["mu"]]
        y_sel = x["y"][order]
        y_w = x["w"] @ y_sel
        state.mean = state.mean + state.sigma * y_w
        inv_sqrt_c_y = x["B"] @ ((x["B"].T @ y_w) / x["D"])
        cs, cc, mueff = x["cs"], x["cc"], x["mueff"]
        x["ps"] = (1 - cs) * x["ps"] + np.sqrt(cs * (2 - cs) * mueff) * inv_sqrt_c_y
        g = state.generation + 1
        hsig = np.linalg.norm(x["ps"]) / np.sqrt(1 - (1 - cs) ** (2 * g)) / x["chi"] < 1.4 + 2 / (n + 1)
        x["pc"] = (1 - cc) * x["pc"] + hsig * np.sqrt(cc * (2 - cc) * mueff) * y_w
        c1, cmu = x["c1"], x["cmu"]
        x["C"] = ((1 - c1 - cmu + (1 - hsig) * c1 * cc * (2 - cc)) * x["C"]
                  + c1 * np.outer(x["pc"], x["pc"]) + cmu * (y_sel.T * x["w"]) @ y_sel)
        state.sigma *= float(np.exp((cs / x["damps"]) * (np.linalg.norm(x["ps"]) / x["chi"] - 1)))
        x["since_eigen"] += 1
        if x["since_eigen"] >= x["eigen_every"]:
            # Lazy eigendecomposition: O(n³), done every ~1/(10 n (c1 + cmu)) generations.
            x["since_eigen"] = 0
            C = np.triu(x["C"]) + np.triu(x["C"], 1).T
            d2, x["B"] = np.linalg.eigh(C)
            x["D"] = np.sqrt(np.maximum(d2, 1e-20))
            x["C"] = C
        state.generation = g
