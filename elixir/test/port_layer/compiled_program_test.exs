defmodule PelemayBackend.PortLayer.CompiledProgramTest do
  # Prepared programs: compiled once per executor, run by id afterwards, with
  # the id table bounded, rebuilt after a crash, and invisible to callers
  # when the executor has forgotten an id.
  use ExUnit.Case, async: true

  import PelemayBackend.Test.Programs

  alias PelemayBackend.{Executor, Pool, Proto}
  alias PelemayBackend.Program.Prepared

  @moduletag :executor
  @moduletag :capture_log

  defp start_executor(opts \\ []) do
    pid = start_supervised!({Executor, opts}, id: make_ref())
    assert {:ok, %{}} = Executor.ping(pid)
    pid
  end

  defp add_inputs, do: [f32_tensor([1, 2, 3, 4]), f32_tensor([10, 20, 30, 0.5])]

  # The program table of an executor process: encoded program => state.
  defp programs(pid), do: Map.new(:sys.get_state(pid).programs, fn {k, {v, _}} -> {k, v} end)

  defp cached(pid) do
    {:ok, %{cached_programs: n}} = Executor.stats(pid)
    n
  end

  defp bytes_in(pid) do
    {:ok, %{bytes_in: n}} = Executor.stats(pid)
    n
  end

  test "run_body/2 gives the bytes Proto.encode gives for the whole run" do
    program = add_program(4)
    prepared = Prepared.new(program)
    fault = %{kind: :SLOW, delay_ms: 1}

    for source <- [{:program, program}, {:program_id, 77}], f <- [nil, fault] do
      run = %{source: source, inputs: add_inputs()}
      run = if f, do: Map.put(run, :fault, f), else: run
      {:ok, expected} = Proto.encode(:Request, %{id: 0, kind: {:run, run}})
      {:ok, rest} = Proto.encode(:RunRequest, Map.delete(run, :source))

      source = with {:program, _} <- source, do: {:program, prepared.encoded}

      assert IO.iodata_to_binary(Executor.run_body(source, rest)) ==
               IO.iodata_to_binary(expected)
    end
  end

  test "encode_run's fast path for inline tensors gives the codec's bytes, and hands the rest to it" do
    program = add_program(4)
    prepared = Prepared.new(program)
    :rand.seed(:exsss, {3, 5, 7})

    dtypes =
      PelemayBackend.Proto.Schema.enum_values(:DType)
      |> Keyword.keys()
      |> Enum.reject(&(&1 == :DTYPE_INVALID))

    random_tensor = fn ->
      rank = :rand.uniform(4) - 1

      shape =
        for _ <- 1..rank//1,
            do: Enum.random([0, 1, 3, 127, 128, 300, 16_384, 0x7FFF_FFFF_FFFF_FFFF])

      data = :crypto.strong_rand_bytes(Enum.random([0, 1, 4, 127, 128, 200, 20_000]))
      %{dtype: Enum.random(dtypes), shape: shape, payload: {:data, data}}
    end

    # Inputs the fast path leaves to the codec: still the codec's bytes, or
    # the codec's error.
    odd = [
      %{dtype: :DTYPE_F32, shape: [1], payload: {:data, ["ab", "cd"]}},
      %{dtype: :DTYPE_F32, shape: [-1], payload: {:data, <<>>}},
      %{dtype: :DTYPE_INVALID, shape: [1], payload: {:data, <<1, 2, 3, 4>>}},
      %{dtype: :DTYPE_F32, shape: [1], payload: {:arena, %{offset: 64, length: 4}}},
      %{dtype: :DTYPE_F32, shape: [1]},
      %{dtype: 7, shape: [1], payload: {:data, <<0::32>>}}
    ]

    cases =
      [[], [random_tensor.()]] ++
        for(_ <- 1..200, do: for(_ <- 1..:rand.uniform(4), do: random_tensor.())) ++
        for(t <- odd, do: [random_tensor.(), t])

    for inputs <- cases do
      expected =
        Proto.encode(:Request, %{
          id: 0,
          kind: {:run, %{source: {:program, program}, inputs: inputs}}
        })

      case {Executor.encode_run(prepared, inputs, nil), expected} do
        {{:ok, body, %{rest: rest}}, {:ok, want}} ->
          assert IO.iodata_to_binary(body) == IO.iodata_to_binary(want), inspect(inputs, limit: 5)
          # `rest` (the run without its program, kept to resend it by id)
          # too.
          {:ok, want_rest} = Proto.encode(:RunRequest, %{inputs: inputs})
          assert IO.iodata_to_binary(rest) == IO.iodata_to_binary(want_rest)

        {{:error, %PelemayBackend.Error{code: :invalid_argument}}, {:error, _}} ->
          :ok

        other ->
          flunk(
            "encode_run and Proto.encode disagree on #{inspect(inputs, limit: 5)}: #{inspect(other, limit: 5)}"
          )
      end
    end
  end

  test "a prepared program is compiled once, on its second run, then run by id with a smaller frame" do
    pid = start_executor()
    prepared = Prepared.new(add_program(4))

    # Seen once: remembered, not compiled.
    assert {:ok, %{outputs: [sum]}} = Executor.run(pid, prepared, add_inputs())
    assert values(sum) == [11.0, 22.0, 33.0, 4.5]
    assert programs(pid)[prepared.encoded] == :seen
    assert cached(pid) == 0
    # Seen twice: compiled.
    assert {:ok, %{outputs: [sum]}} = Executor.run(pid, prepared, add_inputs())
    assert values(sum) == [11.0, 22.0, 33.0, 4.5]
    wait_until(fn -> is_integer(programs(pid)[prepared.encoded]) end, 5_000, "the compile")
    assert cached(pid) == 1

    before = bytes_in(pid)
    assert {:ok, %{outputs: [sum]}} = Executor.run(pid, prepared, add_inputs())
    by_id = bytes_in(pid) - before
    assert values(sum) == [11.0, 22.0, 33.0, 4.5]

    # The same run inline, for comparison (the stats request counts too, in
    # both measurements).
    before = bytes_in(pid)
    assert {:ok, _} = Executor.run(pid, add_program(4), add_inputs())
    inline = bytes_in(pid) - before
    assert by_id + byte_size(prepared.encoded) <= inline
    assert cached(pid) == 1
  end

  test "programs run once each are never compiled (call-dependent programs cost no compiles)" do
    pid = start_executor()

    for n <- 1..6 do
      assert {:ok, _} = Executor.run(pid, Prepared.new(chain_program(4, n)), add_inputs())
    end

    assert programs(pid) |> Map.values() |> Enum.uniq() == [:seen]
    assert cached(pid) == 0
  end

  test "the id table is bounded: least recently used programs are released in the executor" do
    pid = start_executor(program_cache: 2)
    programs = for n <- 1..4, do: Prepared.new(chain_program(4, n))

    for _round <- 1..2, p <- programs do
      assert {:ok, %{outputs: [out]}} = Executor.run(pid, p, add_inputs())
      assert length(values(out)) == 4
    end

    wait_until(fn -> cached(pid) <= 2 end, 5_000, "the executor to release programs")
    assert map_size(programs(pid)) <= 2
    assert cached(pid) <= 2
  end

  test "a run by an id the executor forgot is sent again inline, invisibly" do
    pid = start_executor()
    prepared = Prepared.new(add_program(4))
    for _ <- 1..2, do: assert({:ok, _} = Executor.run(pid, prepared, add_inputs()))
    wait_until(fn -> is_integer(programs(pid)[prepared.encoded]) end, 5_000, "the compile")
    id = programs(pid)[prepared.encoded]

    # Released behind the executor process's back.
    assert {:ok, %{released: true}} = Executor.request(pid, {:release, %{program_id: id}})
    assert {:ok, %{outputs: [sum]}} = Executor.run(pid, prepared, add_inputs())
    assert values(sum) == [11.0, 22.0, 33.0, 4.5]
    # Forgotten, then compiled again when seen twice more.
    for _ <- 1..2, do: assert({:ok, _} = Executor.run(pid, prepared, add_inputs()))
    wait_until(fn -> is_integer(programs(pid)[prepared.encoded]) end, 5_000, "the recompile")
    assert programs(pid)[prepared.encoded] != id
  end

  test "a program the executor refuses is remembered as such and every run gets the error" do
    pid = start_executor()
    bad = add_program(4) |> put_in([:instructions, Access.at(0), :result, :shape], [5])
    prepared = Prepared.new(bad)

    for _ <- 1..4 do
      assert {:error, %{code: :invalid_argument, message: message}} =
               Executor.run(pid, prepared, add_inputs())

      assert message =~ "add produces f32[4]"
    end

    wait_until(fn -> programs(pid)[prepared.encoded] == :failed end, 5_000, "the refusal")
    assert cached(pid) == 0
  end

  test "program_cache: 0 sends every run inline" do
    pid = start_executor(program_cache: 0)
    prepared = Prepared.new(add_program(4))
    for _ <- 1..3, do: assert({:ok, _} = Executor.run(pid, prepared, add_inputs()))
    assert programs(pid) == %{}
    assert cached(pid) == 0
  end

  test "with an arena, a run by id still gets its large outputs through the arena" do
    pid = start_executor(arena_size: 1_048_576, arena_threshold: 0)
    prepared = Prepared.new(add_program(4))

    for _ <- 1..3 do
      assert {:ok, %{outputs: [sum]}} = Executor.run(pid, prepared, add_inputs())
      assert values(sum) == [11.0, 22.0, 33.0, 4.5]
    end

    assert is_integer(programs(pid)[prepared.encoded])
  end

  test "through a pool, a crash empties the table and runs go on correctly" do
    pool = :"compiled_pool_#{System.unique_integer([:positive])}"

    start_supervised!(
      {Pool, name: pool, size: 1, executor_args: ["--enable-fault-injection"]},
      id: pool
    )

    prepared = Prepared.new(add_program(4))
    for _ <- 1..3, do: assert({:ok, [_]} = Pool.run(pool, prepared, add_inputs()))

    # A poisoned run kills the executor on each of its attempts.
    assert {:error, %{code: :executor_crashed}} =
             Pool.run(pool, prepared, add_inputs(),
               fault: %{kind: :SEGFAULT, when: :DURING_NEXT_RUN}
             )

    # Its replacement starts with an empty table, compiles again, and
    # answers right.
    for _ <- 1..3 do
      assert {:ok, [sum]} = Pool.run(pool, prepared, add_inputs())
      assert values(sum) == [11.0, 22.0, 33.0, 4.5]
    end
  end
end
