defmodule Mix.Tasks.Pelemay.Chaos do
  @shortdoc "Runs computations through a pool while injecting faults and killing executors"
  @moduledoc """
  Chaos run of the port layer (see `PelemayBackend.Chaos`):

      mix pelemay.chaos --requests 2000 --fault-rate 0.05 --seed 1 [--pool-size 4]
                        [--concurrency 8] [--timeout 3000] [--no-killer] [--shared-mem]

  `--shared-mem` sends every tensor through the executors' shared-memory
  arenas and fails the run if any arena file is left once the pool stopped.

  Prints a report and exits with status 1 when the acceptance criteria are
  not met (a wrong result, an error on a request that was not poisoned, a
  request resolved past its deadline, or a pool that did not survive).
  """
  use Mix.Task

  @switches [
    requests: :integer,
    fault_rate: :float,
    seed: :integer,
    pool_size: :integer,
    concurrency: :integer,
    timeout: :integer,
    killer: :boolean,
    shared_mem: :boolean
  ]

  @impl Mix.Task
  def run(argv) do
    {opts, _, invalid} = OptionParser.parse(argv, strict: @switches)
    if invalid != [], do: Mix.raise("invalid options: #{inspect(invalid)}")
    Mix.Task.run("app.config")
    Application.put_env(:pelemay_backend, :start_pool, false)
    {:ok, _} = Application.ensure_all_started(:pelemay_backend)

    opts =
      case Keyword.pop(opts, :killer, true) do
        {false, opts} -> Keyword.put(opts, :kill_interval, nil)
        {true, opts} -> opts
      end

    stats = PelemayBackend.Chaos.run(opts)
    Mix.shell().info(PelemayBackend.Chaos.report(stats))
    unless PelemayBackend.Chaos.acceptable?(stats), do: exit({:shutdown, 1})
  end
end
