"""The DynaMixer operation against a direct, loop-based reading of the paper's Eqs. (5)-(7)."""

from __future__ import annotations

import pytest
import torch

from models.dynamixer import DynaMixerBlock, DynaMixerOp


def paper_dynamixer_op(op: DynaMixerOp, X: torch.Tensor) -> torch.Tensor:
    """Eqs. (5)-(7) for one sequence X (N x D), one segment and one output token at a time.

    Eq. 5: X_hat^(s) = X W_d^(s) with W_d^(s) (D x d) reading all D channels.
    Eq. 6: P^(s)_i. = softmax(flat(X_hat^(s)) W^(s,i)); W^(s,i) (Nd x N) is shared by all s.
    Eq. 7: Y = [P^(0) X^(0), ..., P^(S-1) X^(S-1)] W_o.
    The generate layer's output unit (j * N + i) holds the weight of input j for output i.
    """
    N, D = X.shape
    S, d = op.num_segments, op.reduced_dim
    W_c, b_c = op.compress.weight, op.compress.bias  # (S*d, D)
    W_g, b_g = op.generate.weight, op.generate.bias  # (N*N, N*d)
    segments = []
    for s in range(S):
        X_hat = X @ W_c[s * d : (s + 1) * d].T + b_c[s * d : (s + 1) * d]  # (N, d)
        flat = X_hat.reshape(N * d)
        X_s = X[:, s * (D // S) : (s + 1) * (D // S)]
        Y_s = torch.zeros_like(X_s)
        for i in range(N):
            rows = [j * N + i for j in range(N)]
            P_i = torch.softmax(flat @ W_g[rows].T + b_g[rows], dim=0)  # weights over inputs j
            assert torch.isclose(P_i.sum(), torch.tensor(1.0, dtype=P_i.dtype))
            Y_s[i] = P_i @ X_s
        segments.append(Y_s)
    return torch.cat(segments, dim=1) @ op.out.weight.T + op.out.bias


@pytest.mark.parametrize(
    ("dim", "seq_len", "segments", "reduced_dim"), [(24, 6, 3, 2), (16, 5, 1, 1)]
)
def test_op_matches_equations_5_to_7(dim, seq_len, segments, reduced_dim):
    torch.manual_seed(0)
    op = DynaMixerOp(dim, seq_len, segments, reduced_dim).double()
    for p in op.parameters():
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(3, seq_len, dim, dtype=torch.float64)
    expected = torch.stack([paper_dynamixer_op(op, xb) for xb in x])
    torch.testing.assert_close(op(x), expected, atol=1e-5, rtol=0)


def test_parameter_count_formula():
    """S*D*d + N^3*d + D^2 weights (Section 3.1), plus the biases the paper does not count."""
    D, N, S, d = 24, 6, 3, 2
    op = DynaMixerOp(D, N, S, d)
    weights = sum(p.numel() for name, p in op.named_parameters() if name.endswith("weight"))
    assert weights == S * D * d + N**3 * d + D**2


def test_mixing_depends_on_content_and_rows_sum_to_one():
    torch.manual_seed(0)
    op = DynaMixerOp(24, 6, 3, 2)
    a, b = torch.randn(1, 6, 24), torch.randn(1, 6, 24)
    wa, wb = op.mixing_weights(a), op.mixing_weights(b)
    torch.testing.assert_close(wa.sum(dim=-2), torch.ones(1, 3, 6))
    assert not torch.allclose(wa, wb), "dynamic mixing weights must depend on the tokens"
    random_op = DynaMixerOp(24, 6, 3, 2, mixing="random")
    torch.testing.assert_close(random_op.mixing_weights(a), random_op.mixing_weights(b))


def test_dense_mixing_row_depends_only_on_its_own_token():
    torch.manual_seed(0)
    op = DynaMixerOp(24, 6, 3, 2, mixing="dense")
    x = torch.randn(1, 6, 24)
    y = x.clone()
    y[0, 0] += 1.0  # change token 0 only
    wx, wy = op.mixing_weights(x), op.mixing_weights(y)  # (B, S, N_in, N_out)
    assert not torch.allclose(wx[..., 0], wy[..., 0])
    torch.testing.assert_close(wx[..., 1:], wy[..., 1:])


def test_block_sums_branches_without_reweighting():
    """With reweight off the block is Eq. (9): proj(Y_h + Y_w + Y_c)."""
    torch.manual_seed(0)
    block = DynaMixerBlock(24, 6, 3, reweight=False)
    x = torch.randn(2, 6, 6, 24)
    total = sum(block.branches(x))
    torch.testing.assert_close(block(x), block.proj(total))


def test_shared_op_serves_rows_and_columns():
    block = DynaMixerBlock(24, 6, 3, share_row_column=True)
    assert block.mix_w is None and block.mix_h is not None
    x = torch.randn(1, 6, 6, 24)
    _, row, _ = block.branches(x)
    torch.testing.assert_close(row, block.mix_h(x.reshape(6, 6, 24)).reshape(1, 6, 6, 24))
