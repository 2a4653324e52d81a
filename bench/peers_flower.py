"""Benchmark: one federated LoRA run on MiniLM, fedtheory against Flower's simulation engine (flwr 1.42 on Ray).

The same training on both sides, so that the times differ by the orchestration alone:
all-MiniLM-L6-v2 + peft LoRA (r = 8 on query/value of all six layers, or ``--layers``), 4 clients
(fedtheory's Dirichlet(1) label-skew partition of 2,000 training reviews), 5 local SGD steps of 16
reviews per client and round, FedAvg weighted by client size, test accuracy on 500 reviews and the
coupling statistic after every round.

1. **fedtheory**: ``run_federated_lora(FedLoRAConfig(method="lora", n=4, local_steps=5, rounds=R,
   layers=...), seed=0)``, one process that runs the clients one after another.
2. **Flower**: a ``ServerApp`` (Flower's message-based ``FedAvg`` strategy, centralized evaluation by
   ``evaluate_fn``, no client-side evaluation) and a ``ClientApp`` run by
   ``flwr.simulation.run_simulation`` on the Ray backend (Flower's default resources: 2 CPUs per
   client, so one Ray actor on a 2-core machine runs the 4 clients in turn). The apps call fedtheory's
   own code for everything but the orchestration: model, cached prefix, partition
   (``federated_lora.setup_run``, as ``run_federated_lora`` builds them), the local step
   (``federated_lora._local_step`` with the same optimizer), the per-round evaluation and coupling.
   Model updates travel as Flower ``ArrayRecord`` messages; Flower's own FedAvg aggregates them.

Identical bits. fedtheory draws every client's batches from one generator, client after client, round
after round; a Flower client replays the draws of the (round, client) pairs before it
(:func:`_client_generator`) and so picks the same batches. Flower's FedAvg sums ``w_k · x_k`` in
float32 with the same float64 weights as fedtheory's ``fedavg``, but in the order the replies arrive;
:func:`_ordered_fedavg` sorts them by partition first, so both sums run in the same order. Torch runs
with the same thread count in every process (``--threads``). So the final states are expected to be
bit-identical, and then the per-example test predictions must be equal. If the states differ (another
thread count or kernel order changes float32 rounding), up to ``--max-flips`` of the 500 test
predictions may differ: models that differ by rounding only flip reviews that lie within rounding of
the decision boundary, while a wrong partition, batch or weighting moves the state by far more than
rounding and is caught by the printed max |Δ|. Each row's check runs before any time is printed; a
failed check stops the run with ``SystemExit``.

Timing. Each run is a fresh process (``python -c``, the run's code imported from this module), timed
from spawn to exit as a user would see it: interpreter, imports, model load, Ray start-up and
shutdown included. R = 1 and R = 3 rounds by default; the extra-round time is (t₃ − t₁) / 2. An
untimed process first imports both stacks and loads MiniLM and the reviews, so that neither side pays
for a cold disk cache. Each child
also records when it reached its milestones, and the Flower side records per round the clients'
compute (and set-up) seconds and the server's evaluation seconds; the rest of a round is Flower's own
overhead (messages, serialization, Ray calls, polling), printed as a breakdown.

Flower never goes into the project's ``.venv``. Run: ``make bench-flower`` (creates ``.venv-flower``;
``PEER_ARGS="--layers 5"`` passes flags), or ``.venv-flower/bin/python -m bench.peers_flower
[--rounds 1 3] [--layers 5] [--repeats 1]`` from the repository root. Offline: Flower's telemetry and
Ray's usage statistics are switched off in the children's environment.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from fedtheory.simulators.la_lora.federated_lora import FedLoRAConfig

ROOT = Path(__file__).resolve().parents[1]
SIDES = ("fedtheory", "flower")
FLOWER_VERSION = "1.42.0"
#: the children's environment on top of the parent's: no network from Flower, Ray or Hugging Face
CHILD_ENV = {"FLWR_TELEMETRY_ENABLED": "0", "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1",
             "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


# --------------------------------------------------------------------------- shared set-up (child processes)


def make_config(rounds: int, layers: Sequence[int] | None) -> FedLoRAConfig:
    """The issue's run: plain federated LoRA, 4 clients × 5 local steps, ``rounds`` rounds."""
    from fedtheory.simulators.la_lora.federated_lora import FedLoRAConfig

    return FedLoRAConfig(method="lora", n=4, local_steps=5, rounds=rounds,
                         layers=None if layers is None else tuple(layers))


def config_json(cfg: FedLoRAConfig) -> str:
    """A FedLoRAConfig as JSON: how it travels to the clients inside Flower's ConfigRecord."""
    return json.dumps(asdict(cfg))


def config_from_json(text: str) -> FedLoRAConfig:
    """The inverse of :func:`config_json`."""
    from fedtheory.simulators.la_lora.federated_lora import FedLoRAConfig

    return FedLoRAConfig(**json.loads(text))  # __post_init__ turns the layer list back into a tuple


@dataclass
class Setup:
    """What a process trains or evaluates with: fedtheory's model, cached prefix, partition and probe."""

    model: Any
    top: Any
    data: dict
    parts: list
    names: list[str]
    test_pos: Any
    probe: Any


#: one Setup per (config, seed) and process: a Ray actor builds it on its first message and keeps it
_SETUPS: dict[str, Setup] = {}


def prepare(cfg: FedLoRAConfig, seed: int) -> Setup:
    """Model, data, partition and probe from ``setup_run``, as ``run_federated_lora`` builds them (non-private,
    ``m`` None), once per process."""
    key = f"{cfg.key()}|{seed}"
    if key not in _SETUPS:
        import torch

        from fedtheory.simulators.la_lora.federated_lora import setup_run

        if cfg.m is not None or cfg.private:
            raise ValueError("the Flower side mirrors the non-private run with m=None only")
        model, top, data, parts, probe = setup_run(cfg, seed, "cpu")
        _SETUPS[key] = Setup(model, top, data, parts, [n for n, p in model.named_parameters() if p.requires_grad],
                             torch.arange(cfg.train_examples, cfg.train_examples + cfg.test_examples), probe)
    return _SETUPS[key]


# --------------------------------------------------------------------------- Flower: client side


def _client_generator(cfg: FedLoRAConfig, seed: int, sizes: Sequence[int], rnd: int, cid: int
                      ) -> torch.Generator:
    """fedtheory's batch generator as client ``cid`` finds it in round ``rnd`` (0-based).

    fedtheory runs the clients in turn on one generator; each non-private step draws one
    ``randperm(|client|)``. Replaying the draws of every earlier (round, client) gives the same batches.
    """
    import torch

    from fedtheory.simulators.shared import seeding

    gen = seeding.generator(int(seed), "batches and noise")
    for n in [*list(sizes) * rnd, *sizes[:cid]]:
        for _ in range(cfg.local_steps):
            torch.randperm(n, generator=gen)
    return gen


def local_training(s: Setup, cfg: FedLoRAConfig, state: dict, rnd: int, cid: int, gen: torch.Generator
                   ) -> tuple[dict, list[float]]:
    """One client's round, fedtheory's ``client_round`` (non-private: σ = 0): its state after and its step losses."""
    from fedtheory.simulators.la_lora.federated_lora import client_round

    return client_round(s.model, s.top, state, s.data, s.parts[cid], cfg, rnd, 0.0, gen)


def client_train(msg: Any, context: Any) -> Any:
    """The ClientApp's train function: fedtheory's local steps on the global state the message carries.

    Module-level, so that Ray pickles it by reference and each actor keeps its :data:`_SETUPS`.
    """
    t0 = time.perf_counter()  # set-up: the imports and the model on an actor's first message, ~0 after
    import torch
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

    conf = msg.content["config"]
    cfg, seed, cid = config_from_json(str(conf["fedlora"])), int(conf["seed"]), int(context.node_config["partition-id"])
    torch.set_num_threads(int(conf["threads"]))  # Ray sets OMP_NUM_THREADS per actor: use the driver's count
    s = prepare(cfg, seed)
    t1 = time.perf_counter()
    rnd = int(conf["server-round"]) - 1
    gen = _client_generator(cfg, seed, [len(p) for p in s.parts], rnd, cid)
    state, losses = local_training(s, cfg, msg.content["arrays"].to_torch_state_dict(), rnd, cid, gen)
    metrics = MetricRecord({"num-examples": len(s.parts[cid]), "partition-id": cid,
                            "train-loss": float(np.mean(losses)), "setup-seconds": t1 - t0,
                            "train-seconds": time.perf_counter() - t1})
    return Message(content=RecordDict({"arrays": ArrayRecord(state), "metrics": metrics}), reply_to=msg)


def client_app() -> Any:
    """A ClientApp whose train function is :func:`client_train`."""
    from flwr.clientapp import ClientApp

    app = ClientApp()
    app.train()(client_train)
    return app


# --------------------------------------------------------------------------- Flower: server side


def _ordered_fedavg(n: int, log: dict) -> Any:
    """Flower's FedAvg on all ``n`` clients every round, summing the replies in partition order.

    Replies arrive in completion order; float32 sums depend on order, and fedtheory sums in partition
    order. Failed replies stop the run (FedAvg would log them and go on with fewer clients).
    """
    from flwr.app import MetricRecord
    from flwr.serverapp.strategy import FedAvg

    def mean_loss(records: list, _key: str) -> MetricRecord:  # fedtheory's train_loss: unweighted over clients' steps
        return MetricRecord({"train-loss": float(np.mean([r["metrics"]["train-loss"] for r in records]))})

    class OrderedFedAvg(FedAvg):
        def aggregate_train(self, server_round: int, replies: Iterable) -> tuple:
            replies = list(replies)
            errors = [m.error.reason for m in replies if m.has_error()]
            if errors or len(replies) != n:
                raise RuntimeError(f"round {server_round}: {len(replies)} replies of {n}, errors {errors}")
            replies.sort(key=lambda m: int(m.content["metrics"]["partition-id"]))
            metrics = [m.content["metrics"] for m in replies]
            log["client_seconds"].append(sum(float(m["train-seconds"]) for m in metrics))
            log["setup_seconds"].append(sum(float(m["setup-seconds"]) for m in metrics))
            log["train_loss"].append(float(np.mean([float(m["train-loss"]) for m in metrics])))
            return super().aggregate_train(server_round, replies)

    return OrderedFedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=n, min_available_nodes=n,
                         train_metrics_aggr_fn=mean_loss)


def server_evaluate(s: Setup, cfg: FedLoRAConfig, log: dict, server_round: int, arrays: Any) -> Any:
    """fedtheory's per-round evaluation: test accuracy (per-example after the last round) and coupling cos."""
    from flwr.app import MetricRecord

    from fedtheory.simulators.la_lora.federated_lora import _clean_grads
    from fedtheory.simulators.shared.minilm import correct, coupling, evaluate, load_state

    if server_round == 0:  # Flower evaluates the initial model too; fedtheory does not
        return None
    t0 = time.perf_counter()
    state = arrays.to_torch_state_dict()
    load_state(s.model, state)
    if server_round == cfg.rounds:
        log["correct"] = correct(s.top, s.data, s.test_pos, bf16=cfg.bf16).cpu().numpy()
        acc = float(log["correct"].mean())
    else:
        acc = evaluate(s.top, s.data, s.test_pos, bf16=cfg.bf16)
    cos = coupling(_clean_grads(s.top, state, s.data, s.probe, cfg.bf16))
    log["test_acc"].append(acc)
    log["cos"].append(cos)
    log["eval_seconds"].append(time.perf_counter() - t0)
    log["round_end"].append(time.time())
    return MetricRecord({"test-acc": acc, "cos": cos})


def server_main(grid: Any, context: Any, cfg: FedLoRAConfig, seed: int, threads: int, log: dict) -> None:
    """The ServerApp: initial state from fedtheory's model, then Flower's strategy loop."""
    from flwr.app import ArrayRecord, ConfigRecord

    from fedtheory.simulators.shared.minilm import trainable_state

    s = prepare(cfg, seed)
    log["server_ready"] = time.time()
    strategy = _ordered_fedavg(cfg.n, log)
    result = strategy.start(grid=grid, initial_arrays=ArrayRecord(trainable_state(s.model)), num_rounds=cfg.rounds,
                            train_config=ConfigRecord({"fedlora": config_json(cfg), "seed": seed, "threads": threads}),
                            evaluate_fn=partial(server_evaluate, s, cfg, log))
    log["state"] = {k: v.numpy() for k, v in result.arrays.to_torch_state_dict().items()}


# --------------------------------------------------------------------------- the two children


def _new_log() -> dict:
    """The Flower server's record: per-round lists, filled by the strategy and the evaluation."""
    return {k: [] for k in ("test_acc", "cos", "train_loss", "client_seconds", "setup_seconds", "eval_seconds",
                            "round_end")}


def run_flower(cfg: FedLoRAConfig, seed: int, threads: int, client_cpus: float) -> dict:
    """The federated run on Flower's simulation engine; returns the server's log (state, accuracy, times)."""
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    log = _new_log()
    app = ServerApp()
    app.main()(partial(server_main, cfg=cfg, seed=seed, threads=threads, log=log))
    log["simulation_start"] = time.time()
    run_simulation(server_app=app, client_app=client_app(), num_supernodes=cfg.n,
                   backend_config={"client_resources": {"num_cpus": client_cpus, "num_gpus": 0.0}})
    if "state" not in log:
        raise RuntimeError("Flower's ServerApp ended without a final state (see the log above)")
    return log


def run_fedtheory(cfg: FedLoRAConfig, seed: int) -> dict:
    """fedtheory's run; returns the same fields as :func:`run_flower`."""
    from fedtheory.simulators.la_lora.federated_lora import run_federated_lora

    res = run_federated_lora(cfg, seed=seed)
    h = res["history"]
    return {"state": {k: v.cpu().numpy() for k, v in res["state"].items()}, "correct": res["test_correct"],
            "test_acc": h["test_acc"], "cos": h["cos"], "train_loss": h["train_loss"]}


def child(argv: Sequence[str]) -> None:
    """A timed process: ``SIDE ROUNDS OUT SPAWN_TIME OPTIONS_JSON``; writes OUT.npz and OUT.json."""
    side, rounds, out, spawn, opts = argv[0], int(argv[1]), Path(argv[2]), float(argv[3]), json.loads(argv[4])
    import torch

    if opts["threads"] > 0:
        torch.set_num_threads(opts["threads"])
    cfg = make_config(rounds, opts["layers"])
    marks = {"imports": time.time() - spawn}
    log = (run_flower(cfg, opts["seed"], torch.get_num_threads(), opts["client_cpus"]) if side == "flower"
           else run_fedtheory(cfg, opts["seed"]))
    marks["run"] = time.time() - spawn
    for k in ("server_ready", "simulation_start"):
        if k in log:
            marks[k] = log.pop(k) - spawn
    if "round_end" in log:
        log["round_end"] = [t - spawn for t in log["round_end"]]
    arrays = {f"state/{k}": v for k, v in log.pop("state").items()}
    np.savez(out.with_suffix(".npz"), correct=np.asarray(log.pop("correct"), dtype=bool), **arrays)
    out.with_suffix(".json").write_text(json.dumps({**log, "marks": marks, "threads": torch.get_num_threads()}))


# --------------------------------------------------------------------------- the parent: spawn, check, print


@dataclass
class Run:
    """One timed child: wall seconds from spawn to exit, its final state, predictions and log."""

    seconds: float
    state: dict[str, np.ndarray]
    correct: np.ndarray
    log: dict


def child_env() -> dict[str, str]:
    """The parent's environment, offline, with the repository importable (Ray's workers need it too)."""
    env = {**os.environ, **CHILD_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


def spawn(side: str, rounds: int, opts: dict, folder: Path) -> Run:
    """Run one child and time it whole; its output goes to a log file, printed when it fails."""
    out = folder / f"{side}_R{rounds}"
    code = "import sys; from bench.peers_flower import child; child(sys.argv[1:])"
    with open(out.with_suffix(".log"), "w") as fh:
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-c", code, side, str(rounds), str(out), repr(t0), json.dumps(opts)],
                              cwd=ROOT, env=child_env(), stdout=fh, stderr=subprocess.STDOUT, check=False)
        seconds = time.time() - t0
    if proc.returncode != 0:
        tail = out.with_suffix(".log").read_text()[-4000:]
        raise SystemExit(f"{side}, {rounds} round(s): exit status {proc.returncode}\n{tail}")
    with np.load(out.with_suffix(".npz")) as z:
        state = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("state/")}
        correct = z["correct"]
    return Run(seconds, state, correct, json.loads(out.with_suffix(".json").read_text()))


def check(rounds: int, ours: Run, theirs: Run, max_flips: int) -> str:
    """Compare the final states and test predictions of both sides; stop the run when they disagree.

    Bit-identical states must give identical predictions; otherwise up to ``max_flips`` may differ.
    """
    if sorted(ours.state) != sorted(theirs.state):
        raise SystemExit(f"R={rounds}: the two sides trained different parameter sets; no time printed")
    diff = max(float(np.abs(ours.state[k].astype(np.float64) - theirs.state[k]).max()) for k in ours.state)
    scale = max(float(np.abs(v).max()) for v in ours.state.values())
    bitwise = all(np.array_equal(ours.state[k], theirs.state[k]) for k in ours.state)
    allowed = 0 if bitwise else max_flips
    flips = int((ours.correct != theirs.correct).sum())
    acc = [float(np.mean(r.correct)) for r in (ours, theirs)]
    round_diff = np.nanmax(np.abs(np.subtract(ours.log["test_acc"], theirs.log["test_acc"])))
    loss_diff = np.nanmax(np.abs(np.subtract(ours.log["train_loss"], theirs.log["train_loss"])))
    line = (f"R={rounds}: final state {'bit-identical' if bitwise else 'differs'} (max |Δ| {diff:.2e}, "
            f"max |x| {scale:.2f}); {flips} of {ours.correct.size} test predictions differ (allowed {allowed}); "
            f"accuracy {acc[0]:.4f} fedtheory, {acc[1]:.4f} Flower; per round: accuracy max |Δ| {round_diff:.4f}, "
            f"mean train loss max |Δ| {loss_diff:.1e}")
    if flips > allowed or round_diff > allowed / ours.correct.size:
        raise SystemExit(f"check failed, no time printed: {line}")
    return line


def table(runs: dict[tuple[str, int], Run], lo: int, hi: int) -> None:
    """Best whole-process times, the extra-round time and the Flower / fedtheory ratios."""
    t = {k: r.seconds for k, r in runs.items()}
    rows = [(f"{lo} round{'s' * (lo > 1)}", t["fedtheory", lo], t["flower", lo]),
            (f"{hi} round{'s' * (hi > 1)}", t["fedtheory", hi], t["flower", hi]),
            ("per extra round", *((t[s, hi] - t[s, lo]) / (hi - lo) for s in SIDES))]
    print(f"\n{'whole process, s':<18}{'fedtheory':>10}{'Flower':>10}{'Flower/fedtheory':>18}")
    for name, a, b in rows:
        print(f"{name:<18}{a:>10.1f}{b:>10.1f}{b / a:>17.2f}x")


def breakdown(runs: dict[tuple[str, int], Run], hi: int) -> None:
    """Where each side's time goes in the ``hi``-round run (milestones from spawn; Flower per round)."""
    ft, fl = runs["fedtheory", hi], runs["flower", hi]
    m = ft.log["marks"]
    print(f"\nfedtheory, {hi} rounds: imports done {m['imports']:.1f} s, run returned {m['run']:.1f} s, "
          f"exit {ft.seconds:.1f} s")
    m, lg = fl.log["marks"], fl.log
    print(f"Flower, {hi} rounds: imports done {m['imports']:.1f} s, ServerApp set up {m['server_ready']:.1f} s, "
          f"run_simulation returned {m['run']:.1f} s, exit {fl.seconds:.1f} s")
    starts = [m["server_ready"], *lg["round_end"][:-1]]
    for i, (a, b) in enumerate(zip(starts, lg["round_end"], strict=True)):
        rest = (b - a) - lg["client_seconds"][i] - lg["setup_seconds"][i] - lg["eval_seconds"][i]
        print(f"  round {i + 1}: {b - a:5.2f} s = clients' training {lg['client_seconds'][i]:5.2f} + clients' set-up "
              f"{lg['setup_seconds'][i]:5.2f} + server evaluation {lg['eval_seconds'][i]:4.2f} "
              f"+ Flower/Ray {rest:5.2f}")


def versions() -> str:
    """The versions that matter to the times."""
    import importlib.metadata as md

    return ", ".join(f"{p} {md.version(p)}" for p in ("flwr", "ray", "torch", "transformers", "peft"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Flags (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--rounds", type=int, nargs=2, default=[1, 3], metavar=("LO", "HI"),
                   help="the two round counts timed (1 3); extra-round time = (t_HI − t_LO) / (HI − LO)")
    p.add_argument("--layers", type=int, nargs="+", help="adapted layers (default: all six, as in the issue)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads in every process (0: torch's default, which Flower's clients then copy)")
    p.add_argument("--client-cpus", type=float, default=2.0,
                   help="Ray CPUs per Flower client (2, Flower's default: one actor on a 2-core machine)")
    p.add_argument("--repeats", type=int, default=1, help="best of this many processes per side and R (1)")
    p.add_argument("--max-flips", type=int, default=2,
                   help="test predictions allowed to differ when the final states are not bit-identical (2 of 500)")
    args = p.parse_args(argv)
    if not 0 < args.rounds[0] < args.rounds[1]:
        p.error("--rounds needs 0 < LO < HI")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        import flwr  # noqa: F401  (only its presence: it lives in .venv-flower)
    except ImportError as exc:
        raise SystemExit(f"bench.peers_flower needs flwr[simulation]=={FLOWER_VERSION} ({exc}); "
                         "run `make bench-flower`") from exc
    opts = {"layers": args.layers, "seed": args.seed, "threads": args.threads, "client_cpus": args.client_cpus}
    print(f"fedtheory against Flower's simulation engine: federated LoRA on MiniLM, 4 clients × 5 local steps, "
          f"layers {'all' if args.layers is None else args.layers}, seed {args.seed}; {versions()}; "
          f"{os.cpu_count()} CPUs; best of {args.repeats} fresh process(es) per side and R", flush=True)
    warm = ("import sys, json, ray, flwr; from bench.peers_flower import make_config, prepare; "
            "prepare(make_config(1, json.loads(sys.argv[1])), int(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", warm, json.dumps(args.layers), str(args.seed)], cwd=ROOT, env=child_env(),
                   check=True)  # untimed: both stacks, MiniLM and the token cache into the disk cache
    runs: dict[tuple[str, int], Run] = {}
    with tempfile.TemporaryDirectory(prefix="peers_flower-") as tmp:
        for rounds in args.rounds:
            for _ in range(args.repeats):
                for side in SIDES:  # interleaved, so drift on a shared machine hits both sides
                    run = spawn(side, rounds, opts, Path(tmp))
                    if (side, rounds) not in runs or run.seconds < runs[side, rounds].seconds:
                        runs[side, rounds] = run
                    print(f"  ran {side}, R={rounds}", flush=True)  # its time only once the checks passed
    print(f"torch threads: fedtheory {runs['fedtheory', args.rounds[1]].log['threads']}, "
          f"Flower driver {runs['flower', args.rounds[1]].log['threads']} (clients set the same)")
    for rounds in args.rounds:
        print(check(rounds, runs["fedtheory", rounds], runs["flower", rounds], args.max_flips))
    table(runs, *args.rounds)
    breakdown(runs, args.rounds[1])


if __name__ == "__main__":
    main()
