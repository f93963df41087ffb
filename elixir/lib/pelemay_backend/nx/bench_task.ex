defmodule Mix.Tasks.Pelemay.BenchNx do
  @shortdoc "Nx ops through PelemayBackend.Backend against their floor and Nx.BinaryBackend"
  @moduledoc """
  Runs, in one run, a set of Nx ops through `PelemayBackend.Backend` and
  through `Nx.BinaryBackend`, beside each op's *floor*: the executor's own
  kernel time for the same program (`compute_us` of its reply, a dedicated
  executor) plus the time to move the same input and output bytes across the
  process boundary (half a `cat` echo round trip of the input bytes plus half
  of the output bytes, measured here too, through each of four `cat` ports:
  the fastest gives the floor, the median a typical floor, see
  `PelemayBackend.Bench.EchoFloor`). Each echo is waited for both as the
  backend's calls wait (polling first, `PelemayBackend.AwaitSpin`) and with
  a blocking `receive`; the faster counts.

      PELEMAY_NX=/path/to/nx mix pelemay.bench_nx [--reps 20]

  Every time is a median in a steady state: after 50 ms of warm-up calls,
  over at least `--reps` calls and 200 ms (Nx.BinaryBackend: `--binary-reps`
  calls after one untimed call, default 1: it is context).

  Prints per op: median time through Nx on this backend, the floor, the
  ratio (target: at most 1.5), the ratio against the typical floor, and
  Nx.BinaryBackend's median (context: pure Elixir, far behind). Only
  compiled with Nx.
  """
  use Mix.Task

  alias PelemayBackend.{Backend, Executor, Program}
  alias PelemayBackend.Bench.EchoFloor

  @impl Mix.Task
  def run(argv) do
    {opts, _, _} = OptionParser.parse(argv, strict: [reps: :integer, binary_reps: :integer])
    reps = Keyword.get(opts, :reps, 20)
    binary_reps = Keyword.get(opts, :binary_reps, 1)
    Mix.Task.run("app.start")

    floor = EchoFloor.open(4)
    {:ok, executor} = Executor.start_link()

    cases = [
      {"add f32 1M", fn [a, b] -> Nx.add(a, b) end,
       [{:f, 32, {1_000_000}}, {:f, 32, {1_000_000}}],
       fn p, [a, b] -> Program.op(p, "add", [a, b], {:f, 32}, [1_000_000]) end},
      {"exp f32 1M", fn [a] -> Nx.exp(a) end, [{:f, 32, {1_000_000}}],
       fn p, [a] -> Program.op(p, "exp", [a], {:f, 32}, [1_000_000]) end},
      {"sum f32 1M", fn [a] -> Nx.sum(a) end, [{:f, 32, {1_000_000}}],
       fn p, [a] -> Program.op(p, "sum", [a], {:f, 32}, [], axes: [0]) end},
      {"dot f32 256x256", fn [a, b] -> Nx.dot(a, b) end,
       [{:f, 32, {256, 256}}, {:f, 32, {256, 256}}],
       fn p, [a, b] -> dot(p, a, b, [256, 256]) end},
      {"dot f32 64x784 . 784x128", fn [a, b] -> Nx.dot(a, b) end,
       [{:f, 32, {64, 784}}, {:f, 32, {784, 128}}], fn p, [a, b] -> dot(p, a, b, [64, 128]) end},
      {"argmax f32 1000x1000 axis 1", fn [a] -> Nx.argmax(a, axis: 1) end,
       [{:f, 32, {1000, 1000}}],
       fn p, [a] -> Program.op(p, "argmax", [a], {:s, 64}, [1000], axis: 1) end},
      {"add f32 4", fn [a, b] -> Nx.add(a, b) end, [{:f, 32, {4}}, {:f, 32, {4}}],
       fn p, [a, b] -> Program.op(p, "add", [a, b], {:f, 32}, [4]) end}
    ]

    Mix.shell().info(
      "op                              nx (us)  floor (us)  ratio   kernel  transfer  typical ratio   BinaryBackend (us)  BB/nx"
    )

    for {name, nx_fun, specs, build} <- cases do
      inputs = Enum.map(specs, fn {k, s, shape} -> random({k, s}, shape) end)
      on_backend = Enum.map(inputs, &Nx.backend_copy(&1, Backend))
      out = nx_fun.(on_backend)
      out_bytes = Nx.byte_size(out)
      in_bytes = Enum.sum(Enum.map(inputs, &Nx.byte_size/1))

      nx_us = median(reps, fn -> nx_fun.(on_backend) end)

      {p, values} =
        Enum.reduce(inputs, {Program.new(), []}, fn t, {p, vs} ->
          {p, v} = Program.input(p, t.type, Tuple.to_list(t.shape))
          {p, vs ++ [v]}
        end)

      {p, result} = build.(p, values)
      program = Program.to_proto(p, [result])

      tensors =
        Enum.map(inputs, &Program.tensor(&1.type, Tuple.to_list(&1.shape), Nx.to_binary(&1)))

      kernel_us =
        median_value(reps, fn ->
          {:ok, %{compute_us: us}} = Executor.run(executor, program, tensors)
          us
        end)

      transfer =
        floor.ports
        |> Enum.map(fn cat ->
          (echo_us(cat, in_bytes, reps) + echo_us(cat, out_bytes, reps)) / 2
        end)
        |> EchoFloor.summarize()

      transfer_us = transfer.best
      floor_us = kernel_us + transfer_us
      typical_floor_us = kernel_us + transfer.typical
      binary = Enum.map(inputs, &Nx.backend_copy(&1, Nx.BinaryBackend))
      bb_us = cold_median(binary_reps, fn -> nx_fun.(binary) end)

      Mix.shell().info(
        "#{String.pad_trailing(name, 30)} #{f(nx_us, 9)} #{f(floor_us, 11)} #{f(nx_us / floor_us, 6)}x #{f(kernel_us, 8)} #{f(transfer_us, 9)} #{f(nx_us / typical_floor_us, 13)}x #{f(bb_us, 20)} #{f(bb_us / nx_us, 6)}x"
      )
    end

    EchoFloor.close(floor)
  end

  defp dot(p, a, b, dims),
    do:
      Program.op(p, "dot", [a, b], {:f, 32}, dims,
        lhs_contract: [1],
        rhs_contract: [0],
        lhs_batch: [],
        rhs_batch: []
      )

  defp random(type, shape) do
    n = Tuple.product(shape)

    Nx.iota({n}, type: type, backend: Nx.BinaryBackend)
    |> Nx.multiply(0.618)
    |> Nx.sin()
    |> Nx.reshape(shape)
  end

  # The echo waited for as the backend's calls wait (PelemayBackend.AwaitSpin:
  # polling first) and with a blocking receive: the faster of the two.
  defp echo_us(cat, bytes, reps) do
    frame = :binary.copy(<<0>>, max(bytes, 1))
    spin = PelemayBackend.AwaitSpin.native([])

    min(
      median(reps, EchoFloor.round_trip(cat, frame, spin)),
      median(reps, EchoFloor.round_trip(cat, frame))
    )
  end

  # Nx.BinaryBackend takes seconds for the big ops: `reps` timed calls.
  defp cold_median(reps, fun) do
    fun.()
    values = Enum.sort(for _ <- 1..reps, do: elem(:timer.tc(fun), 0))
    Enum.at(values, div(reps, 2))
  end

  # The median time of `fun` in us (see median_value/2).
  defp median(reps, fun) do
    median_value(reps, fn ->
      t0 = System.monotonic_time(:nanosecond)
      fun.()
      (System.monotonic_time(:nanosecond) - t0) / 1000
    end)
  end

  # The median of what `fun` returns, in a steady state: `fun` runs for
  # @warm_up_ms first, then at least `reps` times and for at least
  # @sample_ms. A pipe round trip is slower for its first few hundred calls
  # on a virtual machine (the kernel has not yet placed the two processes
  # well), so a small op and its floor are both measured after that, never
  # from a handful of calls.
  @warm_up_ms 50
  @sample_ms 200
  defp median_value(reps, fun) do
    warm_until = System.monotonic_time(:millisecond) + @warm_up_ms
    warm_up(fun, warm_until)
    sample_until = System.monotonic_time(:millisecond) + @sample_ms
    values = Enum.sort(sample(fun, reps, sample_until, []))
    Enum.at(values, div(length(values), 2))
  end

  defp warm_up(fun, until) do
    fun.()
    if System.monotonic_time(:millisecond) < until, do: warm_up(fun, until)
  end

  defp sample(fun, reps, until, acc) do
    acc = [fun.() | acc]

    if (reps > 1 or System.monotonic_time(:millisecond) < until) and length(acc) < 100_000,
      do: sample(fun, reps - 1, until, acc),
      else: acc
  end

  defp f(x, width),
    do: (x * 1.0) |> :erlang.float_to_binary(decimals: 1) |> String.pad_leading(width)
end
