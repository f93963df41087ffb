defmodule PelemayBackend.PortLayer.PoolTest do
  # PelemayBackend.Pool and PelemayBackend.run/3: supervised executors that a
  # native crash cannot take down, retries, timeouts, restart intensity.
  use ExUnit.Case, async: true

  import PelemayBackend.Test.Programs

  alias PelemayBackend.{Error, Executor, Pool}

  @moduletag :executor
  @moduletag :capture_log

  @faulty ["--enable-fault-injection"]

  defp start_pool(opts) do
    name = :"pelemay_test_pool_#{System.unique_integer([:positive])}"
    size = Keyword.get(opts, :size, 1)
    opts = Keyword.merge([name: name, size: size, restart_backoff: {10, 100}], opts)
    start_supervised!({Pool, opts})
    if Keyword.get(opts, :wait, true), do: wait_ready(name, size)
    name
  end

  defp wait_ready(pool, n) do
    wait_until(fn -> length(Pool.executors(pool)) == n end, 5_000, "#{n} ready executors")
    Pool.executors(pool)
  end

  defp os_pids(pool), do: Enum.map(Pool.executors(pool), & &1.os_pid)

  defp add_inputs, do: [f32_tensor([1, 2, 3, 4]), f32_tensor([10, 20, 30, 0.5])]
  @sum [11.0, 22.0, 33.0, 4.5]

  test "runs an add program through the pool" do
    pool = start_pool(size: 2)
    assert {:ok, [sum]} = PelemayBackend.run(add_program(4), add_inputs(), pool: pool)
    assert values(sum) == @sum
    assert [sum] = PelemayBackend.run!(add_program(4), add_inputs(), pool: pool)
    assert values(sum) == @sum
    assert {:ok, %{status: :ok, size: 2, ready: 2}} = Pool.status(pool)
  end

  test "the executors get the pool's :priority; a wrong one stops the pool from starting" do
    pool = start_pool(size: 2)

    for %{pid: pid} <- Pool.executors(pool),
        do: assert(Process.info(pid, :priority) == {:priority, :high})

    pool = start_pool(size: 2, priority: :normal)

    for %{pid: pid} <- Pool.executors(pool),
        do: assert(Process.info(pid, :priority) == {:priority, :normal})

    assert {:error, {{%ArgumentError{message: message}, _}, _}} =
             start_supervised({Pool, name: :pelemay_test_pool_bad_priority, priority: :max})

    assert message =~ ":priority must be :low, :normal or :high"
  end

  test "run! raises the typed error" do
    pool = start_pool([])
    bad = put_in(add_program(4), [:instructions, Access.at(0), :operands], [0, 7])

    error = assert_raise Error, fn -> PelemayBackend.run!(bad, add_inputs(), pool: pool) end
    assert error.code == :invalid_argument
    assert error.instruction == 0
  end

  test "the application's default pool runs programs" do
    assert {:ok, [sum]} = PelemayBackend.run(add_program(4), add_inputs(), timeout: 10_000)
    assert values(sum) == @sum
  end

  test "200 concurrent requests are spread over the executors and all answered" do
    pool = start_pool(size: 2)

    results =
      1..200
      |> Enum.map(fn i ->
        Task.async(fn ->
          PelemayBackend.run(add_program(2), [f32_tensor([i, 1]), f32_tensor([i, -1])], pool: pool)
        end)
      end)
      |> Task.await_many(10_000)

    for {{:ok, [out]}, i} <- Enum.with_index(results, 1),
        do: assert(values(out) == [2.0 * i, 0.0])

    assert length(results) == 200
    assert Enum.all?(Pool.executors(pool), &(&1.in_flight == 0))
  end

  test "an executor killed with kill -9 mid-run: the caller still gets the right result" do
    pool = start_pool(executor_args: @faulty)
    [%{pid: pid, os_pid: os_pid}] = Pool.executors(pool)
    # The next run hangs in this executor: it is computing when the kill comes.
    assert {:ok, _} = Executor.inject_fault(pid, %{kind: :HANG, when: :DURING_NEXT_RUN})

    {:ok, request} =
      PelemayBackend.run_async(add_program(4), add_inputs(), pool: pool, timeout: 10_000)

    wait_until(
      fn -> match?({:ok, %{busy: 1}}, Executor.stats(pid)) end,
      5_000,
      "the run to start"
    )

    kill9(os_pid)

    assert {:ok, [sum]} = PelemayBackend.await(request)
    assert values(sum) == @sum
    assert [new] = wait_ready(pool, 1)
    assert new.os_pid != os_pid
    assert {:ok, %{recent_crashes: 1, last_death: %{signal: :SIGKILL}}} = Pool.status(pool)
  end

  test "many requests in flight survive an executor killed under them" do
    pool = start_pool(size: 2, executor_args: @faulty)
    [%{os_pid: victim} | _] = executors = Pool.executors(pool)
    # Slow both down (5 ms per run) so that requests queue up on each.
    for %{pid: pid} <- executors,
        do: {:ok, _} = Executor.inject_fault(pid, %{kind: :SLOW, when: :NOW, delay_ms: 5})

    tasks =
      for i <- 1..100 do
        Task.async(fn ->
          PelemayBackend.run(add_program(2), [f32_tensor([i, 1]), f32_tensor([i, -1])],
            pool: pool,
            timeout: 10_000
          )
        end)
      end

    Process.sleep(60)
    kill9(victim)
    results = Task.await_many(tasks, 15_000)

    for {{:ok, [out]}, i} <- Enum.with_index(results, 1),
        do: assert(values(out) == [2.0 * i, 0.0])

    refute victim in os_pids(wait_ready(pool, 2))
  end

  test "a segfault injected in an executor is retried on a fresh one" do
    pool = start_pool(executor_args: @faulty)
    [%{pid: pid, os_pid: os_pid}] = Pool.executors(pool)
    assert {:ok, _} = Executor.inject_fault(pid, %{kind: :SEGFAULT, when: :DURING_NEXT_RUN})

    assert {:ok, [sum]} =
             PelemayBackend.run(add_program(4), add_inputs(), pool: pool, timeout: 10_000)

    assert values(sum) == @sum
    assert [%{os_pid: new}] = wait_ready(pool, 1)
    assert new != os_pid
    assert {:ok, %{status: :ok, last_death: %{signal: :SIGSEGV}}} = Pool.status(pool)
  end

  test "a request that crashes its executor twice is :executor_crashed naming the signal" do
    pool = start_pool(size: 2, executor_args: @faulty)
    before = os_pids(pool)
    poison = %{kind: :SEGFAULT, when: :DURING_NEXT_RUN}

    assert {:error, %Error{code: :executor_crashed, signal: :SIGSEGV, exit_status: 139} = error} =
             PelemayBackend.run(add_program(4), add_inputs(),
               pool: pool,
               fault: poison,
               timeout: 10_000
             )

    assert Exception.message(error) =~ "crashed with SIGSEGV twice while running this request"

    # With no retry, the first crash is the answer.
    wait_ready(pool, 2)

    assert {:error, %Error{code: :executor_crashed, signal: :SIGABRT} = error} =
             PelemayBackend.run(add_program(4), add_inputs(),
               pool: pool,
               fault: %{kind: :ABORT, when: :DURING_NEXT_RUN},
               retries: 0
             )

    refute Exception.message(error) =~ "twice"

    # The pool is whole again and works.
    after_ = os_pids(wait_ready(pool, 2))
    assert MapSet.disjoint?(MapSet.new(before), MapSet.new(after_))
    assert {:ok, [sum]} = PelemayBackend.run(add_program(4), add_inputs(), pool: pool)
    assert values(sum) == @sum
  end

  test "a request past its timeout is :timeout and its executor is replaced" do
    pool = start_pool(executor_args: @faulty)
    [old] = os_pids(pool)
    started = System.monotonic_time(:millisecond)

    assert {:error, %Error{code: :timeout, os_pid: ^old}} =
             PelemayBackend.run(add_program(4), add_inputs(),
               pool: pool,
               timeout: 300,
               fault: %{kind: :HANG, when: :DURING_NEXT_RUN}
             )

    assert System.monotonic_time(:millisecond) - started < 2_000

    wait_until(
      fn -> match?([%{os_pid: p}] when p != old, Pool.executors(pool)) end,
      5_000,
      "a new executor"
    )

    [new] = os_pids(pool)
    assert new != old
    wait_until(fn -> not os_alive?(old) end, 5_000, "the hung executor to be gone")
    assert {:ok, [_]} = PelemayBackend.run(add_program(4), add_inputs(), pool: pool)
  end

  test "over the memory budget is :resource_exhausted and the executor stays" do
    pool = start_pool(memory_budget: "1M")
    [old] = os_pids(pool)
    n = 300_000

    assert {:error, %Error{code: :resource_exhausted}} =
             PelemayBackend.run(add_program(n), [zeros_f32(n), zeros_f32(n)], pool: pool)

    assert [%{os_pid: ^old, in_flight: 0}] = Pool.executors(pool)
    assert {:ok, [_]} = PelemayBackend.run(add_program(4), add_inputs(), pool: pool)
    assert os_pids(pool) == [old]
  end

  test "cancel stops a request; the executor stays" do
    pool = start_pool(executor_args: @faulty)
    [old] = os_pids(pool)

    {:ok, request} =
      PelemayBackend.run_async(chain_program(4, 10), add_inputs(),
        pool: pool,
        fault: %{kind: :SLOW, when: :NOW, delay_ms: 100}
      )

    Process.sleep(50)
    started = System.monotonic_time(:millisecond)
    assert {:error, %Error{code: :cancelled}} = PelemayBackend.cancel(request)
    assert System.monotonic_time(:millisecond) - started < 500
    # The executor stopped the run itself (well within the grace period) and is still the same.
    assert {:ok, [out]} =
             PelemayBackend.run(add_program(4), add_inputs(), pool: pool, timeout: 5_000)

    assert values(out) == @sum
    assert os_pids(pool) == [old]
  end

  test "a run_async request can be awaited" do
    pool = start_pool(size: 2)
    {:ok, r1} = PelemayBackend.run_async(add_program(4), add_inputs(), pool: pool)
    {:ok, r2} = PelemayBackend.run_async(chain_program(4, 3), add_inputs(), pool: pool)
    assert {:ok, [b]} = PelemayBackend.await(r2)
    assert {:ok, [a]} = PelemayBackend.await(r1)
    assert values(a) == @sum
    assert values(b) == [31.0, 62.0, 93.0, 5.5]
  end

  @tag :tmp_dir
  test "executors dying faster than the intensity make the pool :unavailable until they start again",
       %{tmp_dir: dir} do
    flag = Path.join(dir, "broken")
    File.write!(flag, "")
    script = Path.join(dir, "executor")

    File.write!(script, """
    #!/bin/sh
    if [ -e '#{flag}' ]; then exit 1; fi
    exec '#{PelemayBackend.Native.executor_path()}' "$@"
    """)

    File.chmod!(script, 0o755)

    pool =
      start_pool(
        size: 2,
        executor_path: script,
        max_crashes: 3,
        crash_period: 10_000,
        probe_backoff: {100, 200},
        wait: false
      )

    wait_until(
      fn -> match?({:ok, %{status: :unavailable}}, Pool.status(pool)) end,
      5_000,
      "the pool to be unavailable"
    )

    started = System.monotonic_time(:millisecond)

    assert {:error, %Error{code: :unavailable, message: message}} =
             PelemayBackend.run(add_program(4), add_inputs(), pool: pool, timeout: 10_000)

    assert System.monotonic_time(:millisecond) - started < 500
    assert message =~ "unavailable"
    # How the last start failed: its exit status, a closed pipe when the
    # handshake was written after it had gone, or "exited at once" when it
    # was gone before its port could even report an OS pid (a race the
    # broken script wins now and then).
    assert message =~ ~r/exited with status 1|closed its pipes|exited at once/

    # Probes keep failing while the executor is broken, without spinning.
    Process.sleep(300)
    assert {:ok, %{status: :unavailable, ready: 0}} = Pool.status(pool)

    File.rm!(flag)

    wait_until(
      fn -> match?({:ok, [_]}, PelemayBackend.run(add_program(4), add_inputs(), pool: pool)) end,
      5_000,
      "the pool to recover"
    )

    assert {:ok, %{status: :ok}} = Pool.status(pool)
    wait_ready(pool, 2)
  end

  test "killing executors faster than the intensity also makes the pool :unavailable, then it recovers" do
    pool = start_pool(max_crashes: 2, crash_period: 10_000, probe_backoff: {400, 1_000})

    for _ <- 1..3 do
      [%{os_pid: os_pid}] = wait_ready(pool, 1)
      kill9(os_pid)
      wait_until(fn -> os_pid not in os_pids(pool) end)
    end

    wait_until(
      fn -> match?({:ok, %{status: :unavailable}}, Pool.status(pool)) end,
      2_000,
      "the pool to be unavailable"
    )

    assert {:error, %Error{code: :unavailable}} =
             PelemayBackend.run(add_program(4), add_inputs(), pool: pool)

    # The probe finds the executor healthy again.
    wait_ready(pool, 1)
    assert {:ok, %{status: :ok}} = Pool.status(pool)
    assert {:ok, [_]} = PelemayBackend.run(add_program(4), add_inputs(), pool: pool)
  end

  test "a pool that is not running is :unavailable" do
    assert {:error, %Error{code: :unavailable, message: message}} =
             PelemayBackend.run(add_program(4), add_inputs(), pool: :no_such_pool)

    assert message =~ "not running"
    assert {:error, %Error{code: :unavailable}} = Pool.status(:no_such_pool)
  end

  test "a pool whose executor cannot start reports why" do
    pool = start_pool(executor_path: "/nonexistent/pelemay_executor", max_crashes: 1, wait: false)
    wait_until(fn -> match?({:ok, %{status: :unavailable}}, Pool.status(pool)) end)

    assert {:error, %Error{code: :unavailable, message: message}} =
             PelemayBackend.run(add_program(4), add_inputs(), pool: pool)

    assert message =~ "/nonexistent/pelemay_executor"
  end
end
