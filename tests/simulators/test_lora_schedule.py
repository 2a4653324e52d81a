"""The LoRA update schedule is written once (simulators.shared.lora) and counted once (theory.dp_lora)."""

import pytest

from fedtheory.simulators.shared.lora import METHODS, trained_factors
from fedtheory.theory.dp_lora import noisy_updates


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("steps", [1, 2, 5, 8])
def test_the_closed_form_counts_the_schedule(method, steps):
    # one round (round 0: RoLoRA's B-round), counted step by step from the schedule the simulators run
    t_b = sum(trained_factors(method, 0, k)[0] for k in range(steps))
    t_a = sum(trained_factors(method, 0, k)[1] for k in range(steps))
    assert noisy_updates(method, steps) == (t_b, t_a)


def test_every_method_trains_something_at_every_step():
    for method in METHODS:
        for rnd in range(3):
            for step in range(4):
                assert any(trained_factors(method, rnd, step)), (method, rnd, step)
    with pytest.raises(ValueError, match="method must be one of"):
        trained_factors("sgd", 0, 0)
