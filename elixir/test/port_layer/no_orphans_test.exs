defmodule PelemayBackend.PortLayer.NoOrphansTest do
  # When the BEAM that owns a pool dies abruptly (SIGKILL: no terminate/2, no
  # port close by the VM's own shutdown), its executors must not outlive it.
  # A separate OS process runs a BEAM with a pool of 2 executors and prints
  # their OS pids; we SIGKILL that BEAM and check that every executor is gone
  # within 1 second.
  use ExUnit.Case, async: true

  import PelemayBackend.Test.Programs, only: [kill9: 1]

  @moduletag :executor
  @moduletag timeout: 60_000

  @grace_ms 1_000

  # The child BEAM's script: a pool of 2, optionally one executor hung by an
  # injected fault, then "PIDS beam exec1 exec2" on stdout, then sleep forever.
  @child_script ~S"""
  [path, mode] = System.argv()
  args = if mode == "hang", do: ["--enable-fault-injection"], else: []

  {:ok, _} =
    PelemayBackend.Pool.start_link(
      name: :orphan_pool,
      size: 2,
      executor_path: path,
      executor_args: args
    )

  wait = fn wait, n ->
    case PelemayBackend.Pool.executors(:orphan_pool) do
      execs when length(execs) == 2 -> execs
      _ when n > 500 -> raise "executors not ready"
      _ -> Process.sleep(10); wait.(wait, n + 1)
    end
  end

  execs = wait.(wait, 0)

  if mode == "hang" do
    # The first executor stops answering and spins: it no longer reads its
    # stdin, so it cannot notice the end of input when the BEAM dies.
    [%{pid: pid} | _] = execs
    spawn(fn -> PelemayBackend.Executor.inject_fault(pid, %{kind: :HANG, when: :NOW}, timeout: 60_000) end)
    Process.sleep(200)
  end

  IO.puts("PIDS #{System.pid()} " <> Enum.map_join(execs, " ", & &1.os_pid))
  Process.sleep(:infinity)
  """

  setup_all do
    ebins = Path.wildcard(Path.join([Mix.Project.build_path(), "lib", "*", "ebin"]))

    script =
      Path.join(
        System.tmp_dir!(),
        "pelemay_orphan_child_#{System.unique_integer([:positive])}.exs"
      )

    File.write!(script, @child_script)
    on_exit(fn -> File.rm(script) end)
    %{ebins: ebins, script: script}
  end

  defp start_child_beam(ctx, mode) do
    elixir = System.find_executable("elixir") || flunk("no elixir executable on PATH")

    args =
      Enum.flat_map(ctx.ebins, &["-pa", &1]) ++
        [ctx.script, PelemayBackend.Native.executor_path(), mode]

    port =
      Port.open({:spawn_executable, elixir}, [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        {:line, 4096},
        args: args
      ])

    read_pids(port, "", System.monotonic_time(:millisecond) + 30_000)
  end

  defp read_pids(port, log, deadline) do
    remaining = max(deadline - System.monotonic_time(:millisecond), 0)

    receive do
      {^port, {:data, {:eol, "PIDS " <> rest}}} ->
        [beam | execs] = rest |> String.split() |> Enum.map(&String.to_integer/1)
        {port, beam, execs}

      {^port, {:data, {_, line}}} ->
        read_pids(port, log <> line <> "\n", deadline)

      {^port, {:exit_status, status}} ->
        flunk("the child BEAM exited with status #{status} before printing its pids:\n#{log}")
    after
      remaining -> flunk("the child BEAM printed no pids within 30 s:\n#{log}")
    end
  end

  # Alive: /proc/<pid> exists and the process is not a zombie. An executor
  # that exited after its BEAM died is reparented to pid 1 and stays a zombie
  # until pid 1 reaps it (slowly, in some containers): that is gone, and
  # `kill -0` would still call it alive.
  defp os_alive?(os_pid) do
    case File.read("/proc/#{os_pid}/stat") do
      {:ok, stat} ->
        # "pid (comm) S ...": the state follows the last ')'.
        [_, rest] = String.split(stat, ~r/\)(?!.*\))/s, parts: 2)
        String.first(String.trim_leading(rest)) not in ["Z", "X"]

      {:error, _} ->
        false
    end
  end

  defp gone_within(os_pids, ms) do
    deadline = System.monotonic_time(:millisecond) + ms
    poll_gone(os_pids, deadline)
  end

  defp poll_gone(os_pids, deadline) do
    alive = Enum.filter(os_pids, &os_alive?/1)

    cond do
      alive == [] -> []
      System.monotonic_time(:millisecond) > deadline -> alive
      true -> Process.sleep(10) && poll_gone(alive, deadline)
    end
  end

  defp check_no_orphans(ctx, mode) do
    {port, beam, execs} = start_child_beam(ctx, mode)
    assert length(execs) == 2

    assert Enum.all?([beam | execs], &os_alive?/1),
           "the child BEAM and its executors should be running"

    kill9(beam)
    # Not waited for: the port's exit_status only comes once every holder of
    # the child's stdout/stderr (executors inherit its stderr) has closed it.
    _ = port

    survivors = gone_within(execs, @grace_ms)
    # Never leave the survivors behind, even when the assertion fails.
    Enum.each(
      survivors,
      &System.cmd("kill", ["-9", Integer.to_string(&1)], stderr_to_stdout: true)
    )

    assert survivors == [],
           "executor(s) #{inspect(survivors)} outlived their SIGKILLed BEAM (#{beam}) by more than #{@grace_ms} ms"
  end

  test "idle executors die within 1 s of their BEAM being SIGKILLed", ctx do
    check_no_orphans(ctx, "idle")
  end

  test "a hung (busy, not reading stdin) executor dies within 1 s of its BEAM being SIGKILLed",
       ctx do
    check_no_orphans(ctx, "hang")
  end
end
