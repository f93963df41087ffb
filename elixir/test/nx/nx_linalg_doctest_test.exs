# Compiled only with Nx (PELEMAY_NX=/path/to/nx): it needs Nx's structs and docs.
if Code.ensure_loaded?(Nx) do
  defmodule PelemayBackend.NxLinAlgDoctestTest do
    # Nx.LinAlg's own doctests (not part of `doctest Nx`), run with
    # PelemayBackend.Backend as the default backend. Its doctests print f32
    # results to the last digit as Nx.BinaryBackend and Nx's f32 default
    # implementations round them; the executor's linear algebra computes in
    # f64 (docs/ops.md, "Linear algebra"), and its f32 dot accumulates in f32,
    # so these functions' examples differ in the last digits only (checked by
    # hand, each listed with the value that differs):
    use ExUnit.Case, async: false

    @moduletag :nx
    @moduletag :executor

    @exceptions [
      # L[1][0] 1.2247449159622192 (f64-computed) vs 1.2247447967529297 (f32 default)
      {{:cholesky, 1}, "rounding: computed in f64, Nx's default in f32"},
      # Q[2][2] 0.7071067690849304 vs 0.7071068286895752
      {{:qr, 2}, "rounding: computed in f64, Nx's default in f32"},
      # P.L.U reconstructed with Nx.dot: 6.000000476837158 vs 6.0 (f32 dot)
      {{:lu, 2}, "rounding: the example's Nx.dot accumulates in f32 here, in f64 there"},
      # inverse via lu/triangular_solve: -2.0 vs -2.000000476837158
      {{:matrix_power, 2}, "rounding: computed in f64, Nx's default in f32"},
      # 0.9966153502464294 vs 0.9966151118278503 (qr/solve in f64)
      {{:least_squares, 2}, "rounding: computed in f64, Nx's default in f32"},
      # 3.9924843311309814 vs 3.9924824237823486 (svd over f64 qr/eigh)
      {{:pinv, 2}, "rounding: computed in f64, Nx's default in f32"}
    ]

    def exceptions, do: @exceptions

    setup do
      previous = Nx.default_backend(PelemayBackend.Backend)
      on_exit(fn -> Nx.default_backend(previous) end)
      :ok
    end

    doctest Nx.LinAlg, except: Enum.map(@exceptions, &elem(&1, 0))
  end
end
