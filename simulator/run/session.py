"""Runs advanced a few epochs at a time: the stepper the playground's server drives.

A :class:`Session` holds one (rule, seed) run of an online or a population plan and
advances it by as many epochs as asked, through the same compiled engines, the same
arrays and the same random generators as :func:`rulelab.run.online.train_online` and
:func:`rulelab.run.population.train_population`.  The engines keep every counter in
their ``run`` array and draw from Generators that carry over between calls, so how a
run is cut into calls changes nothing: stepping k epochs at a time gives the numbers
of one uninterrupted ``rulelab run`` (wall-clock columns aside).  ``tests/test_session.py``
checks that against the whole-run drivers for every kind of rule.

The setup below mirrors those drivers line for line (they are not refactored onto this
module, to leave the run drivers untouched); the equivalence test is what keeps the
two in step.
"""

from __future__ import annotations

import numpy as np

from rulelab.build import Plan
from rulelab.core import engine as E
from rulelab.core import population as PP
from rulelab.run import online as O
from rulelab.run import population as P
from rulelab.run.record import DIVERGED, MetricBlock, RunRecord

STEPPABLE_KINDS = ("online", "population")


class Session:
    """One (rule, seed) run that can be advanced ``k`` epochs at a time.

    ``record`` fills exactly as a whole run fills it (metric blocks, counters, status);
    ``params`` is the live parameter vector (read it between steps, never write it).
    """

    def __init__(self, plan: Plan):
        if plan.kind not in STEPPABLE_KINDS or (plan.kind == "population" and not plan.rule.compiled):
            raise ValueError(f"rule '{plan.rule_name}' cannot be stepped (kind {plan.kind}); "
                             "only online rules and compiled evolution strategies can")
        self.plan = plan
        self.record = RunRecord(plan.label, plan.rule_name, plan.family, plan.seed)
        self.params = np.ascontiguousarray(plan.params, dtype=plan.network.np_dtype).copy()
        self.record.params = self.params
        self.run = np.zeros(PP.POPULATION_RUN_SLOTS)  # the online engine reads the first E.RUN_SLOTS
        self.run[E.R_CRITERION_EPOCH] = -1.0
        self.finished = False  # no epoch left: the epochs ran out, a criterion stopped it, or it diverged
        if plan.kind == "online":
            self._start_online()
        else:
            self._start_population()

    # ------------------------------------------------------------------ public

    @property
    def epoch(self) -> int:
        """Epochs trained so far (over all stages)."""
        return int(self.run[E.R_EPOCH])

    @property
    def stage(self) -> int:
        """Index of the stage that trains next (online plans; 0 for populations)."""
        return self._stage

    def step(self, epochs: int) -> list[MetricBlock]:
        """Train up to ``epochs`` more epochs; the metric blocks written (empty once finished)."""
        if epochs < 0:
            raise ValueError(f"epochs must be ≥ 0, got {epochs}")
        before = len(self.record.blocks)
        left = int(epochs)
        while left > 0 and not self.finished:
            left -= self._step_online(left) if self.plan.kind == "online" else self._step_population(left)
        if self.finished:
            self._final_status()
        return self.record.blocks[before:]

    # ------------------------------------------------------------------ online plans

    def _start_online(self) -> None:
        plan = self.plan
        self._buffers = O._Buffers(plan)
        block, met, _ = O._initial_block(plan, self.params, self.run, self._buffers)
        self.record.blocks.append(block)
        self._stage = 0
        self._stage_left = plan.stages[0].epochs if plan.stages else 0
        self._enter_stage = True
        if met:
            self.record.criterion_epoch, self.record.criterion_forward_passes = 0, 0
            self.run[E.R_CRITERION_EPOCH], self.run[E.R_CRITERION_FORWARD] = 0.0, 0.0
            self.finished = plan.train.stop.early
        if not plan.stages:
            self.finished = True

    def _step_online(self, limit: int) -> int:
        """One engine call of at most ``limit`` epochs in the current stage; the epochs it ran."""
        plan, run = self.plan, self.run
        stage = plan.stages[self._stage]
        if self._enter_stage:
            run[E.R_STATUS] = E.RUNNING  # as _run_stage: a spent budget ends each stage at its first epoch
            self._enter_stage = False
            names, codes = O._codes(O._stage_columns(plan, stage))
            self._stage_names, self._stage_codes = names, codes
            self._stage_cfg = plan.settings(self._stage)
        written = 0
        if self._stage_left > 0 and run[E.R_STATUS] == E.RUNNING:
            net = plan.network
            n = min(limit, self._stage_left)
            codes = self._stage_codes
            cfg, fcfg = self._stage_cfg
            X, Y, _ = plan.sets.train
            values = np.empty((n, len(codes)))
            snaps = self._buffers.snapshots(n, net.np_dtype)
            first = int(run[E.R_EPOCH]) + 1
            buffers = self._buffers
            engine, kernel = O.engine_call(plan, stage)
            written = int(engine(kernel, self.params, net.layout, net.act_args, stage.state, stage.hp, X, Y,
                                 buffers.Xe, buffers.Ye, buffers.order, plan.shuffle_rng, plan.noise_rng,
                                 *O._sets(plan), codes, cfg, fcfg, run, n, values, snaps, buffers.z, buffers.a))
            if written:
                block = MetricBlock(np.arange(first, first + written, dtype=np.int64), self._stage_names,
                                    values[:written])
                O.fill_from_snapshots(plan, block, snaps)
                self.record.blocks.append(block)
                O._copy_counters(run, self.record)
            self._stage_left -= written
        if self._stage_left <= 0 or run[E.R_STATUS] != E.RUNNING:
            self._end_stage()  # a call that wrote nothing always ends its stage: the loop in step() ends
        return written

    def _end_stage(self) -> None:
        """After a stage: stop on divergence or a met criterion, else move on (as train_online does)."""
        plan, run, record = self.plan, self.run, self.record
        O._copy_counters(run, record)
        status = run[E.R_STATUS]
        if status in (E.DIVERGED_NAN, E.DIVERGED_BOUND):
            record.status = DIVERGED
            where = (f" (stage {self._stage + 1}, {plan.stages[self._stage].rule.name})"
                     if len(plan.stages) > 1 else "")
            record.message = f"{O.divergence_message(run)} in epoch {record.epochs_run}{where}"
            self.finished = True
            return
        if status == E.CRITERION_MET or self._stage + 1 >= len(plan.stages):
            self.finished = True
            return
        self._stage += 1
        self._stage_left = plan.stages[self._stage].epochs
        self._enter_stage = True

    # ------------------------------------------------------------------ population plans

    def _start_population(self) -> None:
        plan = self.plan
        net, rule = plan.network, plan.rule
        self._stage = 0
        n_params = self.params.size
        self._state = rule.initial_state(self.params.astype(np.float64))
        self._hp = rule.params.pack()
        self._streams = PP.noise_streams(plan.state_rng)
        self._arrays = P._Arrays(plan, n_params)
        self._cfg, self._fcfg = P._settings(plan, self._arrays)
        sets = (plan.sets.X, plan.sets.T, plan.sets.labels)
        names0 = tuple(name for name, _ in plan.columns) + ("wall_seconds", "forward_passes")
        codes0 = np.asarray([c for _, c in plan.columns] + [E.WALL_SECONDS, E.FORWARD_PASSES], dtype=np.int64)
        values0 = np.zeros((1, len(codes0)))
        met = E.initial_row(self.params, net.layout, net.act_args, *sets, self._cfg[:E.CFG_SLOTS], self._fcfg,
                            self.run, codes0, values0[0], np.zeros((1, 0), dtype=net.np_dtype), self._arrays.z,
                            self._arrays.a)
        self.record.blocks.append(MetricBlock(np.zeros(1, dtype=np.int64), names0, values0))
        columns = plan.columns + P.EPOCH_COLUMNS
        self._names = tuple(name for name, _ in columns)
        self._codes = np.asarray([c for _, c in columns], dtype=np.int64)
        self._left = plan.train.epochs
        if met:
            self.record.criterion_epoch, self.record.criterion_forward_passes = 0, 0
            self.run[E.R_CRITERION_EPOCH], self.run[E.R_CRITERION_FORWARD] = 0.0, 0.0
            self.finished = plan.train.stop.early
        if self._left <= 0:
            self.finished = True

    def _step_population(self, limit: int) -> int:
        plan, run, arrays = self.plan, self.run, self._arrays
        net, rule = plan.network, plan.rule
        n = min(limit, self._left)
        values = np.empty((n, len(self._codes)))
        first = int(run[E.R_EPOCH]) + 1
        X, T, labels = plan.sets.train
        sets = (plan.sets.X, plan.sets.T, plan.sets.labels)
        written = int(PP.run_generations(rule.ask_kernel, rule.tell_kernel, self.params, net.layout, net.act_args,
                                         self._state, self._hp, X, T, labels, self._streams, plan.shuffle_rng,
                                         arrays.noise, arrays.noise64, arrays.population, arrays.fitness,
                                         arrays.Xb, arrays.Tb, arrays.Lb, *sets, self._codes, self._cfg,
                                         self._fcfg, run, arrays.counts, n, values, arrays.z, arrays.a,
                                         arrays.transform))
        if written:
            self.record.blocks.append(MetricBlock(np.arange(first, first + written, dtype=np.int64), self._names,
                                                  values[:written]))
        P._copy_counters(run, self.record)
        self._left -= written
        if self._left <= 0 or run[E.R_STATUS] != E.RUNNING:
            self.finished = True
            if run[E.R_STATUS] in (E.DIVERGED_NAN, E.DIVERGED_BOUND):
                self.record.status = DIVERGED
                self.record.message = f"{O.divergence_message(run)} in epoch {self.record.epochs_run}"
            elif arrays.counts[1]:
                self.record.message = f"{int(arrays.counts[1])} members had a NaN fitness (ranked worst)"
        return written

    # ------------------------------------------------------------------ status

    def _final_status(self) -> None:
        """The status a whole run reports (runner.set_status), once the run is over."""
        from rulelab.run.runner import set_status

        if self.record.status == DIVERGED:
            return
        plan = self.plan
        declared = plan.stop_declared or (plan.kind == "online" and plan.stages[-1].stop_on_zero_signal)
        set_status(plan, self.record, declared)
