if PelemayBackend.nx_available?() do
  defmodule PelemayBackend.Nx.ComplexTest do
    # Complex tensors stay native: the unary ops the executor has for real
    # types only are composed of its complex ops with the complex library's
    # formulas, is_nan / is_infinity test the (re, im) pairs, and complex
    # constants are literals. Each is compared with Nx.BinaryBackend, and no
    # call may fall back.
    use ExUnit.Case, async: false

    alias PelemayBackend.Backend

    @moduletag :nx

    @composed [
      :sqrt,
      :tan,
      :sinh,
      :cosh,
      :asin,
      :acos,
      :atan,
      :asinh,
      :acosh,
      :atanh,
      :expm1,
      :log1p,
      :cbrt
    ]

    # Points on both sides of the branch cuts included: a -0.0 imaginary
    # part counts as +0.0 in the complex library's sqrt, as in Nx.
    defp values do
      for {re, im} <- [
            {0.5, 0.25},
            {-1.5, 2.0},
            {3.0, -0.5},
            {0.0, 0.0},
            {-0.2, -0.7},
            {1.0, 1.0e-3},
            {-0.5, 0.0},
            {-0.5, -0.0},
            {0.5, -0.0},
            {-2.0, -0.0},
            {2.0, 0.0}
          ],
          do: Complex.new(re, im)
    end

    defp fallbacks_in(fun) do
      id = {__MODULE__, make_ref()}
      :ok = :telemetry.attach(id, [:pelemay_backend, :fallback], &__MODULE__.fallback/4, self())

      try do
        result = fun.()
        {result, collect([])}
      after
        :telemetry.detach(id)
      end
    end

    # The telemetry handler: tells the test process which callback fell back.
    def fallback(_event, _measurements, %{callback: name}, test),
      do: send(test, {:fallback, name})

    defp collect(acc) do
      receive do
        {:fallback, name} -> collect([name | acc])
      after
        0 -> Enum.uniq(acc)
      end
    end

    # Largest |got - want| relative to max(|want|, 1).
    defp error(got, want) do
      got = Nx.backend_transfer(got, Nx.BinaryBackend)
      scale = want |> Nx.abs() |> Nx.max(1)

      got
      |> Nx.subtract(want)
      |> Nx.abs()
      |> Nx.divide(scale)
      |> Nx.reduce_max()
      |> Nx.to_number()
    end

    for op <- @composed, {type, bound} <- [{:c64, 1.0e-5}, {:c128, 1.0e-13}] do
      test "#{op} of #{type} runs natively and agrees with Nx.BinaryBackend" do
        x = Nx.tensor(values(), type: unquote(type), backend: Nx.BinaryBackend)
        want = apply(Nx, unquote(op), [x])

        {got, fallbacks} =
          fallbacks_in(fn -> apply(Nx, unquote(op), [Nx.backend_transfer(x, Backend)]) end)

        assert fallbacks == []
        assert %Nx.Tensor{data: %Backend{}, type: type} = got
        assert type == want.type
        assert error(got, want) <= unquote(bound)
      end
    end

    test "is_nan and is_infinity look at both parts" do
      parts = [{:nan, 1.0}, {1.0, :nan}, {1.0, :infinity}, {:neg_infinity, 0.0}, {1.0, 2.0}]

      for type <- [:c64, :c128] do
        x =
          Nx.tensor(Enum.map(parts, fn {re, im} -> Complex.new(re, im) end),
            type: type,
            backend: Nx.BinaryBackend
          )

        on = Nx.backend_transfer(x, Backend)

        for op <- [:is_nan, :is_infinity] do
          {got, fallbacks} = fallbacks_in(fn -> apply(Nx, op, [on]) end)
          assert fallbacks == []
          assert Nx.to_flat_list(got) == Nx.to_flat_list(apply(Nx, op, [x])), "#{op} #{type}"
        end
      end
    end

    test "is_nan of integers is all zeros, natively" do
      for type <- [:s8, :u16, :s32, :u64] do
        {got, []} =
          fallbacks_in(fn -> Nx.is_nan(Nx.tensor([1, 2, 3], type: type, backend: Backend)) end)

        assert Nx.to_flat_list(got) == [0, 0, 0]
        assert got.type == {:u, 8}
      end
    end

    # A batch of two well-conditioned complex matrices (n x n) and a
    # right-hand side, on Nx.BinaryBackend.
    defp complex_system(type, n) do
      re = Nx.iota({2, n, n}, type: :f64) |> Nx.multiply(0.37) |> Nx.sin()
      im = Nx.iota({2, n, n}, type: :f64) |> Nx.multiply(0.71) |> Nx.cos()
      a = Nx.complex(re, im) |> Nx.add(Nx.multiply(Nx.eye(n, type: :f64), 3)) |> Nx.as_type(type)

      b =
        Nx.complex(Nx.iota({2, n}, type: :f64), Nx.iota({2, n}, type: :f64) |> Nx.negate())
        |> Nx.as_type(type)

      {Nx.backend_transfer(a, Nx.BinaryBackend), Nx.backend_transfer(b, Nx.BinaryBackend)}
    end

    test "complex lu is native and gives Nx.BinaryBackend's P, L and U" do
      for type <- [:c64, :c128], n <- [1, 2, 3, 5] do
        {a, _} = complex_system(type, n)
        on = Nx.backend_copy(a, Backend)
        {{p, l, u}, fallbacks} = fallbacks_in(fn -> Nx.LinAlg.lu(on) end)
        assert fallbacks == []
        {wp, wl, wu} = Nx.LinAlg.lu(a)
        assert {p.type, l.type, u.type} == {wp.type, wl.type, wu.type}
        # The same steps in the same f64 arithmetic: the same bits.
        assert Nx.to_binary(p) == Nx.to_binary(wp), inspect({type, n})
        assert Nx.to_binary(l) == Nx.to_binary(wl), inspect({type, n})
        assert Nx.to_binary(u) == Nx.to_binary(wu), inspect({type, n})
      end
    end

    test "complex determinant and solve are native and agree with Nx.BinaryBackend" do
      for type <- [:c64, :c128], n <- [2, 3, 4, 6] do
        tol = if type == :c64, do: 1.0e-4, else: 1.0e-10
        {a, b} = complex_system(type, n)
        {on_a, on_b} = {Nx.backend_copy(a, Backend), Nx.backend_copy(b, Backend)}

        {det, []} = fallbacks_in(fn -> Nx.LinAlg.determinant(on_a) end)
        want = Nx.LinAlg.determinant(a)
        assert det.type == want.type
        assert error(det, want) < tol, inspect({type, n, det, want})

        {x, []} = fallbacks_in(fn -> Nx.LinAlg.solve(on_a, on_b) end)
        want = Nx.LinAlg.solve(a, b)
        assert x.type == want.type
        assert error(x, want) < tol, inspect({type, n})
        # And it solves the system: a x = b.
        ax = Nx.dot(a, [2], [0], Nx.backend_transfer(x, Nx.BinaryBackend), [1], [0])
        assert error(ax, b) < tol * 10, inspect({type, n})
      end
    end

    test "a real matrix with a complex right-hand side solves natively" do
      a = Nx.tensor([[4.0, 1.0], [2.0, 3.0]], backend: Backend)
      b = Nx.tensor([Complex.new(1.0, 2.0), Complex.new(0.0, -1.0)], type: :c64, backend: Backend)
      {x, []} = fallbacks_in(fn -> Nx.LinAlg.solve(a, b) end)

      want =
        Nx.LinAlg.solve(
          Nx.backend_copy(a, Nx.BinaryBackend),
          Nx.backend_copy(b, Nx.BinaryBackend)
        )

      assert x.type == {:c, 64}
      assert error(x, want) < 1.0e-5
    end

    test "complex eigh is native and gives Nx.BinaryBackend's values and vectors" do
      hermitian = [
        [[2, Complex.new(0, 1)], [Complex.new(0, -1), 3]],
        [
          [4, Complex.new(1, 2), 0.5],
          [Complex.new(1, -2), 3, Complex.new(0, 1)],
          [0.5, Complex.new(0, -1), 1]
        ],
        # Diagonal: Nx's complex reflector of a zero column is 0 / 0 (NaN).
        [[1, 0], [0, 4]]
      ]

      for m <- hermitian, type <- [:c64, :c128] do
        a = Nx.tensor(m, type: type, backend: Nx.BinaryBackend)

        {{vals, vecs}, fallbacks} =
          fallbacks_in(fn -> Nx.LinAlg.eigh(Nx.backend_copy(a, Backend)) end)

        assert fallbacks == []
        {want_vals, want_vecs} = Nx.LinAlg.eigh(a)
        assert {vals.type, vecs.type} == {want_vals.type, want_vecs.type}
        # The same steps in the same f64 arithmetic: the same bits.
        assert Nx.to_binary(vals) == Nx.to_binary(want_vals), inspect({m, type})
        assert Nx.to_binary(vecs) == Nx.to_binary(want_vecs), inspect({m, type})
      end
    end

    test "eigh of a complex matrix that is not hermitian raises Nx's error" do
      a =
        Nx.tensor([[1, Complex.new(0, 1)], [Complex.new(0, 1), 2]], type: :c64, backend: Backend)

      assert_raise ArgumentError, ~r/matrix must be hermitian/, fn -> Nx.LinAlg.eigh(a) end
    end

    test "complex constants, finite or not, are literals" do
      for value <- [
            Complex.new(1.0, -2.0),
            Complex.new(:nan, 2.0),
            Complex.new(0.0, :neg_infinity),
            3,
            2.5
          ],
          type <- [:c64, :c128] do
        {got, []} =
          fallbacks_in(fn -> Nx.broadcast(Nx.tensor(value, type: type, backend: Backend), {3}) end)

        want = Nx.broadcast(Nx.tensor(value, type: type, backend: Nx.BinaryBackend), {3})
        assert Nx.to_binary(got) == Nx.to_binary(want), inspect({value, type})
      end
    end
  end
end
