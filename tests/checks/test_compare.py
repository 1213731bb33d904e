"""The comparisons cannot be fooled by an honest accident, and say what is wrong."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.exercises import registry
from autograder.checks.api import check, run_case
from autograder.checks.compare import Tolerance, describe_difference

TOL = Tolerance(1e-6, 1e-8, np.dtype(np.float64))
E = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])


class Agreeable(np.ndarray):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize("got,words", [
    (E.tolist(), "numpy.ndarray"),
    (np.asmatrix(E), "subclass"),
    (E.view(Agreeable), "subclass"),
    (None, "return statement"),
    (E[0], "shape (2, 3)"),                     # would broadcast, must not pass
    (E.T.copy(), "transposed"),
    (E.astype(np.float32), "dtype float64"),
    (np.where(E > 0.35, np.nan, E), "NaN at 3 entries; first at index (1, 0)"),
    (np.where(E > 0.55, np.inf, E), "inf at index (1, 2)"),
    (E + np.array([[0, 0, 0], [0, 1e-3, 0]]), "first at index (1, 1): expected 0.5, got 0.501"),
])
def test_array_mistakes_are_described(got, words):
    problem = describe_difference(E, got, TOL, "h_all")
    assert problem and words in problem, problem


def test_swapped_axes_are_described():
    e3 = np.zeros((2, 3, 4))
    assert "order of axes" in describe_difference(e3, np.zeros((3, 2, 4)), TOL, "h_all")


def test_tolerances_are_relative_and_absolute():
    assert describe_difference(E, E * (1 + 5e-7), TOL) is None
    assert describe_difference(E, E * (1 + 5e-6), TOL) is not None
    tiny = np.array([1e-12, -1e-12])
    assert describe_difference(tiny, tiny + 5e-9, TOL) is None
    assert describe_difference(tiny, tiny + 5e-8, TOL) is not None


def test_structures_are_checked():
    exp = {"dW": E, "db": E[0]}
    assert "missing ['db']" in describe_difference(exp, {"dW": E}, TOL)
    assert "unexpected ['extra']" in describe_difference(exp, {**exp, "extra": 1}, TOL)
    assert "dW" in describe_difference(exp, {"dW": E + 1, "db": E[0]}, TOL)
    assert describe_difference(1.5, np.float64(1.5), TOL) is None
    assert "float" in describe_difference(1.5, np.array(1.5), TOL)
    assert describe_difference([E, E], (E, E), TOL) is None
    ints = np.array([2, 0, 1])
    assert "index (0,)" in describe_difference(ints, np.array([1, 0, 2]), TOL)
    assert "dtype int64" in describe_difference(ints, ints.astype(np.int32), TOL)


def test_inputs_modified_in_place_are_reported():
    def sneaky(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
        h_prev += x_t @ W_xh                  # corrupts the caller's array
        return np.tanh(h_prev @ W_hh + b_h)
    message = run_case(registry.get("rnn_step_forward"), sneaky, {"B": 2, "D": 3, "H": 3, "seed": 0})
    assert "modified its argument(s) ['h_prev'] in place" in message


def test_value_error_is_expected_where_the_contract_says():
    def lax(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
        return np.tanh(x_t @ W_xh + h_prev @ W_hh + b_h)
    message = run_case(registry.get("rnn_step_forward"), lax,
                       {"B": 1, "D": 2, "H": 2, "seed": 0, "nonlinearity": "sigmoid", "expect": "ValueError"})
    assert "should raise ValueError" in message


def test_check_raises_assertion_with_the_mistake_named(capsys):
    def no_bias(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
        return np.tanh(x_t @ W_xh + h_prev @ W_hh)
    with pytest.raises(AssertionError, match="Likely mistake: bias forgotten"):
        check(no_bias, "rnn_step_forward", cases=[{"B": 2, "D": 3, "H": 4, "seed": 1}])

    def right(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
        return np.tanh(x_t @ W_xh + h_prev @ W_hh + b_h)
    check(right, "rnn_step_forward", cases=[{"B": 2, "D": 3, "H": 4, "seed": 1}])
    assert "1 case passed" in capsys.readouterr().out


def test_learner_exceptions_propagate_with_the_case():
    def broken(*args):
        raise NotImplementedError()
    with pytest.raises(NotImplementedError) as info:
        check(broken, "rnn_step_forward", cases=[{"B": 2, "D": 3, "H": 4, "seed": 1}])
    assert any("raised by rnn_step_forward" in note for note in info.value.__notes__)
