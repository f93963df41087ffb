defmodule PelemayBackend.Bench.EchoFloor do
  @moduledoc """
  The floor of a round trip through a port: `cat` echoing a `{:packet, 4}`
  frame, no work. The benchmarks (`mix pelemay.latency`,
  `mix pelemay.bench_nx`) price the executor against it.

  Several `cat` ports, because one is not enough: how fast a pipe round
  trip is depends on where the kernel places the program relative to the
  BEAM's scheduler thread, and the placement sticks for the life of the
  process. On the 2-vCPU virtual machine of docs/benchmarks.md a `cat`
  placed on the writer's CPU answers in 6-10 us and one on the other CPU in
  30-50 us (waking a halted vCPU); which one a port gets is chance (the
  first program spawned by a fresh VM is often the fast one). So each of
  `count` ports is measured, and the floor is reported two ways:

    * `best` - the fastest port: the strict floor, what a port program can
      cost at best on this machine. Targets are judged against it.
    * `typical` - the median port: what a port program usually costs here.
  """

  defstruct [:ports]

  @type t :: %__MODULE__{ports: [port()]}

  @doc "Opens `count` `cat` ports (open them before the programs measured against them)."
  @spec open(pos_integer()) :: t()
  def open(count \\ 4) do
    cat = System.find_executable("cat") || raise "cat not found: it is the benchmarks' floor"

    %__MODULE__{
      ports: for(_ <- 1..count, do: Port.open({:spawn_executable, cat}, [:binary, {:packet, 4}]))
    }
  end

  @doc "Closes the ports."
  @spec close(t()) :: :ok
  def close(%__MODULE__{ports: ports}), do: Enum.each(ports, &Port.close/1)

  @doc """
  One round trip of `frame` through `port`, a `{:packet, 4}` port this
  process owns (a `cat` port, or an executor's): a function to time.

  `spin` (native time units, default 0) is how long the reply is polled for
  before the caller blocks, as `PelemayBackend.AwaitSpin` does for the
  executors' callers: a floor measured with the same way of waiting as the
  path it is the floor of.
  """
  @spec round_trip(port(), iodata(), non_neg_integer()) :: (() -> :ok)
  def round_trip(port, frame, spin \\ 0) do
    check = fn -> receive(do: ({^port, {:data, _}} -> :ok), after: (0 -> :none)) end

    fn ->
      true = Port.command(port, frame)

      with :none <- PelemayBackend.AwaitSpin.poll(spin, check) do
        receive do
          {^port, {:data, _}} -> :ok
        after
          5_000 -> raise "an echo port did not answer"
        end
      end
    end
  end

  @doc """
  `%{best: x, typical: y, all: [...]}` from one statistic per port (e.g.
  each port's median time): the smallest, the median and all of them.
  """
  @spec summarize([number()]) :: %{best: number(), typical: number(), all: [number()]}
  def summarize(per_port) when per_port != [] do
    sorted = Enum.sort(per_port)
    %{best: hd(sorted), typical: Enum.at(sorted, div(length(sorted) - 1, 2)), all: per_port}
  end
end
