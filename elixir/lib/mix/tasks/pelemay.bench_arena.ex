defmodule Mix.Tasks.Pelemay.BenchArena do
  @shortdoc "Round trip of large tensors: shared-memory arena vs inline, beside the BEAM's file I/O floor"
  @moduledoc """
  Round trip of an f32 tensor through the executor — the BEAM hands it
  over, the executor computes, the result comes back as a binary — through
  two ops:

    * `reshape` (identity-like: the output is a copy of the input), and
    * `add` of two tensors of the size (the output is the size of one),

  at each size (default 1 KiB to 64 MiB), along three paths measured in the
  same run:

    * **arena**: `PelemayBackend.Executor.run/4` on an executor with a
      shared-memory arena and threshold 0: inputs are written into the arena
      (positioned writes), the executor computes on them in place and writes
      the output into the arena, the output is read back (positioned read);
    * **inline**: the same call on an executor without an arena: the tensors
      travel in the `{:packet, 4}` frames through the pipe;
    * **floor**: the BEAM's own positioned write of the input bytes plus
      positioned read of the output bytes, in a file in the same RAM-backed
      directory (`PelemayBackend.Arena.default_dir/0`): what the arena path
      costs at the least, with no executor at all.

      mix pelemay.bench_arena [--sizes 1K,64K,1M,16M,64M] [--seconds 0.6] [--rounds 3] [--threads N]

  The paths take turns in blocks (each at least `--seconds` of sequential
  calls of one path, and at least 3 calls) so that all are measured across
  the same stretch of time; each path's median time is reported. Printed
  per op and size: the median of each path, the throughput of the arena
  path, `arena/floor` (floor time / arena time: 1.0 = as fast as the floor)
  and `arena vs inline` (inline time / arena time). Then the size from
  which the arena is faster than inline for both ops: where the default
  `:arena_threshold` of `PelemayBackend.Executor` comes from. Targets (issue
  5): at 16 MiB and 64 MiB, arena/floor >= 0.70 and arena vs inline >= 5.
  """
  use Mix.Task
  import Bitwise, only: [<<<: 2]

  alias PelemayBackend.{Arena, Executor}

  @switches [sizes: :string, seconds: :float, threads: :integer, rounds: :integer]
  @default_sizes "1K,4K,16K,64K,256K,1M,16M,64M"

  @impl Mix.Task
  def run(argv) do
    {opts, _, invalid} = OptionParser.parse(argv, strict: @switches)
    if invalid != [], do: Mix.raise("invalid options: #{inspect(invalid)}")
    sizes = opts |> Keyword.get(:sizes, @default_sizes) |> parse_sizes()
    seconds = Keyword.get(opts, :seconds, 0.6)
    rounds = Keyword.get(opts, :rounds, 3)
    threads = Keyword.get(opts, :threads)
    Mix.Task.run("app.config")
    Application.put_env(:pelemay_backend, :start_pool, false)
    {:ok, _} = Application.ensure_all_started(:pelemay_backend)

    largest = Enum.max(sizes)
    max_frame = "--max-frame=#{max(3 * largest + (1 <<< 20), 256 <<< 20)}"

    common =
      [memory_budget: "1G", executor_args: [max_frame]] ++
        if(threads, do: [threads: threads], else: [])

    # Two inputs and an output of the largest size, each 64-byte aligned.
    arena_size = 3 * Arena.align(largest) + 4096

    {:ok, arena_exec} =
      Executor.start_link(common ++ [arena_size: arena_size, arena_threshold: 0])

    {:ok, inline_exec} = Executor.start_link(common)
    {:ok, %{arena_path: arena_path}} = Executor.info(arena_exec)

    floor_path =
      Path.join(Arena.default_dir(), "pelemay-bench-floor-#{System.unique_integer([:positive])}")

    {:ok, floor_fd} = :file.open(floor_path, [:raw, :read, :write, :binary])
    :ok = :file.allocate(floor_fd, 0, arena_size)

    Mix.shell().info("""
    PelemayBackend arena benchmark: round trip of f32 tensors, median of each path
      arena:  #{arena_path} (#{arena_size} bytes, threshold 0)
      floor:  positioned write + read of the same bytes in #{floor_path}
      executor threads: #{threads || "all cores (the default)"}; at least #{seconds} s and 3 calls per path per block, #{rounds} blocks
    """)

    results =
      try do
        for op <- [:reshape, :add], size <- sizes do
          r = measure(op, size, arena_exec, inline_exec, floor_fd, seconds, rounds)
          Mix.shell().info(line(op, size, r))
          {op, size, r}
        end
      after
        :file.close(floor_fd)
        File.rm(floor_path)
        GenServer.stop(arena_exec)
        GenServer.stop(inline_exec)
      end

    Mix.shell().info(summary(results))
  end

  defp parse_sizes(text) do
    text
    |> String.split(",", trim: true)
    |> Enum.map(fn s ->
      {n, unit} = Integer.parse(String.trim(s))

      n *
        case String.upcase(unit) do
          "" -> 1
          "K" -> 1024
          "M" -> 1024 * 1024
          "G" -> 1024 * 1024 * 1024
        end
    end)
    |> Enum.map(&(div(&1, 4) * 4))
  end

  defp measure(op, size, arena_exec, inline_exec, floor_fd, seconds, rounds) do
    n = div(size, 4)
    type = %{dtype: :DTYPE_F32, shape: [n]}
    a = tensor(n, 1.0)
    b = tensor(n, 2.0)

    {program, inputs, check} =
      case op do
        :reshape ->
          {%{
             inputs: [type],
             instructions: [%{op: "reshape", operands: [0], result: type}],
             outputs: [1]
           }, [a], a.payload}

        :add ->
          {%{
             inputs: [type, type],
             instructions: [%{op: "add", operands: [0, 1], result: type}],
             outputs: [2]
           }, [a, b], {:data, :binary.copy(<<3.0::float-32-little>>, n)}}
      end

    in_bins = for %{payload: {:data, bin}} <- inputs, do: bin

    call = fn exec ->
      {:ok, %{outputs: [out]}} = Executor.run(exec, program, inputs, timeout: 120_000)
      out.payload
    end

    # Correct on both paths before timing anything.
    ^check = call.(arena_exec)
    ^check = call.(inline_exec)

    floor = fn ->
      {writes, _} =
        Enum.map_reduce(in_bins, 0, fn bin, off ->
          {{off, bin}, off + Arena.align(byte_size(bin))}
        end)

      :ok = :file.pwrite(floor_fd, writes)
      {:ok, out} = :file.pread(floor_fd, 0, size)
      byte_size(out)
    end

    paths = [
      floor: floor,
      arena: fn -> call.(arena_exec) end,
      inline: fn -> call.(inline_exec) end
    ]

    budget_us = round(seconds * 1_000_000)

    samples =
      Enum.reduce(1..rounds, %{}, fn _, acc ->
        Enum.reduce(paths, acc, fn {name, fun}, acc ->
          Map.update(acc, name, block(fun, budget_us), &(&1 ++ block(fun, budget_us)))
        end)
      end)

    Map.new(samples, fn {name, times} -> {name, median(times)} end)
    |> Map.put(:moved, size * length(in_bins) + size)
  end

  # Sequential calls for at least budget_us and 3 calls; their times in us.
  defp block(fun, budget_us) do
    start = System.monotonic_time(:microsecond)
    do_block(fun, start, budget_us, [])
  end

  defp do_block(fun, start, budget_us, acc) do
    {t, _} = :timer.tc(fun)
    acc = [t | acc]

    if length(acc) >= 3 and System.monotonic_time(:microsecond) - start >= budget_us,
      do: acc,
      else: do_block(fun, start, budget_us, acc)
  end

  defp median(list) do
    sorted = Enum.sort(list)
    Enum.at(sorted, div(length(sorted), 2))
  end

  defp tensor(n, v),
    do: %{
      dtype: :DTYPE_F32,
      shape: [n],
      payload: {:data, :binary.copy(<<v::float-32-little>>, n)}
    }

  defp line(op, size, r) do
    gbps = fn us -> if us > 0, do: r.moved / us / 1000, else: 0.0 end

    "  #{pad(op, 8)} #{pad(human(size), 7)} floor #{pad(ms(r.floor), 9)} arena #{pad(ms(r.arena), 9)} " <>
      "inline #{pad(ms(r.inline), 9)} arena #{pad(fmt(gbps.(r.arena)) <> " GB/s", 11)} " <>
      "arena/floor #{pad(fmt(r.floor / r.arena), 5)} arena vs inline #{fmt(r.inline / r.arena)}x"
  end

  defp summary(results) do
    crossing =
      results
      |> Enum.group_by(fn {_op, size, _} -> size end)
      |> Enum.sort()
      |> Enum.reverse()
      |> Enum.reduce_while(nil, fn {size, rs}, acc ->
        if Enum.all?(rs, fn {_, _, r} -> r.arena < r.inline end),
          do: {:cont, size},
          else: {:halt, acc}
      end)

    targets =
      for {op, size, r} <- results, size >= 16 <<< 20 do
        ok = r.floor / r.arena >= 0.7 and r.inline / r.arena >= 5

        "  #{pad(op, 8)} #{pad(human(size), 7)} arena/floor #{fmt(r.floor / r.arena)} (>= 0.70), " <>
          "arena vs inline #{fmt(r.inline / r.arena)}x (>= 5): #{if ok, do: "met", else: "NOT met"}"
      end

    """

    crossing: the arena path is faster than inline for both ops from #{if crossing, do: human(crossing), else: "(none of the sizes)"} up
    targets at 16 MiB and 64 MiB:
    #{Enum.join(targets, "\n")}
    """
  end

  defp human(b) when b >= 1 <<< 20 and rem(b, 1 <<< 20) == 0, do: "#{div(b, 1 <<< 20)} MiB"
  defp human(b) when b >= 1024 and rem(b, 1024) == 0, do: "#{div(b, 1024)} KiB"
  defp human(b), do: "#{b} B"
  defp ms(us), do: :erlang.float_to_binary(us / 1000, decimals: 3) <> " ms"
  defp fmt(x), do: :erlang.float_to_binary(x / 1, decimals: 2)
  defp pad(x, n), do: String.pad_trailing(to_string(x), n)
end
