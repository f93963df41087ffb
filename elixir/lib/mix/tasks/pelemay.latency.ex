defmodule Mix.Tasks.Pelemay.Latency do
  @shortdoc "Round-trip latency of a one-element op through the pool, beside an echo-port floor"
  @moduledoc """
  Measures the round trip of a one-element `add` through the executor pool
  (`PelemayBackend.run/3` with a `PelemayBackend.Program.Prepared` program,
  as the Nx backend sends them: encode the inputs, pick an executor, run the
  compiled program by id, reply, decode) and, in the same run, the floor:
  the inline request frame sent through a `{:packet, 4}` port to `cat`,
  which echoes it back unchanged (one port write, one read, no work).

      mix pelemay.latency [--calls 5000] [--pool-size 1] [--blocks 20] [--echo-ports 4] [--spin-us N] [--await-spin-us N]
                          [--priority low|normal|high] [--idle-ms N]

  More paths show where the time goes: the pool with the program inline
  (parsed and validated on every call), `PelemayBackend.Executor.run/4`
  (encoding, the executor process, decoding, without the pool), and frames
  written straight to an executor's port, by id and inline (no Elixir
  layer: the executor's own cost over `cat`).

  `--spin-us` sets the executors' idle polling (`PelemayBackend.Executor`,
  option `:spin_us`; default: the executor's own); `--spin-us 0` shows the
  round trip without it. `--await-spin-us` sets how long the caller polls
  for each reply before it blocks (`PelemayBackend.AwaitSpin`; default: the
  library's); `--await-spin-us 0` shows the round trip without it. A ping
  sent straight to the executor's port (no work) shows what the round trip
  costs when the reply comes back before the caller's scheduler can sleep.
  `--priority` sets the executor processes' priority (`:priority`; default
  `:high`); `--priority normal` shows what the high priority buys.

  `--idle-ms N` sleeps N ms before every block: each block then starts from
  an idle machine, as bursts of small ops do. The first calls of a burst
  wake the executor beside the BEAM scheduler that sends them, and its
  idle polling then competes with that scheduler for one CPU until the
  executor's SpinGovernor moves it or stops the polling (docs/benchmarks.md,
  "The slow 1%"); the warm-up calls of a block do not hide that here, since
  they are a few of hundreds.

  The floor is measured through several `cat` ports (`--echo-ports`, 4),
  because on a virtual machine a pipe round trip depends on where the kernel
  placed the program (`PelemayBackend.Bench.EchoFloor`): the targets are
  judged against the fastest port (the strict floor), and the ratios
  against the median port (the typical floor) are printed beside them.
  Each `cat` port is timed twice, waiting for its echo as the pool's caller
  waits (polling first, with the same budget) and with a plain blocking
  `receive`; its floor is the faster of the two.

  The paths take turns in blocks (`--blocks`, each `calls / blocks`
  sequential calls of one path), so that each is measured in its own steady
  state and all of them across the same stretch of time: on a virtual
  machine the wake-up latency of a pipe drifts by tens of microseconds over
  seconds, and a path that runs right after another one finds the CPUs
  already awake. Each block starts with a few untimed calls (5% of the
  block, at least 5): the first calls after another path's block pay for
  that path's state (a blocking path leaves the executor and the schedulers
  asleep), not for their own. Prints p50 and p99 of every path and the pool's ratios
  against the targets of the port layer (p50 within 1.5x of the floor, p99
  within 3x). Calls are sequential from one process: latency, not
  throughput.
  """
  use Mix.Task

  alias PelemayBackend.Bench.EchoFloor
  alias PelemayBackend.Pool

  @switches [
    calls: :integer,
    pool_size: :integer,
    blocks: :integer,
    echo_ports: :integer,
    spin_us: :integer,
    await_spin_us: :integer,
    priority: :string,
    idle_ms: :integer
  ]

  @impl Mix.Task
  def run(argv) do
    {opts, _, invalid} = OptionParser.parse(argv, strict: @switches)
    if invalid != [], do: Mix.raise("invalid options: #{inspect(invalid)}")
    calls = Keyword.get(opts, :calls, 5000)
    size = Keyword.get(opts, :pool_size, 1)
    blocks = Keyword.get(opts, :blocks, 20)
    echo_ports = max(Keyword.get(opts, :echo_ports, 4), 1)
    # The executors' idle polling (`PelemayBackend.Executor`'s :spin_us):
    # their default unless given.
    spin = Keyword.take(opts, [:spin_us])
    # The executor processes' priority (`PelemayBackend.Executor`'s :priority).
    priority =
      case Keyword.get(opts, :priority) do
        nil -> []
        p when p in ~w(low normal high) -> [priority: String.to_existing_atom(p)]
        other -> Mix.raise("--priority must be low, normal or high, got: #{other}")
      end

    idle_ms = Keyword.get(opts, :idle_ms, 0)
    if idle_ms < 0, do: Mix.raise("--idle-ms must be >= 0")
    spin_args = Enum.map(spin, fn {:spin_us, us} -> "--spin-us=#{us}" end)
    # The callers' polling before blocking: the library's default unless given.
    await_opts = Keyword.take(opts, [:await_spin_us])
    await_spin = PelemayBackend.AwaitSpin.native(await_opts)
    # Spawned first: the first programs a VM spawns are often the ones the
    # kernel places best (EchoFloor), and the floor should have that luck.
    floor = EchoFloor.open(echo_ports)
    Mix.Task.run("app.config")
    Application.put_env(:pelemay_backend, :start_pool, false)
    {:ok, _} = Application.ensure_all_started(:pelemay_backend)

    pool = :pelemay_latency_pool
    {:ok, _} = Pool.start_link([name: pool, size: size, threads: 1] ++ spin ++ priority)
    wait_ready(pool, size, System.monotonic_time(:millisecond) + 10_000)

    type = %{dtype: :DTYPE_F32, shape: [1]}

    program = %{
      inputs: [type, type],
      instructions: [%{op: "add", operands: [0, 1], result: type}],
      outputs: [2]
    }

    one = %{dtype: :DTYPE_F32, shape: [1], payload: {:data, <<1.0::float-32-little>>}}

    # The echo floor carries the same bytes the pool sends for this request.
    frame =
      PelemayBackend.Proto.encode!(:Request, %{
        id: 1,
        kind: {:run, %{source: {:program, program}, inputs: [one, one]}}
      })
      |> IO.iodata_to_binary()

    raw =
      Port.open({:spawn_executable, PelemayBackend.Native.executor_path()}, [
        :binary,
        {:packet, 4},
        args: ["--threads=1" | spin_args]
      ])

    {:ok, executor} = PelemayBackend.Executor.start_link([threads: 1] ++ spin ++ priority)
    {:ok, _} = PelemayBackend.Executor.ping(executor)

    # The same program compiled in the raw executor, and the frame that runs
    # it by id: what the pool sends once a program is compiled.
    compile =
      PelemayBackend.Proto.encode!(:Request, %{id: 1, kind: {:compile, %{program: program}}})

    true = Port.command(raw, compile)

    program_id =
      receive do
        {^raw, {:data, reply}} ->
          {:ok, %{kind: {:compile, %{program_id: id}}}} =
            PelemayBackend.Proto.decode(:Response, reply)

          id
      after
        5_000 -> Mix.raise("the executor did not compile the program")
      end

    by_id_frame =
      PelemayBackend.Proto.encode!(:Request, %{
        id: 1,
        kind: {:run, %{source: {:program_id, program_id}, inputs: [one, one]}}
      })
      |> IO.iodata_to_binary()

    prepared = PelemayBackend.Program.Prepared.new(program)

    paths = [
      pool: fn ->
        {:ok, [%{payload: {:data, <<2.0::float-32-little>>}}]} =
          PelemayBackend.run(prepared, [one, one], [pool: pool] ++ await_opts)
      end,
      pool_inline: fn ->
        {:ok, [%{payload: {:data, <<2.0::float-32-little>>}}]} =
          PelemayBackend.run(program, [one, one], [pool: pool] ++ await_opts)
      end,
      executor: fn ->
        {:ok, %{outputs: [%{payload: {:data, <<2.0::float-32-little>>}}]}} =
          PelemayBackend.Executor.run(executor, prepared, [one, one], await_opts)
      end,
      raw_port: EchoFloor.round_trip(raw, by_id_frame, await_spin),
      raw_port_inline: EchoFloor.round_trip(raw, frame, await_spin),
      # A Request {id: 1, ping: {}}: answered at once, no work.
      raw_ping: EchoFloor.round_trip(raw, <<8, 1, 74, 0>>, await_spin)
    ]

    echoes =
      floor.ports
      |> Enum.with_index(1)
      |> Enum.flat_map(fn {port, i} ->
        [
          {{:echo, i}, EchoFloor.round_trip(port, frame, await_spin)},
          {{:echo_blocking, i}, EchoFloor.round_trip(port, frame)}
        ]
      end)

    paths = paths ++ echoes

    per_block = max(div(calls, blocks), 1)
    # One warm-up block of each, not counted.
    Enum.each(paths, fn {_, f} -> time_block(f, per_block) end)

    samples =
      Enum.reduce(1..blocks, Map.new(paths, fn {k, _} -> {k, []} end), fn _, acc ->
        Enum.reduce(paths, acc, fn {k, f}, acc ->
          if idle_ms > 0, do: Process.sleep(idle_ms)
          Map.update!(acc, k, &(time_block(f, per_block) ++ &1))
        end)
      end)

    EchoFloor.close(floor)
    Port.close(raw)
    GenServer.stop(executor)
    stats = Map.new(samples, fn {k, v} -> {k, percentiles(v)} end)
    {p50, p99} = stats.pool
    # Each port's floor: the faster way of waiting for its echo.
    echo_stats =
      for {{:echo, i}, _} <- echoes do
        {a50, a99} = stats[{:echo, i}]
        {b50, b99} = stats[{:echo_blocking, i}]
        {min(a50, b50), min(a99, b99)}
      end

    floor50 = EchoFloor.summarize(Enum.map(echo_stats, &elem(&1, 0)))
    floor99 = EchoFloor.summarize(Enum.map(echo_stats, &elem(&1, 1)))
    {e50, e99} = {floor50.best, floor99.best}
    {t50, t99} = {floor50.typical, floor99.typical}

    rows =
      Enum.map_join(
        [
          pool: "pool, compiled (by id)",
          pool_inline: "pool, program inline",
          executor: "Executor.run, compiled",
          raw_port: "executor port, by id",
          raw_port_inline: "executor port, inline",
          raw_ping: "executor port, ping (no work)"
        ] ++
          Enum.map(echoes, fn
            {{:echo, i} = k, _} -> {k, "echo port (cat) #{i}"}
            {{:echo_blocking, _} = k, _} -> {k, "  same, blocking receive"}
          end),
        "\n",
        fn {k, label} ->
          {a, b} = stats[k]

          "  #{String.pad_trailing(label, 27)}#{fmt(a)} #{fmt(b)} #{fmt(a / e50)}x #{fmt(b / e99)}x"
        end
      )

    Mix.shell().info("""
    round trip of a one-element f32 add, #{per_block * blocks} sequential calls per path in #{blocks} alternating blocks#{if idle_ms > 0, do: " (#{idle_ms} ms idle before each)"}, pool of #{size}, callers poll #{System.convert_time_unit(await_spin, :native, :microsecond)} us before blocking
                                   p50 (us)   p99 (us)  p50/floor  p99/floor   (floor: the fastest echo port)
    #{rows}
      floor: fastest echo port p50 #{fmt(e50)} us, p99 #{fmt(e99)} us; median echo port (typical) p50 #{fmt(t50)} us, p99 #{fmt(t99)} us
      pool vs floor: p50 #{fmt(p50 / e50)}x (target <= 1.5x: #{verdict(p50 / e50 <= 1.5)}), p99 #{fmt(p99 / e99)}x (target <= 3x: #{verdict(p99 / e99 <= 3.0)})
      pool vs typical floor: p50 #{fmt(p50 / t50)}x, p99 #{fmt(p99 / t99)}x
    """)
  end

  # `n` timed calls of `fun`, after untimed ones (5% of `n`, at least 5)
  # that bring this path to its steady state after the previous block's.
  defp time_block(fun, n) do
    for _ <- 1..max(div(n, 20), 5), do: fun.()

    for _ <- 1..n do
      t0 = System.monotonic_time(:nanosecond)
      fun.()
      (System.monotonic_time(:nanosecond) - t0) / 1000
    end
  end

  defp percentiles(samples) do
    sorted = Enum.sort(samples)
    n = length(sorted)
    {Enum.at(sorted, div(n * 50, 100)), Enum.at(sorted, min(n - 1, div(n * 99, 100)))}
  end

  defp fmt(x), do: :io_lib.format("~10.1f", [x * 1.0]) |> IO.iodata_to_binary()
  defp verdict(true), do: "PASS"
  defp verdict(false), do: "FAIL"

  defp wait_ready(pool, size, deadline) do
    cond do
      length(Pool.executors(pool)) >= size -> :ok
      System.monotonic_time(:millisecond) > deadline -> Mix.raise("the pool did not become ready")
      true -> Process.sleep(10) && wait_ready(pool, size, deadline)
    end
  end
end
