defmodule PelemayBackend.PortLayer.AwaitSpinTest do
  # PelemayBackend.AwaitSpin: the caller polls for a reply before it blocks.
  # Not async: one test changes the application environment it reads.
  use ExUnit.Case, async: false

  import PelemayBackend.Test.Programs

  alias PelemayBackend.{AwaitSpin, Executor, Pool}

  @moduletag :capture_log

  doctest PelemayBackend.AwaitSpin

  defp us(native), do: System.convert_time_unit(native, :native, :microsecond)

  test "the automatic budget is 50 us with two or more CPUs and 0 with one" do
    assert AwaitSpin.auto_us(1) == 0
    assert AwaitSpin.auto_us(2) == 50
    assert AwaitSpin.auto_us(64) == 50
  end

  test "the budget is an integer in 0..10 000 us; anything else raises" do
    assert us(AwaitSpin.native(await_spin_us: 10_000)) == 10_000
    assert AwaitSpin.native(await_spin_us: 0) == 0

    for bad <- [-1, 10_001, 1.5, "50", nil] do
      assert_raise ArgumentError, ~r/:await_spin_us must be an integer in 0\.\.10000/, fn ->
        AwaitSpin.native(await_spin_us: bad)
      end
    end
  end

  test "the default comes from the application environment when set" do
    on_exit(fn ->
      Application.delete_env(:pelemay_backend, :await_spin_us)
      AwaitSpin.reset_default()
    end)

    Application.put_env(:pelemay_backend, :await_spin_us, 7)
    AwaitSpin.reset_default()
    assert AwaitSpin.default_us() == 7
    assert us(AwaitSpin.native([])) == 7

    Application.put_env(:pelemay_backend, :await_spin_us, -3)
    AwaitSpin.reset_default()
    assert_raise ArgumentError, fn -> AwaitSpin.default_us() end

    Application.delete_env(:pelemay_backend, :await_spin_us)
    AwaitSpin.reset_default()
    cpus = :erlang.system_info(:logical_processors_available)
    cpus = if is_integer(cpus), do: cpus, else: :erlang.system_info(:logical_processors_online)
    assert AwaitSpin.default_us() == AwaitSpin.auto_us(cpus)
  end

  test "poll keeps looking until the budget is spent, then answers :none" do
    counter = :counters.new(1, [])
    budget = System.convert_time_unit(2_000, :microsecond, :native)
    started = System.monotonic_time()

    assert AwaitSpin.poll(budget, fn ->
             :counters.add(counter, 1, 1)
             :none
           end) == :none

    assert System.monotonic_time() - started >= budget
    # It polled many times, not once.
    assert :counters.get(counter, 1) > 10
  end

  test "poll finds a message that arrives from another process during the budget" do
    me = self()
    spawn(fn -> Process.sleep(2) && send(me, :late_reply) end)
    budget = System.convert_time_unit(500_000, :microsecond, :native)
    check = fn -> receive do: (:late_reply -> :got), after: (0 -> :none) end
    assert AwaitSpin.poll(budget, check) == :got
  end

  test "await polls (the caller stays runnable) for its budget, then blocks" do
    silent = spawn(fn -> Process.sleep(:infinity) end)
    on_exit(fn -> Process.exit(silent, :kill) end)
    me = self()

    waiter =
      spawn(fn ->
        ticket = %Executor.Ticket{
          ref: Process.monitor(silent),
          pid: silent,
          deadline: Executor.now() + 300,
          timeout: 300,
          spin: System.convert_time_unit(100_000, :microsecond, :native)
        }

        send(me, {:awaited, Executor.await(ticket)})
      end)

    # Within the 100 ms budget it is never found waiting in receive ...
    early = for _ <- 1..20, do: Process.sleep(2) && Process.info(waiter, :status)
    assert Enum.all?(early, &(&1 in [{:status, :runnable}, {:status, :running}])), inspect(early)
    # ... after it, it blocks until the deadline, which ends in :timeout.
    Process.sleep(150)
    assert Process.info(waiter, :status) == {:status, :waiting}
    assert_receive {:awaited, {:error, %PelemayBackend.Error{code: :timeout}}}, 3_000
  end

  test "a ticket carries its budget, and runs answer the same with any budget" do
    pid = start_supervised!({Executor, threads: 1}, id: make_ref())
    assert {:ok, %{}} = Executor.ping(pid)
    inputs = [f32_tensor([1, 2, 3, 4]), f32_tensor([10, 20, 30, 0.5])]

    for spin <- [0, 1, 50, 10_000] do
      {:ok, ticket} = Executor.submit(pid, {:ping, %{}}, await_spin_us: spin)
      assert us(ticket.spin) == spin
      assert {:ok, %{}} = Executor.await(ticket)

      for _ <- 1..20 do
        assert {:ok, %{outputs: [sum]}} =
                 Executor.run(pid, add_program(4), inputs, await_spin_us: spin)

        assert values(sum) == [11.0, 22.0, 33.0, 4.5]
      end
    end

    assert_raise ArgumentError, fn ->
      Executor.run(pid, add_program(4), inputs, await_spin_us: -1)
    end
  end

  test "the pool takes the option too, and checks it before anything is sent" do
    pool = :"await_spin_pool_#{System.unique_integer([:positive])}"
    start_supervised!({Pool, name: pool, size: 1, threads: 1})
    inputs = [f32_tensor([1, 2]), f32_tensor([3, 4])]

    for spin <- [0, 200] do
      assert {:ok, [sum]} = Pool.run(pool, add_program(2), inputs, await_spin_us: spin)
      assert values(sum) == [4.0, 6.0]
    end

    assert_raise ArgumentError, fn ->
      Pool.run(pool, add_program(2), inputs, await_spin_us: 1.0e3)
    end
  end
end
