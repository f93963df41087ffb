defmodule Mix.Tasks.Pelemay.Latency do
  @shortdoc "Round-trip latency of a one-element op through the pool, beside an echo-port floor"
  @moduledoc """
  Measures the round trip of a one-element `add` through the executor pool
  (`PelemayBackend.run/3`: encode, pick an executor, port write, validate,
  run, reply, decode) and, in the same run, the floor: the same request
  frame sent through a `{:packet, 4}` port to `cat`, which echoes it back
  unchanged (one port write, one read, no work).

      mix pelemay.latency [--calls 5000] [--pool-size 1]

  Prints p50 and p99 of both and the ratios against the targets of the port
  layer (p50 within 1.5x of the floor, p99 within 3x). Calls are sequential
  from one process, so this is latency, not throughput.
  """
  use Mix.Task

  alias PelemayBackend.Pool

  @switches [calls: :integer, pool_size: :integer]

  @impl Mix.Task
  def run(argv) do
    {opts, _, invalid} = OptionParser.parse(argv, strict: @switches)
    if invalid != [], do: Mix.raise("invalid options: #{inspect(invalid)}")
    calls = Keyword.get(opts, :calls, 5000)
    size = Keyword.get(opts, :pool_size, 1)
    Mix.Task.run("app.config")
    Application.put_env(:pelemay_backend, :start_pool, false)
    {:ok, _} = Application.ensure_all_started(:pelemay_backend)

    pool = :pelemay_latency_pool
    {:ok, _} = Pool.start_link(name: pool, size: size, threads: 1)
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

    cat = System.find_executable("cat") || Mix.raise("cat not found")
    port = Port.open({:spawn_executable, cat}, [:binary, {:packet, 4}])

    warmup = div(calls, 10)
    # Interleave the two so both see the same machine state.
    {pool_us, echo_us} =
      Enum.reduce(1..(calls + warmup), {[], []}, fn i, {ps, es} ->
        t0 = System.monotonic_time(:nanosecond)

        {:ok, [%{payload: {:data, <<2.0::float-32-little>>}}]} =
          PelemayBackend.run(program, [one, one], pool: pool)

        t1 = System.monotonic_time(:nanosecond)
        true = Port.command(port, frame)

        receive do
          {^port, {:data, ^frame}} -> :ok
        after
          5_000 -> Mix.raise("echo port did not answer")
        end

        t2 = System.monotonic_time(:nanosecond)
        if i > warmup, do: {[(t1 - t0) / 1000 | ps], [(t2 - t1) / 1000 | es]}, else: {ps, es}
      end)

    Port.close(port)
    {p50, p99} = percentiles(pool_us)
    {e50, e99} = percentiles(echo_us)

    Mix.shell().info("""
    round trip of a one-element f32 add, #{calls} sequential calls (after #{warmup} warm-up), pool of #{size}
                           p50 (us)   p99 (us)
      pool (executor)   #{fmt(p50)} #{fmt(p99)}
      echo port (cat)   #{fmt(e50)} #{fmt(e99)}
      ratio             #{fmt(p50 / e50)}x #{fmt(p99 / e99)}x   targets: p50 <= 1.5x #{verdict(p50 / e50 <= 1.5)}, p99 <= 3x #{verdict(p99 / e99 <= 3.0)}
    """)
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
