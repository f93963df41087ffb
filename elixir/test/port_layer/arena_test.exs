defmodule PelemayBackend.PortLayer.ArenaTest do
  # Shared-memory tensors: the arena files, their space, executors computing
  # through them, fallback to inline, crash safety and cleanup.
  use ExUnit.Case, async: true

  import Bitwise
  import PelemayBackend.Test.Programs

  alias PelemayBackend.{Arena, Executor, Pool}

  @moduletag :executor
  @moduletag :capture_log

  @faulty ["--enable-fault-injection"]

  # A directory of this test's own in the RAM-backed directory, so that what
  # it finds there is what it made.
  defp arena_dir do
    dir = Path.join(Arena.default_dir(), "pelemay-test-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    dir
  end

  defp start_pool(opts) do
    name = :"pelemay_arena_pool_#{System.unique_integer([:positive])}"
    size = Keyword.get(opts, :size, 1)
    opts = Keyword.merge([name: name, size: size, restart_backoff: {10, 100}], opts)
    start_supervised!({Pool, opts}, id: name)
    wait_until(fn -> length(Pool.executors(name)) == size end, 5_000, "#{size} ready executors")
    name
  end

  # f32 vectors of n elements with distinct contents per seed.
  defp big(n, seed) do
    bin =
      for i <- 0..(n - 1)//1, into: <<>>, do: <<rem(i * 7 + seed, 1000) * 1.0::float-32-little>>

    %{dtype: :DTYPE_F32, shape: [n], payload: {:data, bin}}
  end

  defp expected_sum(n, s1, s2),
    do:
      for(
        i <- 0..(n - 1)//1,
        into: <<>>,
        do: <<(rem(i * 7 + s1, 1000) + rem(i * 7 + s2, 1000)) * 1.0::float-32-little>>
      )

  defp bytes_in(pid) do
    {:ok, %{bytes_in: b}} = Executor.stats(pid)
    b
  end

  describe "arena files" do
    test "names carry the owner's OS pid" do
      assert {:ok, {123, 4}} = Arena.parse_name("pelemay-arena-123-4")

      for bad <- [
            "pelemay-arena-",
            "pelemay-arena-1",
            "pelemay-arena-x-1",
            "pelemay-arena-1-2-3",
            "other"
          ],
          do: assert(Arena.parse_name(bad) == :error, bad)
    end

    test "create makes a sparse file of the size asked; remove deletes it" do
      dir = arena_dir()
      assert {:ok, path} = Arena.create(1 <<< 20, dir)
      assert Path.dirname(path) == dir
      assert {:ok, {pid, _}} = Arena.parse_name(Path.basename(path))
      assert pid == Arena.os_pid()
      assert File.stat!(path).size == 1 <<< 20
      assert [^path] = Arena.files_of(Arena.os_pid(), dir)
      Arena.remove(path)
      refute File.exists?(path)
    end

    test "orphans (owner OS process gone) are removed, live owners' arenas stay" do
      dir = arena_dir()
      # A pid that is not running: a short-lived process that has exited.
      port = Port.open({:spawn_executable, System.find_executable("true")}, [:exit_status])
      {:os_pid, dead} = Port.info(port, :os_pid)
      assert_receive {^port, {:exit_status, 0}}, 5_000
      wait_until(fn -> not Arena.os_process_alive?(dead) end, 5_000, "the process to be gone")

      orphan = Path.join(dir, "pelemay-arena-#{dead}-1")
      File.write!(orphan, "x")
      {:ok, mine} = Arena.create(4096, dir)
      other = Path.join(dir, "unrelated-file")
      File.write!(other, "x")

      assert Arena.cleanup_orphans(dir) == [orphan]
      refute File.exists?(orphan)
      assert File.exists?(mine)
      assert File.exists?(other)
    end

    test "first-fit allocation gives disjoint regions and reuses freed ones" do
      dir = arena_dir()
      {:ok, path} = Arena.create(1024, dir)
      {:ok, a} = Arena.open(path, 0)
      assert {:ok, 0, a} = Arena.alloc(a, 256)
      assert {:ok, 256, a} = Arena.alloc(a, 512)
      assert :full = Arena.alloc(a, 512)
      assert {:ok, 768, a} = Arena.alloc(a, 256)
      a = Arena.free(a, 256)
      assert Arena.in_use(a) == 512
      assert {:ok, 256, a} = Arena.alloc(a, 320)
      assert {:ok, 576, _} = Arena.alloc(a, 192)
      Arena.close(a)
    end
  end

  describe "an executor with an arena" do
    test "large inputs and outputs go through it, small ones inline; info names it" do
      {:ok, pid} = Executor.start_link(arena_size: 8 <<< 20, arena_threshold: 64 * 1024)
      {:ok, info} = Executor.info(pid)
      assert info.arena_bytes == 8 <<< 20
      assert String.contains?(info.arena_path, "pelemay-arena-#{Arena.os_pid()}-")
      assert File.exists?(info.arena_path)

      n = 256 * 1024
      before = bytes_in(pid)
      assert {:ok, %{outputs: [out]}} = Executor.run(pid, add_program(n), [big(n, 1), big(n, 2)])
      assert out.payload == {:data, expected_sum(n, 1, 2)}
      # 2 MiB of inputs, yet the request frame was small.
      assert bytes_in(pid) - before < 4096

      before = bytes_in(pid)

      assert {:ok, %{outputs: [small]}} =
               Executor.run(pid, add_program(4), [
                 f32_tensor([1, 2, 3, 4]),
                 f32_tensor([1, 1, 1, 1])
               ])

      assert values(small) == [2.0, 3.0, 4.0, 5.0]
      assert bytes_in(pid) - before > 32

      GenServer.stop(pid)
      refute File.exists?(info.arena_path), "a stand-alone executor removes the arena it created"
    end

    test "a request that does not fit travels inline and succeeds" do
      {:ok, pid} = Executor.start_link(arena_size: 64 * 1024, arena_threshold: 0)
      n = 64 * 1024
      before = bytes_in(pid)
      assert {:ok, %{outputs: [out]}} = Executor.run(pid, add_program(n), [big(n, 3), big(n, 4)])
      assert out.payload == {:data, expected_sum(n, 3, 4)}
      assert bytes_in(pid) - before >= 2 * 4 * n
      # A small one still fits and uses the arena.
      before = bytes_in(pid)

      assert {:ok, %{outputs: [_]}} =
               Executor.run(pid, add_program(1024), [big(1024, 1), big(1024, 2)])

      assert bytes_in(pid) - before < 1024
      GenServer.stop(pid)
    end

    test "pipelined requests on one executor never overwrite each other's data" do
      {:ok, pid} = Executor.start_link(arena_size: 32 <<< 20, arena_threshold: 0)
      n = 64 * 1024

      results =
        1..40
        |> Enum.map(fn i ->
          Task.async(fn ->
            {i, Executor.run(pid, add_program(n), [big(n, i), big(n, 1000 - i)])}
          end)
        end)
        |> Task.await_many(30_000)

      for {i, result} <- results do
        assert {:ok, %{outputs: [out]}} = result
        assert out.payload == {:data, expected_sum(n, i, 1000 - i)}, "request #{i}"
      end

      GenServer.stop(pid)
    end

    test "an arena input returned unchanged comes back as its bytes" do
      {:ok, pid} = Executor.start_link(arena_size: 1 <<< 20, arena_threshold: 0)
      t = big(1000, 5)

      program = %{
        inputs: [%{dtype: :DTYPE_F32, shape: [1000]}],
        instructions: [],
        outputs: [0, 0]
      }

      assert {:ok, %{outputs: [a, b]}} = Executor.run(pid, program, [t])
      assert a.payload == t.payload
      assert b.payload == t.payload
      GenServer.stop(pid)
    end
  end

  describe "a pool with arenas" do
    test "a crash under an arena request: the replacement maps the same arena and the retry succeeds" do
      dir = arena_dir()

      pool =
        start_pool(
          executor_args: @faulty,
          arena_dir: dir,
          arena_size: 16 <<< 20,
          arena_threshold: 0
        )

      [%{pid: pid, os_pid: os_pid}] = Pool.executors(pool)
      {:ok, %{arena_path: path}} = Executor.info(pid)
      assert Path.dirname(path) == dir
      # The executor's next run segfaults: the first attempt of this request
      # dies with it; the retry runs on the replacement.
      assert {:ok, _} = Executor.inject_fault(pid, %{kind: :SEGFAULT, when: :DURING_NEXT_RUN})
      n = 100_000

      assert {:ok, [out]} =
               PelemayBackend.run(chain_program(n, 2), [big(n, 7), big(n, 8)],
                 pool: pool,
                 timeout: 20_000
               )

      expected =
        for i <- 0..(n - 1)//1,
            into: <<>>,
            do: <<(rem(i * 7 + 7, 1000) + 2 * rem(i * 7 + 8, 1000)) * 1.0::float-32-little>>

      assert out.payload == {:data, expected}

      assert [%{pid: new, os_pid: new_os}] = Pool.executors(pool)
      assert new_os != os_pid
      assert {:ok, %{arena_path: ^path}} = Executor.info(new)
      assert {:ok, %{retries: 1}} = Pool.status(pool)
      assert File.exists?(path)
    end

    test "an executor SIGKILLed mid-run: the request is retried through the same arena" do
      dir = arena_dir()

      pool =
        start_pool(
          executor_args: @faulty,
          arena_dir: dir,
          arena_size: 16 <<< 20,
          arena_threshold: 0
        )

      [%{pid: pid, os_pid: os_pid}] = Pool.executors(pool)
      assert {:ok, _} = Executor.inject_fault(pid, %{kind: :HANG, when: :DURING_NEXT_RUN})
      n = 50_000

      {:ok, request} =
        PelemayBackend.run_async(add_program(n), [big(n, 1), big(n, 9)],
          pool: pool,
          timeout: 20_000
        )

      wait_until(
        fn -> match?({:ok, %{busy: 1}}, Executor.stats(pid)) end,
        5_000,
        "the run to start"
      )

      System.cmd("kill", ["-9", Integer.to_string(os_pid)])
      assert {:ok, [out]} = PelemayBackend.await(request)
      assert out.payload == {:data, expected_sum(n, 1, 9)}
      assert [_] = Arena.files_of(Arena.os_pid(), dir)
    end

    test "starting removes dead owners' arenas; stopping removes the pool's own" do
      dir = arena_dir()
      # An arena whose owner (an OS pid that cannot exist) is gone.
      orphan = Path.join(dir, "pelemay-arena-#{4_194_304 + 12_345}-1")
      File.write!(orphan, "")
      name = :"pelemay_arena_pool_#{System.unique_integer([:positive])}"

      {:ok, sup} =
        Pool.start_link(
          name: name,
          size: 2,
          arena_dir: dir,
          arena_size: 4 <<< 20,
          arena_threshold: 0
        )

      refute File.exists?(orphan)
      wait_until(fn -> length(Pool.executors(name)) == 2 end, 5_000, "2 ready executors")
      assert length(Arena.files_of(Arena.os_pid(), dir)) == 2
      n = 10_000
      assert {:ok, [out]} = PelemayBackend.run(add_program(n), [big(n, 1), big(n, 2)], pool: name)
      assert out.payload == {:data, expected_sum(n, 1, 2)}
      Process.unlink(sup)
      ref = Process.monitor(sup)
      Supervisor.stop(sup)
      assert_receive {:DOWN, ^ref, :process, _, _}, 5_000
      assert Arena.files_of(Arena.os_pid(), dir) == []
    end

    test "arena_size: 0 turns shared memory off" do
      dir = arena_dir()
      pool = start_pool(arena_dir: dir, arena_size: 0, arena_threshold: 0)
      [%{pid: pid}] = Pool.executors(pool)
      assert {:ok, %{arena_path: ""}} = Executor.info(pid)
      assert Arena.files_of(Arena.os_pid(), dir) == []

      assert {:ok, [out]} =
               PelemayBackend.run(add_program(1000), [big(1000, 1), big(1000, 2)], pool: pool)

      assert out.payload == {:data, expected_sum(1000, 1, 2)}
    end
  end
end
