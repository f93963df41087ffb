defmodule PelemayBackend.PortLayer.ExecutorTest do
  # PelemayBackend.Executor, the GenServer owning one executor port: replies
  # matched by id, typed errors, and what happens when the program dies.
  use ExUnit.Case, async: true

  import PelemayBackend.Test.Programs

  alias PelemayBackend.{Error, Executor}

  @moduletag :executor
  @moduletag :capture_log

  @faulty ["--enable-fault-injection"]

  defp start_executor(opts \\ []) do
    pid = start_supervised!({Executor, opts}, id: make_ref())
    # Ready once it answers; the OS pid is known from the start.
    assert {:ok, %{}} = Executor.ping(pid)
    {:ok, os_pid} = Executor.os_pid(pid)
    {pid, os_pid}
  end

  defp add_inputs, do: [f32_tensor([1, 2, 3, 4]), f32_tensor([10, 20, 30, 0.5])]

  # Monitors `pid` before the fault, so that the exit reason is seen.
  defp watch(pid), do: {pid, Process.monitor(pid)}

  defp assert_dies({pid, ref}, os_pid) do
    assert_receive {:DOWN, ^ref, :process, ^pid, reason}, 5_000
    wait_until(fn -> not os_alive?(os_pid) end, 5_000, "OS process #{os_pid} to exit")
    reason
  end

  test "runs an add program and returns the sum" do
    {pid, _} = start_executor()

    assert {:ok, %{outputs: [sum], compute_us: us}} =
             Executor.run(pid, add_program(4), add_inputs())

    assert is_integer(us)
    assert sum.shape == [4]
    assert values(sum) == [11.0, 22.0, 33.0, 4.5]
    assert %{outputs: [_]} = Executor.run!(pid, add_program(4), add_inputs())
  end

  test "answers info and stats" do
    {pid, _} = start_executor(memory_budget: "64M", threads: 1)

    assert {:ok, %{protocol_version: 1, memory_budget_bytes: budget, threads: 1}} =
             Executor.info(pid)

    assert budget == 64 * 1024 * 1024
    assert {:ok, %{requests: n}} = Executor.stats(pid)
    assert n >= 1
  end

  test ":spin_us reaches the executor, which still answers with it on or off" do
    for spin <- [0, 2_000] do
      {pid, _} = start_executor(spin_us: spin, threads: 1)
      assert {:ok, %{spin_us: ^spin}} = Executor.info(pid)

      for _ <- 1..20 do
        assert {:ok, %{outputs: [sum]}} = Executor.run(pid, add_program(4), add_inputs())
        assert values(sum) == [11.0, 22.0, 33.0, 4.5]
      end
    end

    Process.flag(:trap_exit, true)

    for bad <- [-1, 10_001, 1.5, "100"] do
      assert {:error, {%ArgumentError{message: message}, _}} = Executor.start_link(spin_us: bad)
      assert message =~ ":spin_us must be an integer from 0 to 10000"
    end
  end

  test ":priority sets the process's priority, :high by default; others are rejected" do
    {pid, _} = start_executor()
    assert Process.info(pid, :priority) == {:priority, :high}

    for p <- [:normal, :low] do
      {pid, _} = start_executor(priority: p)
      assert Process.info(pid, :priority) == {:priority, p}
      assert {:ok, %{outputs: [sum]}} = Executor.run(pid, add_program(4), add_inputs())
      assert values(sum) == [11.0, 22.0, 33.0, 4.5]
    end

    Process.flag(:trap_exit, true)

    # :max is the runtime's own.
    for bad <- [:max, :urgent, 1, "high"] do
      assert {:error, {%ArgumentError{message: message}, _}} = Executor.start_link(priority: bad)
      assert message =~ ":priority must be :low, :normal or :high"
    end
  end

  test "200 pipelined requests from concurrent callers each get their own result" do
    {pid, _} = start_executor()

    results =
      1..200
      |> Enum.map(fn i ->
        Task.async(fn ->
          Executor.run(pid, add_program(3), [f32_tensor([i, 0, -i]), f32_tensor([1, i, i])])
        end)
      end)
      |> Task.await_many(10_000)

    for {{:ok, %{outputs: [out]}}, i} <- Enum.with_index(results, 1) do
      assert values(out) == [i + 1.0, i * 1.0, 0.0]
    end

    assert length(results) == 200
  end

  test "a wrong program is a typed error naming the instruction; the executor stays" do
    {pid, os_pid} = start_executor()
    program = add_program(4)
    bad = put_in(program, [:instructions, Access.at(0), :result, :shape], [5])

    assert {:error, %Error{code: :invalid_argument, instruction: 0, message: message}} =
             Executor.run(pid, bad, add_inputs())

    assert message =~ "declares f32[5]"

    assert {:error,
            %Error{code: :invalid_argument, message: "the request cannot be encoded" <> _}} =
             Executor.run(pid, %{inputs: :nope}, [])

    assert {:ok, _} = Executor.run(pid, program, add_inputs())
    assert {:ok, ^os_pid} = Executor.os_pid(pid)
  end

  test "a program over --memory-budget is :resource_exhausted and the executor keeps running" do
    {pid, os_pid} = start_executor(memory_budget: "1M")
    # The result alone (1.2 MB) is over the budget; inputs are the frame's.
    n = 300_000

    assert {:error, %Error{code: :resource_exhausted, message: message}} =
             Executor.run(pid, add_program(n), [zeros_f32(n), zeros_f32(n)])

    assert message =~ "memory budget"
    assert {:ok, ^os_pid} = Executor.os_pid(pid)
    assert {:ok, %{outputs: [_]}} = Executor.run(pid, add_program(4), add_inputs())
  end

  test "an injected allocation past the budget is :resource_exhausted; same process" do
    {pid, os_pid} = start_executor(memory_budget: "4M", executor_args: @faulty)

    assert {:error, %Error{code: :resource_exhausted}} =
             Executor.run(pid, add_program(4), add_inputs(),
               fault: %{kind: :ALLOCATE, when: :DURING_NEXT_RUN}
             )

    assert {:ok, %{outputs: [sum]}} = Executor.run(pid, add_program(4), add_inputs())
    assert values(sum) == [11.0, 22.0, 33.0, 4.5]
    assert {:ok, ^os_pid} = Executor.os_pid(pid)
  end

  test "fault requests are :unsupported without --enable-fault-injection" do
    {pid, _} = start_executor()

    assert {:error, %Error{code: :unsupported}} =
             Executor.inject_fault(pid, %{kind: :SEGFAULT, when: :NOW})

    # A fault sent along with a run is refused, and so is the run.
    assert {:error, %Error{code: :unsupported}} =
             Executor.run(pid, add_program(4), add_inputs(),
               fault: %{kind: :SEGFAULT, when: :DURING_NEXT_RUN}
             )

    assert {:ok, _} = Executor.run(pid, add_program(4), add_inputs())
  end

  test "a segfault during a run is :executor_crashed with SIGSEGV, and the process stops" do
    {pid, os_pid} = start_executor(executor_args: @faulty)
    w = watch(pid)
    assert {:ok, _} = Executor.inject_fault(pid, %{kind: :SEGFAULT, when: :DURING_NEXT_RUN})

    assert {:error,
            %Error{code: :executor_crashed, signal: :SIGSEGV, exit_status: 139, os_pid: ^os_pid} =
              error} = Executor.run(pid, add_program(4), add_inputs())

    assert Exception.message(error) =~ "crashed with SIGSEGV while running this request"
    assert {:shutdown, {:crashed, %{signal: :SIGSEGV}}} = assert_dies(w, os_pid)
  end

  test "an abort is reported as SIGABRT to every request in flight" do
    {pid, os_pid} = start_executor(executor_args: @faulty)
    w = watch(pid)
    # Slow runs keep requests in flight when the abort comes.
    assert {:ok, _} = Executor.inject_fault(pid, %{kind: :SLOW, when: :NOW, delay_ms: 200})

    {:ok, t1} =
      Executor.submit(pid, {:run, %{source: {:program, add_program(4)}, inputs: add_inputs()}})

    {:ok, t2} =
      Executor.submit(pid, {:run, %{source: {:program, add_program(4)}, inputs: add_inputs()}})

    assert {:error, %Error{code: :executor_crashed, signal: :SIGABRT}} =
             Executor.inject_fault(pid, %{kind: :ABORT, when: :NOW})

    assert {:error, %Error{code: :executor_crashed, signal: :SIGABRT}} = Executor.await(t1)
    assert {:error, %Error{code: :executor_crashed, signal: :SIGABRT}} = Executor.await(t2)
    assert_dies(w, os_pid)
  end

  test "an exit, a truncated reply and a garbage reply are crashes" do
    {pid, os_pid} = start_executor(executor_args: @faulty)
    w = watch(pid)

    assert {:error, %Error{code: :executor_crashed, signal: nil, exit_status: 3} = e} =
             Executor.run(pid, add_program(4), add_inputs(),
               fault: %{kind: :EXIT, when: :DURING_NEXT_RUN, exit_code: 3}
             )

    assert e.message =~ "exited with status 3"
    assert_dies(w, os_pid)

    {pid, os_pid} = start_executor(executor_args: @faulty)
    w = watch(pid)

    assert {:error, %Error{code: :executor_crashed, exit_status: 70}} =
             Executor.run(pid, add_program(4), add_inputs(),
               fault: %{kind: :TRUNCATED_REPLY, when: :DURING_NEXT_RUN}
             )

    assert_dies(w, os_pid)

    # A garbage frame: the program is still running, so the process kills it.
    {pid, os_pid} = start_executor(executor_args: @faulty)
    w = watch(pid)

    assert {:error, %Error{code: :executor_crashed} = e} =
             Executor.run(pid, add_program(4), add_inputs(),
               fault: %{kind: :GARBAGE_REPLY, when: :DURING_NEXT_RUN}
             )

    assert e.message =~ "not a valid Response"
    assert {:shutdown, {:crashed, %{reason: :garbage_reply}}} = assert_dies(w, os_pid)
  end

  test "a run past its timeout is :timeout and the hung program is killed" do
    {pid, os_pid} = start_executor(executor_args: @faulty)
    w = watch(pid)
    started = System.monotonic_time(:millisecond)

    assert {:error, %Error{code: :timeout, os_pid: ^os_pid} = e} =
             Executor.run(pid, add_program(4), add_inputs(),
               timeout: 300,
               fault: %{kind: :HANG, when: :DURING_NEXT_RUN}
             )

    assert System.monotonic_time(:millisecond) - started < 2_000
    assert e.message =~ "300 ms"
    assert e.message =~ "killed"
    assert {:shutdown, {:killed, %{reason: :killed_for_timeout}}} = assert_dies(w, os_pid)
  end

  test "an executor that stops reading its input is still killed at the deadline" do
    {pid, os_pid} = start_executor(executor_args: @faulty)
    w = watch(pid)
    # HANG now: the executor's I/O thread stops, nothing more is read from its stdin.
    {:ok, _} = Executor.submit(pid, {:fault, %{kind: :HANG, when: :NOW}}, timeout: 30_000)
    n = 1_000_000
    started = System.monotonic_time(:millisecond)

    # 8 MB that nobody reads must not suspend the process that owns the port.
    assert {:error, %Error{code: :timeout}} =
             Executor.run(pid, add_program(n), [zeros_f32(n), zeros_f32(n)], timeout: 300)

    assert System.monotonic_time(:millisecond) - started < 1_500
    assert {:shutdown, {:killed, %{reason: :killed_for_timeout}}} = assert_dies(w, os_pid)
  end

  test "a queued request past its timeout is cancelled without killing the executor" do
    {pid, os_pid} = start_executor(executor_args: @faulty)
    w = watch(pid)
    run = {:run, %{source: {:program, add_program(4)}, inputs: add_inputs()}}
    # The first run hangs in the executor; the second waits behind it.
    {:ok, hung} =
      Executor.submit(pid, run, timeout: 30_000, fault: %{kind: :HANG, when: :DURING_NEXT_RUN})

    {:ok, queued} = Executor.submit(pid, run, timeout: 100)

    assert {:error, %Error{code: :timeout} = e} = Executor.await(queued)
    refute e.message =~ "killed"
    assert {:ok, ^os_pid} = Executor.os_pid(pid)
    assert {:ok, %{busy: 1}} = Executor.stats(pid)

    # Stopping the process kills the program, hung as it is; the hung request hears of it.
    :ok = GenServer.stop(pid)
    assert {:error, %Error{code: :executor_crashed, message: message}} = Executor.await(hung)
    assert message =~ "stopped"
    assert :normal = assert_dies(w, os_pid)
  end

  test "cancel stops a running request; the executor stays" do
    {pid, os_pid} = start_executor(executor_args: @faulty)
    assert {:ok, _} = Executor.inject_fault(pid, %{kind: :SLOW, when: :NOW, delay_ms: 100})

    {:ok, ticket} =
      Executor.submit(
        pid,
        {:run, %{source: {:program, chain_program(4, 20)}, inputs: add_inputs()}}
      )

    Process.sleep(150)
    assert {:error, %Error{code: :cancelled}} = Executor.cancel(ticket)
    assert {:ok, %{}} = Executor.ping(pid)
    # The executor itself stopped the run (its stats count the error) and took the next one.
    assert {:ok, %{outputs: [_]}} = Executor.run(pid, add_program(4), add_inputs())
    assert {:ok, ^os_pid} = Executor.os_pid(pid)
  end

  test "a program that cannot be started is a start error, not a crash of the caller" do
    Process.flag(:trap_exit, true)

    assert {:error, {:shutdown, {:crashed, %{reason: :spawn_failed, detail: detail}}}} =
             Executor.start_link(executor_path: "/nonexistent/pelemay_executor")

    assert detail =~ "/nonexistent/pelemay_executor"
  end

  test "stopping the process makes the program exit" do
    {pid, os_pid} = start_executor()
    :ok = GenServer.stop(pid)
    wait_until(fn -> not os_alive?(os_pid) end, 5_000, "the program to exit")
  end

  test "a request to a stopped executor is :unavailable; await never waits past the deadline" do
    {pid, _} = start_executor()
    :ok = GenServer.stop(pid)
    assert {:error, %Error{code: :unavailable}} = Executor.ping(pid)
  end

  test "signals are named from exit statuses" do
    assert Error.signal_of_status(139) == :SIGSEGV
    assert Error.signal_of_status(134) == :SIGABRT
    assert Error.signal_of_status(137) == :SIGKILL
    assert Error.signal_of_status(159) == :SIGSYS
    assert Error.signal_of_status(143) == :SIGTERM
    assert Error.signal_of_status(3) == nil
  end
end
