# Compiled only with Nx (PELEMAY_NX=/path/to/nx): it needs Nx's structs and docs.
if Code.ensure_loaded?(Nx) do
  defmodule PelemayBackend.BackendTest do
    # Needs Nx (PELEMAY_NX=/path/to/nx); excluded with PELEMAY_NX=none.
    use ExUnit.Case, async: false

    @moduletag :nx
    @moduletag :executor

    import Bitwise, only: [<<<: 2, >>>: 2]

    alias PelemayBackend.Backend

    describe "callback coverage" do
      test "every Nx.Backend callback is native, a fallback, or left to Nx's default" do
        callbacks = Nx.Backend.behaviour_info(:callbacks) |> Enum.map(&elem(&1, 0)) |> Enum.uniq()

        optional = Nx.Backend.behaviour_info(:optional_callbacks) |> Enum.map(&elem(&1, 0))
        native = Backend.native_callbacks()
        fallback = Backend.fallback_callbacks()
        defaults = Backend.nx_default_callbacks()

        assert Enum.sort(callbacks -- [:optional]) == Enum.sort(native ++ fallback ++ defaults)
        assert native -- fallback == native
        assert defaults -- optional == [], "only optional callbacks may be left to Nx"

        for name <- native ++ fallback do
          assert Enum.any?(0..7, &function_exported?(Backend, name, &1)), "#{name} is not defined"
        end

        for name <- defaults do
          refute Enum.any?(0..7, &function_exported?(Backend, name, &1)), "#{name} is defined"
        end
      end

      test "docs/ops.md's table says the same" do
        doc = File.read!(Path.expand("../../../docs/ops.md", __DIR__))
        [_, table] = String.split(doc, "## Nx backend callbacks", parts: 2)

        # Which steps of an Nx default implementation fall back is checked
        # by native_coverage_test.exs.
        rows =
          for [_, name, runs] <- Regex.scan(~r/^\| `(\w+)` \| ([^|]+) \|$/m, table),
              into: %{},
              do:
                {String.to_atom(name),
                 String.replace(
                   runs,
                   ~r/^Nx default implementation.*/,
                   "Nx default implementation"
                 )}

        expected =
          Map.new(Backend.native_callbacks() -- [:init], &{&1, "native"})
          |> Map.merge(Map.new(Backend.fallback_callbacks(), &{&1, "fallback: Nx.BinaryBackend"}))
          |> Map.merge(
            Map.new(
              Backend.nx_default_callbacks(),
              &{&1, "Nx default implementation"}
            )
          )

        assert rows == expected
      end
    end

    describe "fault transparency" do
      setup do
        pool = :"nx_fault_pool_#{System.unique_integer([:positive])}"

        start_supervised!(
          {PelemayBackend.Pool,
           name: pool,
           size: 2,
           executor_args: ["--enable-fault-injection"],
           restart_backoff: {5, 50}}
        )

        wait_ready(pool, 2)
        %{pool: pool}
      end

      test "an executor killed under an Nx call: the call is retried and right", %{pool: pool} do
        a = Nx.iota({64}, type: :f32, backend: {Backend, pool: pool})
        b = Nx.multiply(a, 2)
        assert %Backend{pool: ^pool} = b.data
        [%{os_pid: victim} | _] = PelemayBackend.Pool.executors(pool)

        # Every executor is armed to crash in its next run: the first
        # attempt dies, the retry runs on the other (also armed) or on a
        # fresh one... so arm one only, and make the call land on it.
        for %{pid: pid, os_pid: os} <- PelemayBackend.Pool.executors(pool), os == victim do
          {:ok, _} =
            PelemayBackend.Executor.inject_fault(pid, %{kind: :SEGFAULT, when: :DURING_NEXT_RUN})
        end

        # Concurrent calls spread over both executors; keep calling until the
        # armed one has died under one of them. Every call must be right.
        want = Enum.map(0..63, &(&1 * 3.0))

        Enum.reduce_while(1..50, nil, fn _, _ ->
          1..4
          |> Enum.map(fn _ -> Task.async(fn -> Nx.to_flat_list(Nx.add(a, b)) end) end)
          |> Enum.each(&assert(Task.await(&1) == want))

          alive = Enum.map(PelemayBackend.Pool.executors(pool), & &1.os_pid)
          if victim in alive, do: {:cont, nil}, else: {:halt, :ok}
        end)

        {:ok, %{retries: retries}} = PelemayBackend.Pool.status(pool)
        assert retries >= 1
        refute victim in Enum.map(PelemayBackend.Pool.executors(pool), & &1.os_pid)
      end

      test "a poisoned Nx call raises PelemayBackend.Error naming the signal; the caller goes on",
           %{pool: pool} do
        a = Nx.iota({8}, backend: {Backend, pool: pool})

        error =
          assert_raise PelemayBackend.Error, fn ->
            Backend.with_fault(%{kind: :ABORT, when: :DURING_NEXT_RUN}, fn -> Nx.add(a, a) end)
          end

        assert error.code == :executor_crashed
        assert Exception.message(error) =~ "SIGABRT"
        wait_ready(pool, 2)
        assert Nx.to_flat_list(Nx.add(a, a)) == Enum.map(0..7, &(&1 * 2))
      end

      test "an executor error surfaces as PelemayBackend.Error with the op, not a MatchError",
           %{pool: pool} do
        a = Nx.tensor([1, 2], type: :s32, backend: {Backend, pool: pool})

        error =
          assert_raise PelemayBackend.Error, fn ->
            Nx.quotient(a, Nx.tensor(0, backend: {Backend, pool: pool}))
          end

        assert error.code == :invalid_argument
        assert Exception.message(error) =~ "quotient"
      end

      defp wait_ready(pool, n) do
        wait_until(fn -> length(PelemayBackend.Pool.executors(pool)) >= n end)
        pool
      end

      defp wait_until(fun, tries \\ 500) do
        cond do
          fun.() -> :ok
          tries == 0 -> flunk("timed out waiting")
          true -> Process.sleep(10) && wait_until(fun, tries - 1)
        end
      end
    end

    describe "differential against Nx.BinaryBackend" do
      # Integers bit-exact; floats within @ulps units in the last place
      # (transcendental kernels are vectorized polynomials, not libm).
      @ulps 4
      @types [{:s, 8}, {:u, 8}, {:s, 32}, {:s, 64}, {:u, 64}, {:f, 32}, {:f, 64}]
      # Nx 0.7 has no zero-size dimensions; scalars and size-1 axes stand in.
      @shapes [{}, {1}, {5}, {2, 3}, {3, 1, 4}]

      @binary [:add, :subtract, :multiply, :min, :max, :equal, :less, :greater_equal] ++
                [:logical_and, :logical_xor, :divide, :atan2, :bitwise_and, :bitwise_xor] ++
                [:left_shift, :right_shift]
      @unary [:negate, :abs, :sign, :floor, :ceil, :round, :exp, :log1p, :tanh, :sigmoid] ++
               [:sqrt, :sin, :cos, :erf, :bitwise_not, :logical_not, :tan, :asin, :acos] ++
               [:atan, :sinh, :cosh, :asinh, :acosh, :atanh, :erfc, :erf_inv, :cbrt] ++
               [:count_leading_zeros, :population_count, :is_nan, :is_infinity]

      test "elementwise binary ops, with broadcasting and type promotion" do
        for seed <- 1..3,
            op <- @binary,
            lt <- @types,
            rt <- Enum.take_random(@types, 2),
            shape <- @shapes do
          :rand.seed(:exsss, {seed, 7, 11})
          a = random(lt, shape)
          b = random(rt, if(rem(seed, 2) == 0, do: {}, else: shape))
          check(op, [a, b])
        end
      end

      test "elementwise unary ops" do
        for op <- @unary, t <- @types, shape <- @shapes do
          check(op, [random(t, shape)])
        end
      end

      test "reductions, arg-reductions, structure and dot" do
        for t <- @types, shape <- [{5}, {2, 3}, {3, 1, 4}, {2, 1}] do
          x = random(t, shape)
          rank = tuple_size(shape)
          check(:sum, [x])
          check(:sum, [x], axes: [rank - 1], keep_axes: true)
          check(:product, [x], axes: [0])
          if Nx.size(x) > 0, do: check(:reduce_max, [x], axes: [0])
          check(:all, [x])
          check(:any, [x], axes: [0])
          if Nx.size(x) > 0, do: check(:argmax, [x], axis: 0, tie_break: :high)
          check(:transpose, [x])
          check(:as_type, [x], {:f, 32})
          check(:as_type, [x], {:s, 16})
          check(:reshape, [x], {Nx.size(x)})

          check(
            :pad,
            [x, Nx.tensor(7, type: t, backend: Nx.BinaryBackend)],
            List.duplicate({1, 0, 1}, rank)
          )
        end

        for t <- [{:s, 32}, {:f, 32}, {:f, 64}] do
          check(:dot, [random(t, {3, 4}), random(t, {4, 2})])
          check(:dot, [random(t, {2, 3, 4}), [2], [0], random(t, {2, 4, 5}), [1], [0]])
          check(:concatenate, [[random(t, {2, 2}), random(t, {1, 2})]], axis: 0)
          check(:slice, [random(t, {5, 4}), [1, 0], [3, 2]], strides: [1, 2])
          check(:clip, [random(t, {6}), 1, 5])
          check(:select, [random({:u, 8}, {4}), random(t, {4}), random(t, {4})])
        end
      end

      # Indexing: every op on every dtype of @types plus f16, bf16 and c64,
      # index tensors of several integer types, repeated indices, non-leading
      # axes, clamped put_slice starts (also as tensors) and out-of-bounds
      # indices (Nx.BinaryBackend raises ArgumentError, the executor
      # PelemayBackend.Error). Data movement is compared bit for bit and so
      # is indexed_add (it sums as Nx.BinaryBackend does).
      @index_types [{:s, 8}, {:u, 8}, {:s, 32}, {:s, 64}, {:u, 64}]

      test "indexing: reverse, put_slice, take, take_along_axis, gather, indexed_add/put" do
        for seed <- 1..2,
            t <- @types ++ [{:f, 16}, {:bf, 16}, {:c, 64}],
            shape <- [{}, {5}, {2, 3}, {3, 1, 4}] do
          :rand.seed(:exsss, {seed, 3, 5})
          it = Enum.random(@index_types)
          x = random(t, shape)
          rank = tuple_size(shape)
          dims = Tuple.to_list(shape)

          check(:reverse, [x])
          if rank > 0, do: check(:reverse, [x], axes: [rank - 1])

          # put_slice: a smaller block of another type, starts past the end
          # (Nx clamps them) and given as tensors. (Nx.BinaryBackend's
          # put_slice fails on scalars with Protocol.UndefinedError; the
          # scalar case is in the C++ suite.)
          if rank > 0 do
            block = shape |> Tuple.to_list() |> Enum.map(&max(1, &1 - 1)) |> List.to_tuple()
            ut = Enum.random(@types)
            check(:put_slice, [x, Enum.map(dims, fn _ -> 1 end), random(ut, block)])
            check(:put_slice, [x, Enum.map(dims, &(&1 + 2)), random(t, block)])

            check(:put_slice, [
              x,
              Enum.map(dims, fn _ -> Nx.tensor(1, backend: Nx.BinaryBackend) end),
              random(t, block)
            ])
          end

          if rank > 0 do
            axis = rank - 1
            d = elem(shape, axis)
            check(:take, [x, index_tensor(it, {3}, d)], axis: axis)
            check(:take, [x, index_tensor(it, {2, 2}, elem(shape, 0))], axis: 0)

            check(:take, [x, Nx.tensor([0, d], type: {:s, 64}, backend: Nx.BinaryBackend)],
              axis: axis
            )

            along = put_elem(shape, axis, 4)
            check(:take_along_axis, [x, index_tensor(it, along, d)], axis: axis)

            # gather on the leading axes and on the last axis alone.
            k = min(rank, 2)
            rows = index_rows(it, 4, Enum.take(dims, k))
            check(:gather, [x, rows])
            check(:gather, [x, index_rows(it, 3, [d])], axes: [axis])
            check(:gather, [x, Nx.tensor([[d]], backend: Nx.BinaryBackend)], axes: [axis])

            # indexed_add/put on axis 0 with a repeated row, updates of
            # another type (Nx promotes), and on the last axis.
            n = 4
            idx0 = index_rows(it, n, [elem(shape, 0)], repeat: true)
            upd = random(Enum.random(@types), List.to_tuple([n | tl(dims)]))
            updl = random(t, List.to_tuple([n | Enum.drop(dims, -1)]))
            idxl = index_rows(it, n, [d])

            for op <- [:indexed_add, :indexed_put] do
              check(op, [x, idx0, upd])
              check(op, [x, idxl, updl], axes: [axis])
              bad = Nx.tensor([[elem(shape, 0)]], backend: Nx.BinaryBackend)
              check(op, [x, bad, random(t, List.to_tuple([1 | tl(dims)]))])
            end
          end
        end
      end

      # Random well-conditioned (diagonally dominant) batches; both backends
      # run Nx.LinAlg's own functions. triangular_solve, lu and eigh repeat
      # Nx.BinaryBackend's f64 arithmetic and round once: bit-exact. The
      # others follow Nx's default implementations (Nx.BinaryBackend has no
      # callback for them, so Nx runs the default there, in the input type)
      # but compute in f64: within 1.0e-4 (f32) / 1.0e-10 (f64), relative
      # and absolute. svd is Nx's default on both sides (over our qr, eigh...):
      # 1.0e-3 / 1.0e-8.
      test "linear algebra" do
        :rand.seed(:exsss, {3, 5, 7})

        for t <- [{:f, 32}, {:f, 64}, {:s, 64}], shape <- [{3, 3}, {2, 4, 4}, {1, 1}] do
          a = well_conditioned(t, shape)
          n = elem(shape, tuple_size(shape) - 1)

          batch = batch_shape(shape)

          b_vec = random({:f, 32}, Tuple.append(batch, n))
          b_mat = random(t, batch |> Tuple.append(n) |> Tuple.append(2))
          b_right = random(t, batch |> Tuple.append(2) |> Tuple.append(n))

          for left <- [true, false], lower <- [true, false], transform <- [:none, :transpose] do
            opts = [left_side: left, lower: lower, transform_a: transform]
            linalg(:exact, :triangular_solve, [a, b_vec, opts])
            linalg(:exact, :triangular_solve, [a, if(left, do: b_mat, else: b_right), opts])
          end

          linalg(:exact, :lu, [a])
          sym = symmetric(a)
          linalg(:exact, :eigh, [sym])
          linalg(:close, :cholesky, [spd(a)])
          linalg(:close, :qr, [a])
          linalg(:close, :qr, [a, [mode: :complete]])
          linalg(:close, :determinant, [a])
          linalg(:close, :solve, [a, b_vec])
          linalg(:close, :solve, [a, b_mat])
          linalg(:close, :svd, [a])
        end

        # Complex triangular_solve repeats Nx.BinaryBackend's complex
        # arithmetic (the complex library's formulas): bit-exact, also with
        # one operand real.
        for t <- [{:c, 64}, {:c, 128}], shape <- [{3, 3}, {2, 4, 4}, {1, 1}] do
          real_a = well_conditioned({:f, 64}, shape)
          a = complex(real_a, t)
          n = elem(shape, tuple_size(shape) - 1)

          batch = batch_shape(shape)

          b_vec = complex(random({:f, 64}, Tuple.append(batch, n)), t)
          b_mat = complex(random({:f, 64}, batch |> Tuple.append(n) |> Tuple.append(2)), t)
          b_right = complex(random({:f, 64}, batch |> Tuple.append(2) |> Tuple.append(n)), t)
          b_real = random({:f, 32}, Tuple.append(batch, n))

          for left <- [true, false], lower <- [true, false], transform <- [:none, :transpose] do
            opts = [left_side: left, lower: lower, transform_a: transform]
            linalg(:exact, :triangular_solve, [a, b_vec, opts])
            linalg(:exact, :triangular_solve, [a, if(left, do: b_mat, else: b_right), opts])
            linalg(:exact, :triangular_solve, [a, b_real, opts])
            linalg(:exact, :triangular_solve, [real_a, b_vec, opts])
          end
        end

        assert_raise ArgumentError, "can't solve for singular matrix", fn ->
          Nx.LinAlg.triangular_solve(
            on(Nx.tensor([[Complex.new(1.0, 1.0), 0.0], [2.0, 0.0]]), Backend),
            on(Nx.tensor([1.0, 2.0]), Backend)
          )
        end

        # Rectangular qr, both modes.
        for t <- [{:f, 32}, {:f, 64}],
            shape <- [{5, 3}, {3, 5}, {2, 4, 2}],
            mode <- [:reduced, :complete] do
          linalg(:close, :qr, [random(t, shape), [mode: mode]])
        end

        # Nx.BinaryBackend's data-dependent errors.
        singular = Nx.tensor([[1.0, 0.0], [2.0, 0.0]])

        assert_raise ArgumentError, "can't solve for singular matrix", fn ->
          Nx.LinAlg.triangular_solve(on(singular, Backend), on(Nx.tensor([1.0, 2.0]), Backend))
        end

        # solve of a singular system: Nx.BinaryBackend raises for f64 (its f32
        # default returns noise); here both raise (docs/ops.md).
        m = Nx.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], type: :f64)

        for backend <- [Nx.BinaryBackend, Backend] do
          assert_raise ArgumentError, "can't solve for singular matrix", fn ->
            Nx.with_default_backend(backend, fn ->
              Nx.LinAlg.solve(on(m, backend), on(Nx.tensor([1.0, 2.0, 3.0], type: :f64), backend))
            end)
          end
        end

        assert_raise ArgumentError, "can't solve for singular matrix", fn ->
          Nx.LinAlg.solve(
            on(Nx.as_type(m, :f32), Backend),
            on(Nx.tensor([1.0, 2.0, 3.0]), Backend)
          )
        end

        assert_raise ArgumentError, ~r/matrix must be hermitian/, fn ->
          Nx.LinAlg.eigh(on(Nx.tensor([[1.0, 2.0], [3.0, 4.0]]), Backend))
        end
      end

      # The batch axes of a [..., n, n] shape.
      defp batch_shape(shape),
        do:
          shape
          |> Tuple.delete_at(tuple_size(shape) - 1)
          |> Tuple.delete_at(tuple_size(shape) - 2)

      defp well_conditioned(t, shape) do
        n = elem(shape, tuple_size(shape) - 1)
        noise = random({:f, 64}, shape)
        eye = Nx.eye(shape, type: {:f, 64}, backend: Nx.BinaryBackend)

        signs =
          Nx.iota(shape, axis: -1, backend: Nx.BinaryBackend)
          |> Nx.remainder(2)
          |> Nx.multiply(-2)
          |> Nx.add(1)

        noise
        |> Nx.add(Nx.multiply(eye, Nx.multiply(signs, 4 * (n + 1))))
        |> then(&if(elem(t, 0) == :s, do: Nx.round(&1), else: &1))
        |> Nx.as_type(t)
      end

      # re + i * noise, as type t.
      defp complex(re, t) do
        re
        |> Nx.complex(random({:f, 64}, re.shape))
        |> Nx.as_type(t)
      end

      # a a^T + n I, batched.
      defp spd(a) do
        r = Nx.rank(a)
        batch = Enum.to_list(0..(r - 3)//1)
        n = elem(a.shape, r - 1)
        a = Nx.as_type(a, {:f, 64})

        Nx.dot(a, [r - 1], batch, a, [r - 1], batch)
        |> Nx.add(Nx.multiply(Nx.eye(a.shape, type: {:f, 64}, backend: Nx.BinaryBackend), n))
      end

      defp symmetric(a), do: Nx.add(a, Nx.transpose(a, axes: transpose_axes(a)))

      defp transpose_axes(a) do
        r = Nx.rank(a)
        Enum.to_list(0..(r - 3)//1) ++ [r - 1, r - 2]
      end

      defp linalg(how, fun, args) do
        # Nx's default implementations make constants on the default backend.
        want =
          Nx.with_default_backend(Nx.BinaryBackend, fn ->
            apply(Nx.LinAlg, fun, Enum.map(args, &on(&1, Nx.BinaryBackend)))
          end)

        got =
          Nx.with_default_backend(Backend, fn ->
            apply(Nx.LinAlg, fun, Enum.map(args, &on(&1, Backend)))
          end)

        wants = if is_tuple(want), do: Tuple.to_list(want), else: [want]
        gots = if is_tuple(got), do: Tuple.to_list(got), else: [got]

        for {w, g} <- Enum.zip(wants, gots) do
          assert %Nx.Tensor{data: %Backend{}} = g, "#{fun} did not stay on the backend"
          assert {g.type, g.shape} == {w.type, w.shape}
          message = "#{fun}(#{inspect(args, limit: 4)}):\nwant #{inspect(w)}\ngot  #{inspect(g)}"

          case {how, w.type} do
            {:exact, _} ->
              assert Nx.to_binary(g) == Nx.to_binary(w), message

            {:close, {k, _}} when k in [:s, :u] ->
              assert Nx.to_binary(g) == Nx.to_binary(w), message

            {:close, {_, bits}} ->
              tol =
                case {fun, bits} do
                  {:svd, 32} -> 1.0e-3
                  {:svd, _} -> 1.0e-8
                  {_, 32} -> 1.0e-4
                  _ -> 1.0e-10
                end

              assert Nx.all_close(on(g, Nx.BinaryBackend), w, rtol: tol, atol: tol)
                     |> Nx.to_number() == 1,
                     message
          end
        end
      end

      defp index_tensor(type, shape, bound) do
        n = Tuple.product(shape)

        Enum.map(1..n//1, fn _ -> Enum.random(0..(bound - 1)) end)
        |> Nx.tensor(type: type, backend: Nx.BinaryBackend)
        |> Nx.reshape(shape)
      end

      # {n, length(bounds)} indices, column j below bounds[j].
      # With repeat: true the first and the last row are both all zeros.
      defp index_rows(type, n, bounds, opts \\ []) do
        rows = for _ <- 1..n, do: Enum.map(bounds, &Enum.random(0..(&1 - 1)))
        zeros = Enum.map(bounds, fn _ -> 0 end)
        rows = if opts[:repeat], do: [zeros | Enum.drop(rows, 2)] ++ [zeros], else: rows
        Nx.tensor(rows, type: type, backend: Nx.BinaryBackend)
      end

      test "window reductions: strides, padding, dilations, every type" do
        types = @types ++ [{:s, 16}, {:u, 32}, {:f, 16}, {:bf, 16}]

        cases = [
          {{5}, {2}, []},
          {{6}, {4}, [strides: 2]},
          {{5}, {3}, [strides: 2, padding: :same]},
          {{7}, {2}, [padding: [{2, 1}], window_dilations: [3]]},
          {{2, 3}, {2, 2}, [padding: :same]},
          {{4, 5}, {2, 3},
           [strides: [2, 1], padding: [{1, 0}, {0, 2}], window_dilations: [1, 2]]},
          {{3, 1, 4}, {1, 1, 2}, [strides: [1, 1, 2], padding: [{0, 0}, {1, 1}, {1, 0}]]}
        ]

        for t <- types, {shape, window, opts} <- cases do
          x = random(t, shape)
          check(:window_sum, [x, window], opts)
          # Nx 0.7.2's s16 extremes (Nx.Type.min_finite_binary and
          # max_finite_binary) are -32678 and 32677, typos: Nx.BinaryBackend
          # pads s16 window_max/min with them, the executor with -32768 and
          # 32767 (docs/ops.md). Compared without padding there.
          if t != {:s, 16} or opts[:padding] in [nil, :valid] do
            check(:window_max, [x, window], opts)
            check(:window_min, [x, window], opts)
          end

          # Small values keep products representable in every type.
          check(:window_product, [Nx.remainder(x, 3), window], opts)
        end

        # Complex sums and products (max and min take no complex).
        for {shape, window, opts} <- cases do
          z = Nx.complex(random({:f, 32}, shape), random({:f, 32}, shape))
          check(:window_sum, [z, window], opts)
          check(:window_product, [Nx.divide(z, 4), window], opts)
        end
      end

      test "window scatters" do
        # Nx.BinaryBackend's scatter writes its sums as s64 or f32 whatever
        # the result type, and mis-places windows chosen in the padding:
        # compare where it is right (result s64 or f32, padding that is
        # never chosen).
        cases = [
          {{4, 5}, {2, 3}, [strides: [2, 2]]},
          {{4, 6}, {2, 2}, [strides: [1, 2]]},
          {{5}, {2}, [strides: 1, padding: [{0, 1}]]},
          {{3, 4}, {2, 2}, [strides: [1, 1], padding: [{0, 1}, {0, 1}]]},
          {{2, 3, 4}, {1, 2, 2}, [strides: [1, 1, 2]]}
        ]

        for {k, _} = tt <- @types,
            st <- [{:s, 64}, {:f, 32}],
            {shape, window, opts} <- cases do
          x = random(tt, shape)
          out_shape = Nx.shape(Nx.window_max(x, window, opts))
          src = random(st, out_shape)
          # Below (above) every value of x, and representable in its type:
          # Nx.BinaryBackend pads x with it.
          {below, above} =
            case k do
              :u -> {0, 255}
              :s -> {-101, 101}
              :f -> {-5, 5}
            end

          check(:window_scatter_max, [x, src, below, window], opts)
          check(:window_scatter_min, [x, src, above, window], opts)
        end
      end

      test "conv: strides, padding, dilations, feature and batch groups, permutations" do
        cases = [
          {{1, 1, 5}, {1, 1, 2}, []},
          {{2, 3, 6}, {4, 3, 3}, [strides: 2, padding: :same]},
          {{2, 2, 5, 4}, {3, 2, 2, 2}, [padding: [{1, 0}, {2, 1}], kernel_dilation: [2, 1]]},
          {{1, 2, 4, 4}, {2, 2, 3, 2}, [input_dilation: [2, 1], strides: [2, 1], padding: :same]},
          {{2, 4, 5, 4}, {6, 2, 2, 3},
           [
             strides: [2, 1],
             padding: [{1, 0}, {2, 1}],
             input_dilation: [1, 2],
             kernel_dilation: [2, 1],
             feature_group_size: 2
           ]},
          {{4, 3, 5}, {4, 3, 2}, [batch_group_size: 2, padding: [{0, 1}]]},
          {{2, 6, 3, 3}, {6, 1, 2, 2}, [feature_group_size: 6]},
          # channels last: input [n, h, w, c], kernel [h, w, c, o], output [n, h, w, o]
          {{2, 5, 4, 3}, {2, 2, 3, 4},
           [
             input_permutation: [0, 3, 1, 2],
             kernel_permutation: [3, 2, 0, 1],
             output_permutation: [0, 3, 1, 2],
             padding: :same
           ]},
          {{1, 2, 3, 3, 3}, {2, 2, 2, 2, 2},
           [strides: [1, 2, 1], padding: [{0, 0}, {1, 1}, {0, 1}]]}
        ]

        for {xt, kt} <- [
              {{:f, 32}, {:f, 32}},
              {{:f, 64}, {:f, 64}},
              {{:s, 32}, {:f, 32}},
              {{:s, 8}, {:s, 8}},
              {{:f, 16}, {:f, 16}}
            ],
            {xs, ks, opts} <- cases do
          check(:conv, [random(xt, xs), random(kt, ks)], opts)
        end

        # complex input and kernel
        x = Nx.complex(random({:f, 32}, {1, 2, 4}), random({:f, 32}, {1, 2, 4}))
        k = Nx.complex(random({:f, 32}, {3, 2, 2}), random({:f, 32}, {3, 2, 2}))
        check(:conv, [x, k], padding: :same)
      end

      # Sorting, scans, top_k and the complex parts must equal Nx.BinaryBackend
      # bit for bit (any NaN matching any NaN): the executor sorts stably
      # with the same order and scans in Nx's own pairwise order.
      @all_real [{:s, 8}, {:u, 8}, {:s, 16}, {:s, 32}, {:s, 64}, {:u, 32}, {:u, 64}] ++
                  [{:f, 16}, {:bf, 16}, {:f, 32}, {:f, 64}]

      test "sort and argsort: NaN, infinities, signed zeros and duplicates, both directions" do
        :rand.seed(:exsss, {3, 1, 4})

        for t <- @all_real,
            shape <- [{1}, {9}, {4, 7}, {3, 5, 6}, {2, 1, 33}],
            axis <- Enum.to_list(0..(tuple_size(shape) - 1)),
            direction <- [:asc, :desc] do
          x = special(t, shape)
          opts = [axis: axis, direction: direction]
          exact(:sort, [x], opts)
          exact(:argsort, [x], opts)
          exact(:argsort, [x], opts ++ [stable: true, type: {:s, 32}])
        end
      end

      test "top_k: ties keep the first index" do
        for t <- @all_real, shape <- [{6}, {3, 8}, {2, 2, 5}], k <- [1, 3] do
          x = special(t, shape)
          want = Nx.top_k(on(x, Nx.BinaryBackend), k: k)
          got = Nx.top_k(on(x, Backend), k: k)

          assert same?(elem(want, 0), elem(got, 0)) and same?(elem(want, 1), elem(got, 1)),
                 "top_k #{inspect(x)}, k: #{k}: want #{inspect(want)} got #{inspect(got)}"
        end
      end

      test "cumulative ops along each axis, reversed, integers wrapping" do
        :rand.seed(:exsss, {2, 7, 1})

        for op <- [:cumulative_sum, :cumulative_product, :cumulative_min, :cumulative_max],
            t <- @all_real ++ [{:c, 64}, {:c, 128}],
            not (elem(t, 0) == :c and op in [:cumulative_min, :cumulative_max]),
            shape <- [{1}, {2}, {7}, {16}, {3, 5}, {2, 3, 9}],
            axis <- Enum.to_list(0..(tuple_size(shape) - 1)),
            reverse <- [false, true] do
          x = if elem(t, 0) == :c, do: random_complex(t, shape), else: special(t, shape)
          exact(op, [x], axis: axis, reverse: reverse)
        end
      end

      test "real, imag, conjugate and phase of complex and real tensors" do
        :rand.seed(:exsss, {5, 5, 5})

        for t <- [{:c, 64}, {:c, 128}], shape <- [{}, {3}, {2, 4}] do
          z = random_complex(t, shape)
          for op <- [:real, :imag, :conjugate], do: exact(op, [z])
          check(:phase, [z])
        end

        for t <- @all_real, shape <- [{}, {5}] do
          x = special(t, shape)
          # (Nx.real/imag of a real tensor do not call the backend.)
          exact(:conjugate, [x])
          # (close?/4 measures ulps of f32 and f64 results only)
          if t not in [{:f, 16}, {:bf, 16}], do: check(:phase, [x])
        end
      end

      # Both compute in f64 with the same algorithm (the executor follows
      # Nx.BinaryBackend's recursion and twiddle expressions), so they agree
      # to rounding: each component within @fft_tol times the largest
      # magnitude of the result (c64: rounded from f64 once on both sides).
      @fft_tol %{64 => 1.0e-6, 128 => 1.0e-12}

      test "fft and ifft: lengths 1..17, powers of two, Bluestein, cropping and padding" do
        :rand.seed(:exsss, {8, 8, 8})

        lengths = Enum.to_list(1..17) ++ [32, 64, 128, 256, 1024, 1000, 1030]

        for n <- lengths, kind <- [:fft, :ifft], t <- [{:c, 64}, {:c, 128}] do
          x = random_complex(t, {2, n})
          fft_close(kind, x, [])
        end

        for t <- [{:s, 32}, {:u, 8}, {:f, 16}, {:bf, 16}, {:f, 32}, {:f, 64}, {:c, 64}],
            {shape, opts} <- [
              {{5}, [length: 8]},
              {{8}, [length: 5]},
              {{3, 4}, [length: 6, axis: 0]},
              {{3, 4}, []},
              {{2, 3, 5}, [axis: 1, eps: 0.5]},
              # (Nx.BinaryBackend returns an empty binary for a real
              # operand of length 1: its one-element FFT is not a Complex.)
              {{1}, [length: 1]},
              {{6}, [length: :power_of_two]}
            ],
            kind <- [:fft, :ifft] do
          x = if elem(t, 0) == :c, do: random_complex(t, shape), else: random(t, shape)
          if shape != {1} or elem(t, 0) == :c, do: fft_close(kind, x, opts)
        end

        for kind <- [:fft2, :ifft2] do
          fft_close(kind, random_complex({:c, 64}, {2, 3, 4}), [])
          fft_close(kind, random({:f, 64}, {5, 6}), lengths: [4, 8])
        end
      end

      defp fft_close(kind, x, opts) do
        want = apply(Nx, kind, [on(x, Nx.BinaryBackend), opts])
        got = apply(Nx, kind, [on(x, Backend), opts])
        assert %Nx.Tensor{data: %Backend{}} = got
        assert got.type == want.type and got.shape == want.shape
        {:c, bits} = want.type
        w = Nx.to_flat_list(on(want, Nx.BinaryBackend))
        g = Nx.to_flat_list(on(got, Nx.BinaryBackend))
        scale = Enum.reduce(w, 1.0, fn z, m -> max(m, Complex.abs(z)) end)

        assert Enum.zip(w, g)
               |> Enum.all?(fn {a, b} ->
                 Complex.abs(Complex.subtract(a, b)) <= @fft_tol[bits] * scale
               end),
               "#{kind}(#{inspect(x, limit: 5)}, #{inspect(opts)}):\nwant #{inspect(want)}\ngot  #{inspect(got)}"
      end

      # Runs op on both backends and asserts the results are the same bits,
      # NaN matching any NaN.
      defp exact(op, args, opts \\ []) do
        extra = if opts == [], do: [], else: [opts]
        want = apply(Nx, op, Enum.map(args, &on(&1, Nx.BinaryBackend)) ++ extra)
        got = apply(Nx, op, Enum.map(args, &on(&1, Backend)) ++ extra)
        assert %Nx.Tensor{data: %Backend{}} = got, "#{op} did not stay on the backend"

        assert same?(want, got),
               "#{op}(#{inspect(args, limit: 12)}, #{inspect(opts)}):\nwant #{inspect(want, limit: 12)}\ngot  #{inspect(got, limit: 12)}"
      end

      defp same?(want, got) do
        want = on(want, Nx.BinaryBackend)
        got = on(got, Nx.BinaryBackend)

        want.type == got.type and want.shape == got.shape and
          (Nx.to_binary(want) == Nx.to_binary(got) or same_but_nan?(want, got))
      end

      defp same_but_nan?(%{type: {_, bits} = type} = want, got) do
        size = if elem(type, 0) == :c, do: div(bits, 2), else: bits
        nan = fn t -> t |> Nx.is_nan() |> Nx.to_flat_list() end

        nans = fn t ->
          if elem(type, 0) == :c, do: Enum.flat_map(nan.(t), &[&1, &1]), else: nan.(t)
        end

        parts = fn t -> for <<x::size(size)-bitstring <- Nx.to_binary(t)>>, do: x end

        if elem(type, 0) in [:f, :bf, :c] do
          [parts.(want), parts.(got), nans.(want), nans.(got)]
          |> Enum.zip()
          |> Enum.all?(fn {a, b, na, nb} -> a == b or (na == 1 and nb == 1) end)
        else
          false
        end
      end

      # Values with repeats; floats also with NaN, both infinities and both
      # zeros.
      defp special({k, _} = t, shape) when k in [:s, :u] do
        n = Tuple.product(shape)
        {lo, hi} = if k == :u, do: {0, 250}, else: {-120, 120}
        pool = Enum.map(1..4, fn _ -> Enum.random(lo..hi) end)

        Enum.map(1..n//1, fn _ ->
          if :rand.uniform() < 0.5, do: Enum.random(pool), else: Enum.random(lo..hi)
        end)
        |> Nx.tensor(type: t, backend: Nx.BinaryBackend)
        |> Nx.reshape(shape)
      end

      defp special(t, shape) do
        n = Tuple.product(shape)
        pool = [:nan, :infinity, :neg_infinity, 0.0, -0.0, 1.5, -2.25]

        Enum.map(1..n//1, fn _ ->
          if :rand.uniform() < 0.4,
            do: Enum.random(pool),
            else: Float.round((:rand.uniform() - 0.5) * 8, 2)
        end)
        |> Nx.tensor(type: t, backend: Nx.BinaryBackend)
        |> Nx.reshape(shape)
      end

      defp random_complex({:c, bits} = t, shape) do
        re = random({:f, div(bits, 2)}, shape)
        im = random({:f, div(bits, 2)}, shape)
        Nx.complex(re, im) |> Nx.as_type(t)
      end

      defp check(op, args, opts \\ [])

      defp check(op, args, opts) when op in [:as_type, :reshape, :pad],
        do: compare(op, args ++ [opts], [])

      defp check(op, args, opts), do: compare(op, args, opts)

      defp compare(op, args, opts) do
        extra = if opts == [], do: [], else: [opts]
        ours = fn -> apply(Nx, op, Enum.map(args, &on(&1, Backend)) ++ extra) end

        try do
          apply(Nx, op, Enum.map(args, &on(&1, Nx.BinaryBackend)) ++ extra)
        rescue
          # Nx rejects the arguments: so must it with this backend.
          # (or Nx.BinaryBackend rejects them while computing, e.g. a negative
          # shift: the executor rejects them too, as PelemayBackend.Error).
          ArgumentError ->
            try do
              ours.()
              flunk("#{op} raised ArgumentError on Nx.BinaryBackend but not here")
            rescue
              e in [ArgumentError, PelemayBackend.Error] -> e
            end

          # Nx.BinaryBackend raises where the executor gives IEEE results
          # (an integer operand's sqrt of a negative...): a documented
          # deviation (docs/ops.md), nothing to compare.
          ArithmeticError ->
            :skip
        else
          want ->
            got = ours.()
            assert %Nx.Tensor{data: %Backend{}} = got, "#{op} did not stay on the backend"
            assert got.type == want.type and got.shape == want.shape

            assert close?(op, want.type, want, got),
                   "#{op}(#{inspect(args, limit: 5)}, #{inspect(opts)}):\nwant #{inspect(want)}\ngot  #{inspect(got)}"
        end
      end

      defp on(%Nx.Tensor{} = t, backend), do: Nx.backend_transfer(t, backend)
      defp on(list, backend) when is_list(list), do: Enum.map(list, &on(&1, backend))
      defp on(other, _), do: other

      defp random({k, _} = t, shape) when k in [:s, :u] do
        n = Tuple.product(shape)
        # No zeros: Nx.BinaryBackend raises on an integer division by zero
        # where the executor gives IEEE results (docs/ops.md).
        {lo, hi} = if k == :u, do: {1, 200}, else: {-100, 100}
        values = Enum.map(1..n//1, fn _ -> Enum.random(Enum.to_list(lo..hi) -- [0]) end)

        Nx.tensor(values, type: t, backend: Nx.BinaryBackend)
        |> Nx.reshape(shape)
      end

      defp random(t, shape) do
        n = Tuple.product(shape)

        Nx.tensor(Enum.map(1..n//1, fn _ -> (:rand.uniform() - 0.5) * 8 end),
          type: t,
          backend: Nx.BinaryBackend
        )
        |> Nx.reshape(shape)
      end

      defp close?(_op, {k, _}, a, b) when k in [:s, :u], do: Nx.to_binary(a) == Nx.to_binary(b)

      # Sums and dot products: the executor adds in another order than
      # Nx.BinaryBackend (vectorized; f32 dot accumulates in f32, see
      # docs/ops.md), and a sum that cancels has a large relative error
      # either way: a tolerance, not ulps.
      defp close?(op, {:f, bits}, a, b) when op in [:dot, :sum, :product] do
        tol = if bits == 32, do: 1.0e-5, else: 1.0e-12
        a = on(a, Nx.BinaryBackend)
        b = on(b, Nx.BinaryBackend)
        Nx.all_close(a, b, rtol: tol, atol: tol) |> Nx.to_number() == 1
      end

      # conv: accumulated by the GEMM (f32 in f32, f16 in f32) where
      # Nx.BinaryBackend adds in f64; up to 24 products of values below 4
      # in magnitude, so an absolute bound as well as a relative one.
      defp close?(:conv, {k, bits}, a, b) when k in [:f, :c] do
        tol =
          case bits do
            16 -> 2.0e-2
            32 -> 1.0e-4
            64 -> 1.0e-4
            128 -> 1.0e-12
          end

        tol = if k == :f and bits == 64, do: 1.0e-12, else: tol
        a = on(a, Nx.BinaryBackend)
        b = on(b, Nx.BinaryBackend)
        Nx.all_close(a, b, rtol: tol, atol: tol) |> Nx.to_number() == 1
      end

      # Half floats and complex: the indexing ops move or add them exactly,
      # the window ops round their f64 (c128) results once as Nx does.
      defp close?(_op, {k, bits}, a, b) when k in [:bf, :c] or bits == 16,
        do: Nx.to_binary(a) == Nx.to_binary(b)

      defp close?(_op, {:f, bits}, a, b) do
        for(<<x::size(bits)-little <- Nx.to_binary(a)>>, do: x)
        |> Enum.zip(for <<y::size(bits)-little <- Nx.to_binary(b)>>, do: y)
        |> Enum.all?(fn {x, y} -> ulp_distance(x, y, bits) <= @ulps end)
      end

      # x, y: the bits of two floats as unsigned integers. NaNs match any NaN;
      # otherwise the distance between their ordered integer images.
      defp ulp_distance(x, y, bits) do
        case {nan?(x, bits), nan?(y, bits)} do
          {true, true} -> 0
          {false, false} -> abs(ordered(x, bits) - ordered(y, bits))
          _ -> :infinity
        end
      end

      defp nan?(x, 64),
        do: Bitwise.band(x >>> 52, 0x7FF) == 0x7FF and Bitwise.band(x, 0xFFFFFFFFFFFFF) != 0

      defp nan?(x, 32),
        do: Bitwise.band(x >>> 23, 0xFF) == 0xFF and Bitwise.band(x, 0x7FFFFF) != 0

      defp ordered(x, bits) do
        magnitude = Bitwise.band(x, (1 <<< (bits - 1)) - 1)
        if x >>> (bits - 1) == 0, do: magnitude, else: -magnitude
      end
    end
  end
end
