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
